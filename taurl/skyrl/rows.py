"""Reading a SkyRL dataset row (see :mod:`taurl.skyrl.dataset`) back into taurl's task: what the
``tau_bench`` env, the dry run, the reward audit and the Tinker trainer share. The row's fields map onto
:meth:`Task.from_dict`'s (the task's own serialised form). Imports no SkyRL package."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from taurl.core.types import Task


def plain(value: Any) -> Any:
    """OmegaConf containers (skyrl-train 0.3.1's config) and dataclasses (SkyRL 0.4.0's typed config,
    taurl.skyrl.config04) to plain Python, without importing omegaconf when it is not in use."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if hasattr(value, "items") and not isinstance(value, dict):
        try:
            from omegaconf import OmegaConf

            return OmegaConf.to_container(value, resolve=True)
        except ImportError:
            return dict(value)
    return value


def task_from_extras(extras: Mapping[str, Any]) -> Task:
    """The task a dataset row (see :mod:`taurl.skyrl.dataset`) describes."""
    extras = plain(extras)
    info = plain(extras.get("extra_info") or {})
    spec = plain(extras.get("reward_spec") or {})
    if not info.get("domain") or "ground_truth" not in spec:
        raise ValueError(
            "a tau_bench row needs extra_info.domain and reward_spec.ground_truth (make it with `taurl data convert`)"
        )
    truth = spec["ground_truth"]
    truth = json.loads(truth) if isinstance(truth, str) else truth
    return Task.from_dict(
        {
            "id": info.get("task_id"),
            "domain": info["domain"],
            "split": info.get("split", "train"),
            "user_id": info.get("user_id"),
            "instruction": info["instruction"],
            "actions": truth.get("actions", []),
            "outputs": truth.get("outputs", []),
            "reward_basis": info.get("basis") or "auto",
            "tool_set": info.get("tool_set") or "default",
            "initial_state": truth.get("initial_state"),
            # rows converted before ``metadata`` was carried kept a τ² task's form at the top level
            "metadata": truth.get("metadata") or ({"tau2_task": truth["tau2_task"]} if "tau2_task" in truth else {}),
        }
    )
