"""The SkyRL env's settings: its env_config (a SkyRL config section: 0.3.1's DictConfig, 0.4.0's dataclass, or
a dict) over :data:`DEFAULTS`, its turn limit, and the run config taurl builds its user from. Imports no
SkyRL package: the generator harness asks the env's own user for each task's opening with these.

env_config keys: ``user_strategy``, ``user_model``, ``user_base_url``, ``cache_mode``, ``cache_dir``,
``recording_dir``, ``reward_basis``, ``max_turns`` (caps the generator's ``max_turns``: the smaller
wins), ``data_dirs`` (domain -> directory), plus ``run_id``, ``independent_user_samples``, ``pick``,
``user_max_cost_usd``, ``spend_ledger`` (``"ray"`` makes that budget one for the whole Ray run instead
of one per worker process) and ``user_retry`` (``attempts``, ``initial_delay``, ``max_delay``,
``timeout`` of the user's model calls). With none given the env runs offline: scripted user, built-in
databases, no recording.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from taurl.core.env import DEFAULT_MAX_STEPS
from taurl.core.types import RewardBasis
from taurl.episodes.config import DEFAULT_CACHE_DIR, Endpoint, RunConfig
from taurl.llm.cache import CacheMode
from taurl.llm.client import ClientLimits, RetryPolicy
from taurl.skyrl.rows import plain

POLICY_AGENT = "skyrl-policy"  # the recorded agent: replay re-parses its text
DEFAULTS: dict[str, Any] = {
    "user_strategy": "scripted",
    "user_model": "gpt-4o",
    "user_base_url": None,
    "cache_mode": "record",
    "cache_dir": str(DEFAULT_CACHE_DIR),
    "recording_dir": None,
    "reward_basis": None,
    "max_turns": None,  # None: the generator's max_turns alone
    "data_dirs": {},
    "run_id": "skyrl",
    "independent_user_samples": False,
    "pick": "first",
    "user_max_cost_usd": None,
    "spend_ledger": None,  # "ray": the user budget is shared by every Ray worker of the run
    "user_retry": None,  # None: taurl's default retry policy
}


def settings(env_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """env_config (a DictConfig or dict) over the defaults; unknown keys are an error, not ignored."""
    given = dict(plain(env_config or {}))
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown tau_bench env_config key(s) {unknown}; known: {', '.join(DEFAULTS)}")
    return {**DEFAULTS, **given}


def max_turns(generator: Any, env: Any) -> int:
    """SkyRL's generator passes its ``max_turns`` in the extras; env_config's caps it (the smaller wins)."""
    given = [int(v) for v in (generator, env) if v]
    return min(given) if given else DEFAULT_MAX_STEPS


def run_config(options: Mapping[str, Any], domain: str, max_steps: int) -> RunConfig:
    """The env's settings as taurl's run config: the same factories build its user as ``taurl run``'s."""
    return RunConfig(
        domain=domain,
        agent=POLICY_AGENT,
        user=options["user_strategy"],
        user_endpoint=Endpoint(options["user_model"], options["user_base_url"]),
        independent_user_samples=bool(options["independent_user_samples"]),
        cache_mode=CacheMode(options["cache_mode"]),
        cache_dir=Path(options["cache_dir"]),
        basis=RewardBasis(options["reward_basis"]) if options["reward_basis"] else None,
        max_steps=max_steps,
        data_dirs=dict(options["data_dirs"] or {}),
        limits=ClientLimits(
            max_cost_usd=options["user_max_cost_usd"],
            ledger=f"ray:taurl-spend-{options['run_id']}" if options["spend_ledger"] == "ray" else None,
        ),
        retry=RetryPolicy(**options["user_retry"]) if options["user_retry"] else RetryPolicy(),
    )
