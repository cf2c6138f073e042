"""The report's statistics: pass^k over tasks, bootstrap intervals over tasks and a paired comparison of two runs.

Trials of one task are not independent (same instruction, same user), so every bootstrap resamples
whole tasks. The generator is seeded: the same recording gives the same intervals on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

from taurl.episodes.rollout import pass_hat_k

RESAMPLES = 2000
SEED = 0
LEVEL = 0.95
CHUNK = 250  # resamples drawn at a time: memory stays O(CHUNK × tasks)


@dataclass(frozen=True)
class TaskTrials:
    n: int  # trials of the task
    c: int  # successful trials


def pass_hat(tasks: Sequence[TaskTrials], k: int) -> float | None:
    """pass^k over tasks that may have different trial counts: the mean of each task's own
    C(c, k) / C(n, k), which is τ-bench's formula when every task has the same n."""
    if not tasks or k > min(t.n for t in tasks):
        return None
    return sum(pass_hat_k([t.c], t.n, k) for t in tasks) / len(tasks)


def task_trials(value: list[dict[str, int]]) -> list[TaskTrials]:
    return [TaskTrials(int(t["n"]), int(t["c"])) for t in value]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def _resampled_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean of ``values`` over RESAMPLES bootstrap draws of the tasks."""
    rng = np.random.default_rng(SEED)
    means = []
    for start in range(0, RESAMPLES, CHUNK):
        idx = rng.integers(0, len(values), size=(min(CHUNK, RESAMPLES - start), len(values)))
        means.append((values[idx] * weights[idx]).sum(axis=1) / weights[idx].sum(axis=1))
    return np.concatenate(means)


def _interval(draws: np.ndarray) -> Interval:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(float(low), float(high))


def mean_reward_interval(reward_sums: Sequence[float], trials: Sequence[int]) -> Interval | None:
    """95% interval of the mean reward per episode, tasks resampled (each with all its trials)."""
    if not trials:
        return None
    n = np.asarray(trials, dtype=float)
    return _interval(_resampled_means(np.asarray(reward_sums, dtype=float) / n, n))


def pass_hat_interval(successes: Sequence[int], trials: Sequence[int], k: int) -> Interval | None:
    """95% interval of pass^k (each task's C(c, k) / C(n, k), averaged over resampled tasks)."""
    if not trials or k > min(trials):
        return None
    per_task = np.asarray([comb(c, k) / comb(n, k) for c, n in zip(successes, trials, strict=True)])
    return _interval(_resampled_means(per_task, np.ones(len(per_task))))


@dataclass(frozen=True)
class Paired:
    """Two runs on the tasks they share: per-task mean reward B − A."""

    tasks: int
    wins: int  # tasks where B scored higher
    losses: int
    ties: int
    mean_delta: float
    interval: Interval
    sign_test_p: float  # two-sided exact sign test over the tasks that changed


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial test of wins against losses (ties left out), p = 1 when none changed."""
    n = wins + losses
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(deltas: Sequence[float]) -> Paired | None:
    if not deltas:
        return None
    d = np.asarray(deltas, dtype=float)
    wins, losses = int((d > 1e-9).sum()), int((d < -1e-9).sum())
    return Paired(
        tasks=len(d),
        wins=wins,
        losses=losses,
        ties=len(d) - wins - losses,
        mean_delta=float(d.mean()),
        interval=_interval(_resampled_means(d, np.ones(len(d)))),
        sign_test_p=sign_test(wins, losses),
    )
