"""Which tasks each training step takes, and the seeds its samples are drawn with: both functions of the
run's seed alone, so a resumed run takes the same tasks and draws the same samples as the first one."""

from __future__ import annotations

import random
from collections.abc import Sequence

from taurl.core.hashing import canonical_json, sha256_hex
from taurl.core.types import Task


def step_tasks(tasks: Sequence[Task], step: int, batch: int, seed: int) -> list[Task]:
    """The ``batch`` tasks of ``step`` (1-based). Epoch by epoch, the tasks are shuffled by a permutation
    seeded with (seed, epoch) and taken ``batch`` at a time; the tasks left over at an epoch's end (when
    ``batch`` does not divide the set) wait for a later epoch's shuffle."""
    if not 1 <= batch <= len(tasks):
        raise ValueError(f"a step takes {batch} distinct tasks (--tasks-per-step), and the task set has {len(tasks)}")
    per_epoch = len(tasks) // batch
    epoch, position = divmod(step - 1, per_epoch)
    order = list(range(len(tasks)))
    random.Random(f"taurl-tinker:{seed}:{epoch}").shuffle(order)
    return [tasks[i] for i in order[position * batch : (position + 1) * batch]]


def sample_seed(seed: int, *where: object) -> int:
    """The sampling seed of one model call, derived from the run's seed and where the call is (phase,
    step, trajectory, turn): a 31-bit integer, as samplers take."""
    return int(sha256_hex(canonical_json([seed, *where]))[:8], 16) & 0x7FFFFFFF
