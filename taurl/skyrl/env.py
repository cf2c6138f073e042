"""``TauBenchEnv``: taurl's environment as a SkyRL text environment (one instance per trajectory).

A thin adapter: the dataset row (``extras``) names the task; ``init`` starts the user simulator and
returns the opening conversation; ``step(text)`` parses the policy's text, runs it through
:class:`~taurl.core.env.DomainEnv` and returns the tool result (``role: tool``) or the simulated
user's reply (``role: user``); the reward and its breakdown come once, at the end. User-simulator
calls go through taurl's ChatClient cache; finished episodes go to the recorder.

env_config keys: ``user_strategy``, ``user_model``, ``user_base_url``, ``cache_mode``, ``cache_dir``,
``recording_dir``, ``reward_basis``, ``max_turns``, ``data_dirs`` (domain -> directory), plus
``run_id``, ``independent_user_samples``, ``pick``, ``user_max_cost_usd`` and ``spend_ledger``
(``"ray"`` makes that budget one for the whole Ray run instead of one per worker process). With none given it
runs offline: scripted user, built-in databases, no recording.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput

from taurl.agent.parser import parse
from taurl.config import DEFAULT_CACHE_DIR, Endpoint, RunConfig, build_user
from taurl.core import messages as msg
from taurl.core.env import DomainEnv
from taurl.core.reward import RewardConfig
from taurl.core.types import Action, EpisodeResult, RewardBasis, RewardBreakdown, Step, Task, TerminatedBy
from taurl.domains import get_domain
from taurl.llm.cache import CacheMode
from taurl.llm.client import ClientLimits
from taurl.record.schema import episode_row
from taurl.record.writer import RecordingWriter

DEFAULTS: dict[str, Any] = {
    "user_strategy": "scripted",
    "user_model": "gpt-4o",
    "user_base_url": None,
    "cache_mode": "record",
    "cache_dir": str(DEFAULT_CACHE_DIR),
    "recording_dir": None,
    "reward_basis": None,
    "max_turns": 30,
    "data_dirs": {},
    "run_id": "skyrl",
    "independent_user_samples": False,
    "pick": "first",
    "user_max_cost_usd": None,
    "spend_ledger": None,  # "ray": the user budget is shared by every Ray worker of the run
}

_WRITERS: dict[str, RecordingWriter] = {}
_WRITERS_LOCK = threading.Lock()
_TRIALS = itertools.count()


def recording_writer(location: str) -> RecordingWriter:
    """One group-commit writer per recording per process, shared by every env of the process."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(location)
        if writer is None:
            writer = _WRITERS[location] = RecordingWriter(location, group_commit=True)
        return writer


