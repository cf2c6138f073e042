"""Where training and evaluation tasks come from: a taurl task set (a domain's split) or SkyRL parquet rows
(``taurl data convert``), each row with the system prompt it carries; and which of them are left out of
training because a trivial policy already earns their reward."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taurl.core.messages import Message
from taurl.core.types import RewardBasis, Task
from taurl.domains import DataError
from taurl.episodes.selection import select_tasks


@dataclass(frozen=True)
class TrainingTask:
    task: Task
    system: Message | None = None  # a SkyRL row's system prompt; None: the policy-and-tools prompt taurl writes

    def to_record(self) -> dict[str, Any]:
        return {"domain": self.task.domain, "task_id": self.task.id}


def task_set(
    domain: str, split: str, data_dir: Path | str | None = None, task_ids: list[str] | None = None
) -> list[TrainingTask]:
    return [TrainingTask(task) for task in select_tasks(domain, split, data_dir, task_ids)]


def parquet_tasks(paths: Sequence[Path | str]) -> list[TrainingTask]:
    """The tasks of SkyRL parquet files, in file and row order, each with its row's system prompt."""
    import pyarrow.parquet as pq

    from taurl.skyrl.rows import task_from_extras

    found = []
    for path in paths:
        if not Path(path).exists():
            raise DataError(f"dataset {path} does not exist: make one with `taurl data convert --out DIR`")
        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} cannot be read as parquet: {exc}") from exc
        for n, row in enumerate(rows):
            try:
                task = task_from_extras(row)
            except (ValueError, KeyError, json.JSONDecodeError) as exc:
                raise DataError(f"{path} row {n}: {exc}") from exc
            prompt = row.get("prompt") or []
            system = next(({"role": "system", "content": m["content"]} for m in prompt if m["role"] == "system"), None)
            found.append(TrainingTask(task, system))
    keys = [(t.task.domain, t.task.id) for t in found]
    if len(set(keys)) != len(keys):
        twice = next(k for k in keys if keys.count(k) > 1)
        raise DataError(f"task {twice[0]}/{twice[1]} is in the training rows more than once")
    return found


def trivial_tasks(
    tasks: Sequence[TrainingTask], data_dirs: Mapping[str, str | Path], basis: RewardBasis | None
) -> list[tuple[TrainingTask, tuple[str, ...]]]:
    """The tasks whose reward a do-nothing, refuse or transfer-at-once policy already earns in full, with
    which of those earn it: RL on them teaches doing nothing (the reward audit's verdict, offline)."""
    from taurl.checks.audit import trivial_passes

    verdicts = trivial_passes([t.task for t in tasks], data_dirs, basis)
    return [(t, passes) for t, passes in zip(tasks, verdicts, strict=True) if passes]
