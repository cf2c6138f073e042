"""τ-bench's results files: ``[{task_id, trial, reward, info: {task, ...}, traj: [chat messages]}]``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taurl.core.messages import action_of
from taurl.core.types import Action, RewardBasis, Task


@dataclass(frozen=True)
class TauBenchRun:
    """One τ-bench episode as it was recorded."""

    task: Task
    trial: int
    reward: float
    messages: list[dict[str, Any]]

    @property
    def executed_actions(self) -> list[Action]:
        """What τ-bench executed: each assistant message's first tool call, or its text as a reply."""
        return [action_of(m) for m in self.messages if m.get("role") == "assistant"]

    @property
    def user_messages(self) -> list[str]:
        return [m.get("content") or "" for m in self.messages if m.get("role") == "user"]


def load_results(path: Path | str, domain: str, split: str = "test") -> list[TauBenchRun]:
    """Runs of a results file; the task is taken from the run itself (``info.task``), since published
    runs were made with older task texts than τ-bench's current ones."""
    rows = json.loads(Path(path).read_text())
    runs = []
    for row in rows:
        spec = row["info"]["task"]
        task = Task(
            id=str(row["task_id"]),
            domain=domain,
            split=split,
            user_id=spec.get("user_id"),
            instruction=spec["instruction"],
            actions=tuple(Action.from_dict(a) for a in spec.get("actions", [])),
            outputs=tuple(spec.get("outputs", [])),
            reward_basis=RewardBasis.DB_OUTPUTS,
        )
        runs.append(TauBenchRun(task, int(row.get("trial", 0)), float(row["reward"]), list(row["traj"])))
    return runs