def settings(env_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """env_config (a DictConfig or dict) over the defaults; unknown keys are an error, not ignored."""
    given = dict(_plain(env_config or {}))
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown tau_bench env_config key(s) {unknown}; known: {', '.join(DEFAULTS)}")
    return {**DEFAULTS, **given}


def _plain(value: Any) -> Any:
    """OmegaConf containers to plain Python, without importing omegaconf when it is not in use."""
    if hasattr(value, "items") and not isinstance(value, dict):
        try:
            from omegaconf import OmegaConf

            return OmegaConf.to_container(value, resolve=True)
        except ImportError:
            return dict(value)
    return value


def task_from_extras(extras: Mapping[str, Any]) -> Task:
    """The task a dataset row (see :mod:`taurl.skyrl.dataset`) describes."""
    extras = _plain(extras)
    info = _plain(extras.get("extra_info") or {})
    spec = _plain(extras.get("reward_spec") or {})
    if not info.get("domain") or "ground_truth" not in spec:
        raise ValueError(
            "a tau_bench row needs extra_info.domain and reward_spec.ground_truth (make it with `taurl data convert`)"
        )
    truth = spec["ground_truth"]
    truth = json.loads(truth) if isinstance(truth, str) else truth
    return Task(
        id=str(info.get("task_id")),
        domain=info["domain"],
        split=info.get("split", "train"),
        user_id=info.get("user_id"),
        instruction=info["instruction"],
        actions=tuple(Action.from_dict(a) for a in truth.get("actions", [])),
        outputs=tuple(truth.get("outputs", [])),
        reward_basis=RewardBasis(info.get("basis") or "auto"),
        tool_set=info.get("tool_set") or "default",
    )


class TauBenchEnv(BaseTextEnv):
    def __init__(self, env_config: Mapping[str, Any] | None = None, extras: Mapping[str, Any] | None = None):
        super().__init__()
        extras = dict(_plain(extras or {}))
        self.settings = settings(env_config)
        self.task = task_from_extras(extras)
        # SkyRL's generator sets extras["max_turns"]; it wins over the env_config default
        self.max_turns = int(extras.get("max_turns") or self.settings["max_turns"])
        self.trial = next(_TRIALS)
        self.run_config = RunConfig(
            domain=self.task.domain,
            user=self.settings["user_strategy"],
            user_endpoint=Endpoint(self.settings["user_model"], self.settings["user_base_url"]),
            independent_user_samples=bool(self.settings["independent_user_samples"]),
            cache_mode=CacheMode(self.settings["cache_mode"]),
            cache_dir=Path(self.settings["cache_dir"]),
            basis=RewardBasis(self.settings["reward_basis"]) if self.settings["reward_basis"] else None,
            data_dirs=dict(self.settings["data_dirs"] or {}),
            limits=ClientLimits(
                max_cost_usd=self.settings["user_max_cost_usd"],
                ledger=f"ray:taurl-spend-{self.settings['run_id']}" if self.settings["spend_ledger"] == "ray" else None,
            ),
        )
        self.user = build_user(self.run_config, self.trial)
        domain = get_domain(self.task.domain)
        self.env = DomainEnv(
            domain,
            self.user,
            self.run_config.data_dirs.get(self.task.domain),
            max_steps=self.max_turns,
            reward=RewardConfig(basis=self.run_config.basis),
        )
        self.messages: list[dict[str, Any]] = []
        self.trace: list[Step] = []
        self.breakdown: RewardBreakdown | None = None
        self.terminated_by: TerminatedBy | None = None

    def init(self, prompt: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        opening = self.env.reset(self.task)
        conversation = [*_plain(prompt), msg.user(opening)]
        self.messages = [dict(m) for m in conversation]
        return conversation, {"task_id": self.task.id, "domain": self.task.domain}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        parsed = parse(action, pick=self.settings["pick"])
        self.messages.append(msg.assistant_text(action))
        outcome = self.env.step(parsed.action)
        error = outcome.tool_result.error if outcome.tool_result else None
        self.trace.append(Step(parsed.action, outcome.observation, outcome.source, error))
        if parsed.action.is_respond:
            observation = msg.user(outcome.observation)
        else:
            observation = {"role": "tool", "content": outcome.observation}
        self.messages.append(observation)
        if not outcome.done:
            return BaseTextEnvStepOutput(
                observations=[observation], reward=0.0, done=False, metadata={"source": outcome.source}
            )
        self.breakdown, self.terminated_by = outcome.reward, outcome.terminated_by
        self._record()
        return BaseTextEnvStepOutput(
            observations=[],
            reward=self.breakdown.reward,
            done=True,
            metadata={"reward_breakdown": self.breakdown.to_dict(), "terminated_by": str(self.terminated_by)},
        )

    def _record(self) -> None:
        location = self.settings["recording_dir"]
        if not location:
            return
        assert self.breakdown is not None and self.terminated_by is not None
        result = EpisodeResult(
            self.task,
            self.trial,
            self.messages,
            self.trace,
            self.breakdown,
            self.terminated_by,
            list(getattr(self.user, "calls", [])),
        )
        writer = recording_writer(str(location))
        run_id = f"{self.settings['run_id']}-{socket.gethostname()}-{os.getpid()}"
        writer.add(episode_row(result, run_id, "skyrl-policy", self.settings["user_strategy"]))

    def get_metrics(self) -> dict[str, Any]:
        parse_errors = sum(1 for s in self.trace if s.action.is_parse_error)
        tool_errors = sum(1 for s in self.trace if s.error and not s.action.is_parse_error)
        metrics: dict[str, Any] = {
            "turns": self.turns,
            "tool_calls": sum(1 for s in self.trace if not s.action.is_respond and not s.action.is_parse_error),
            "parse_errors": parse_errors,
            "tool_errors": tool_errors,
            "user_cost_usd": sum(c.cost_usd for c in getattr(self.user, "calls", [])),
        }
        if self.breakdown is not None:
            b = self.breakdown
            metrics.update(
                reward=b.reward,
                db_match=float(b.db_match),
                outputs_score=b.outputs_score,
                actions_score=b.actions_score,
                **{f"ended_{str(self.terminated_by)}": 1.0},
            )
        return metrics

    def close(self) -> None:
        location = self.settings["recording_dir"]
        if location:
            recording_writer(str(location)).flush()
