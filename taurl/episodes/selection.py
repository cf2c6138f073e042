"""Which tasks of a split a run plays: given ids, or τ-bench's ``--start-index/--end-index`` slice.

Every mistake is a :class:`DataError` that says what would have worked: the nearest task id, the
split's size and its first and last ids.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from taurl.core.types import Task
from taurl.domains import DataError
from taurl.registry import get_domain


def select_tasks(
    domain: str,
    split: str,
    data_dir: Path | str | None = None,
    task_ids: list[str] | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
) -> list[Task]:
    """The tasks of ``domain``/``split`` named by ``task_ids`` (in that order), or the split's tasks
    ``[start_index, end_index)`` (τ-bench's convention: end exclusive, default the whole split)."""
    tasks = get_domain(domain).tasks(split, data_dir)
    where = f"{domain}/{split}"
    if task_ids and (start_index is not None or end_index is not None):
        raise DataError("give task ids or --start-index/--end-index, not both")
    if task_ids:
        return by_ids(tasks, task_ids, where)
    start = 0 if start_index is None else start_index
    end = len(tasks) if end_index is None else end_index
    if not 0 <= start < len(tasks):
        raise DataError(
            f"--start-index {start} is outside {where}, whose {len(tasks)} task(s) are 0 to {len(tasks) - 1}"
        )
    if end <= start:
        raise DataError(f"--end-index {end} must be greater than --start-index {start} (the end is exclusive)")
    if end > len(tasks):
        raise DataError(f"--end-index {end} is past the end of {where}, which has {len(tasks)} task(s)")
    return tasks[start:end]


def by_ids(tasks: list[Task], task_ids: list[str], where: str) -> list[Task]:
    known = {task.id: task for task in tasks}
    unknown = [task_id for task_id in task_ids if task_id not in known]
    if not unknown:
        return [known[task_id] for task_id in task_ids]
    if not tasks:
        raise DataError(f"{where} has no tasks")
    hints = []
    for task_id in unknown:
        close = difflib.get_close_matches(task_id, list(known), n=1)
        hints.append(f"{task_id!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise DataError(
        f"no task {', '.join(hints)} in {where}: its {len(tasks)} task ids run from {tasks[0].id!r} to {tasks[-1].id!r}"
    )
