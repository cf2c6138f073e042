"""A run's configuration and the factories that turn it into agents, users and model clients.

Shared by ``taurl run``, the SkyRL environment and replay, so every entry point builds the same
objects from the same settings. ``to_record()`` is what a recording keeps: never a secret.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from taurl.core.hashing import canonical_json, sha256_hex
from taurl.core.reward import RewardConfig
from taurl.core.types import RewardBasis
from taurl.llm.cache import CacheMode, ResponseCache, response_cache
from taurl.llm.client import ChatClient, ClientLimits, Endpoint, RetryPolicy
from taurl.llm.url import redact_url
from taurl.registry import get_domain

AGENTS = ("oracle", "silent", "tool-calling", "text")
USERS = ("scripted", "llm", "react", "verify", "reflection")
DEFAULT_CACHE_DIR = Path(".taurl/cache")
# Settings that say how a run runs, not what it runs: a resumed run may change them. So may where its
# models are reached (an endpoint's base URL and key variable); every other recorded setting is the run's.
HOW_IT_RUNS = ("cache_mode", "cache_dir", "limits", "retry")
ENDPOINTS = {"agent_endpoint": "agent", "user_endpoint": "user", "judge_endpoint": "judge"}
SHOWN_CHARS = 60  # of a setting's value in a message


class ConfigError(ValueError):
    pass


@dataclass
class RunConfig:
    domain: str = "airline"
    split: str = "test"
    task_ids: list[str] | None = None
    trials: int = 1
    agent: str = "oracle"
    agent_endpoint: Endpoint | None = None
    user: str = "scripted"
    user_endpoint: Endpoint = field(default_factory=lambda: Endpoint("gpt-4o"))
    independent_user_samples: bool = False  # user sample index = trial (else one reply per prefix)
    cache_mode: CacheMode = CacheMode.RECORD
    cache_dir: Path = DEFAULT_CACHE_DIR
    seed: int | None = 0
    basis: RewardBasis | None = None
    zero_on_max_steps: bool = False
    max_steps: int = 30
    data_dirs: dict[str, str] = field(default_factory=dict)
    limits: ClientLimits = field(default_factory=ClientLimits)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    judge_endpoint: Endpoint | None = None  # the judge reward component's model (namespace "judge")
    judge_weight: float = 0.0

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> RunConfig:
        """The inverse of :meth:`to_record` (unknown keys from newer versions are ignored)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        data = {k: v for k, v in record.items() if k in fields}
        for key in ("agent_endpoint", "user_endpoint", "judge_endpoint"):
            if data.get(key):
                data[key] = Endpoint(**data[key])
        if "cache_mode" in data:
            data["cache_mode"] = CacheMode(data["cache_mode"])
        if "cache_dir" in data:
            data["cache_dir"] = Path(data["cache_dir"])
        if data.get("basis"):
            data["basis"] = RewardBasis(data["basis"])
        if "limits" in data:
            data["limits"] = ClientLimits(**data["limits"])
        if "retry" in data:
            data["retry"] = RetryPolicy(**data["retry"])
        return cls(**data)

    def validate(self) -> None:
        if self.agent not in AGENTS:
            raise ConfigError(f"unknown agent {self.agent!r}; choose one of {', '.join(AGENTS)}")
        if self.user not in USERS:
            raise ConfigError(f"unknown user strategy {self.user!r}; choose one of {', '.join(USERS)}")
        if self.agent in ("tool-calling", "text") and self.agent_endpoint is None:
            raise ConfigError(
                f"the {self.agent} agent needs a model: pass --agent-model (and --agent-base-url for a local server)"
            )
        if not 0.0 <= self.judge_weight <= 1.0:
            raise ConfigError(f"--judge-weight is a share of the reward, between 0 and 1; got {self.judge_weight}")
        if self.judge_endpoint is None and (
            self.judge_weight > 0 or (self.basis is not None and self.basis.uses_judge)
        ):
            raise ConfigError("the judge reward component needs a model: pass --judge-model (and --judge-base-url)")

    @property
    def reward(self) -> RewardConfig:
        return self.reward_config()

    def reward_config(self, cache: ResponseCache | None = None) -> RewardConfig:
        """The reward config, its judge a client of this run's (or, given, ``cache``'s) cache."""
        judge = chat_client(self.judge_endpoint, self, cache) if self.judge_endpoint is not None else None
        return RewardConfig(
            basis=self.basis, zero_on_max_steps=self.zero_on_max_steps, judge_weight=self.judge_weight, judge=judge
        )

    def to_record(self) -> dict[str, Any]:
        """The configuration as recorded: plain JSON, no secrets (keys live only in the environment)."""
        data = asdict(self)
        for key in ("agent_endpoint", "user_endpoint", "judge_endpoint"):
            if data[key]:
                data[key]["base_url"] = redact_url(data[key]["base_url"])
        if self.judge_endpoint is None and not self.judge_weight:
            del data["judge_endpoint"], data["judge_weight"]  # records (and default run ids) without a judge as before
        data["cache_dir"] = str(self.cache_dir)
        data["cache_mode"] = str(self.cache_mode)
        data["basis"] = str(self.basis) if self.basis else None
        return data

    def models_called(self) -> list[tuple[str, Endpoint]]:
        """The models this run calls, by role: a model-backed agent's, a user's that is not scripted, the judge's."""
        called = []
        if self.agent in ("tool-calling", "text") and self.agent_endpoint is not None:
            called.append(("agent", self.agent_endpoint))
        if self.user != "scripted":
            called.append(("user", self.user_endpoint))
        if self.judge_endpoint is not None:
            called.append(("judge", self.judge_endpoint))
        return called

    def identity(self) -> dict[str, Any]:
        """The settings that make a run this run: the record without :data:`HOW_IT_RUNS`, each model as
        its name and temperature (``agent_model``, ...), and a model only where it is called."""
        record = self.to_record()
        for name in HOW_IT_RUNS:
            record.pop(name, None)
        called = {
            "agent": self.agent not in ("oracle", "silent"),
            "user": self.user != "scripted",
            "judge": self.judge_endpoint is not None,
        }
        for key, role in ENDPOINTS.items():
            endpoint = record.pop(key, None)
            if endpoint and called[role]:
                record[f"{role}_model"] = endpoint["model"]
                record[f"{role}_temperature"] = endpoint["temperature"]
        return record

    def differences(self, record: dict[str, Any]) -> list[str]:
        """Where a run recorded as ``record`` (a :meth:`to_record`) is another run than this one:
        ``name: recorded X, now Y`` for each differing setting of :meth:`identity`."""
        then, now = RunConfig.from_record(record).identity(), self.identity()

        def shown(value: Any) -> str:
            text = canonical_json(value) if isinstance(value, (dict, list)) else repr(value)
            return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"

        return [
            f"{name}: recorded {shown(then.get(name))}, now {shown(now.get(name))}"
            for name in sorted(then.keys() | now.keys())
            if then.get(name) != now.get(name)
        ]

    def default_run_id(self) -> str:
        """Stable for the same settings, so ``--resume`` finds the run again."""
        record = self.to_record()
        for volatile in ("cache_mode", "cache_dir", "limits", "retry", "trials", "task_ids"):
            record.pop(volatile)
        return f"{self.domain}-{self.agent}-{self.user}-{sha256_hex(canonical_json(record))[:8]}"


_CLIENTS: dict[tuple, ChatClient] = {}
_FACTORY_LOCK = threading.Lock()


def request_params(endpoint: Endpoint, config: RunConfig) -> dict[str, Any]:
    """The sampling parameters every request to ``endpoint`` carries (they are part of the request key)."""
    params: dict[str, Any] = {}
    if endpoint.temperature is not None:
        params["temperature"] = endpoint.temperature
    if config.seed is not None:
        params["seed"] = config.seed
    return params


def chat_client(endpoint: Endpoint, config: RunConfig, cache: ResponseCache | None = None) -> ChatClient:
    """The (per-process shared) client for ``endpoint``; with ``cache`` given, a private client over it."""

    def make(cache: ResponseCache | None) -> ChatClient:
        params = request_params(endpoint, config)
        return ChatClient(
            endpoint.model,
            endpoint.base_url,
            endpoint.api_key_env,
            cache,
            config.cache_mode,
            config.limits,
            config.retry,
            params,
        )

    if cache is not None:
        return make(cache)
    key = (endpoint, config.cache_mode, str(config.cache_dir), config.seed, config.limits, config.retry)
    with _FACTORY_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = make(None if config.cache_mode is CacheMode.OFF else response_cache(config.cache_dir))
        return _CLIENTS[key]


def build_user(config: RunConfig, trial: int, cache: ResponseCache | None = None):
    """The simulated user of the run's strategy for ``trial``, as its domain plays it (a backend's
    domain, τ-bench's or τ²'s, by the package's own user simulator through taurl's client)."""
    domain = get_domain(config.domain)
    if config.user == "scripted":
        return domain.make_user("scripted", None)
    sample = trial if config.independent_user_samples else 0
    return domain.make_user(config.user, chat_client(config.user_endpoint, config, cache), sample)


def build_agent(config: RunConfig, trial: int):
    from taurl.agent.oracle import OracleAgent
    from taurl.agent.silent import SilentAgent

    if config.agent == "oracle":
        return OracleAgent()
    if config.agent == "silent":
        return SilentAgent()
    assert config.agent_endpoint is not None
    client = chat_client(config.agent_endpoint, config)
    if config.agent == "tool-calling":
        from taurl.agent.tool_calling import ToolCallingAgent

        return ToolCallingAgent(client, sample_index=trial)
    from taurl.agent.text import TextAgent

    return TextAgent(client, sample_index=trial)
