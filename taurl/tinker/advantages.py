"""Group-relative advantages: each task's G samples are scored against each other.

Estimators, over a group's rewards ``r_1..r_G`` (its mean ``m``):

- ``grpo``: ``(r_i - m) / (s + 1e-6)``, ``s`` the sample standard deviation (DeepSeekMath's GRPO, as
  SkyRL computes it);
- ``dr_grpo``: ``r_i - m`` (Dr. GRPO: no division by the standard deviation, which overweights groups
  that nearly agree);
- ``rloo``: ``r_i`` minus the mean of the other samples, ``G / (G - 1) * (r_i - m)`` (leave-one-out).

A group whose rewards are all equal (all solved, all failed) says nothing about which sample was
better: its advantages are exactly 0, so it contributes no gradient, and it is counted as a group with
no signal. Samples that did not finish (an errored episode: the user simulator failed for good) are
left out of their group (advantage None): their reward 0 says nothing about the policy. A group with
fewer than two finished samples has no signal either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

STD_EPSILON = 1e-6
EQUAL = 1e-9  # rewards closer than this are one reward


class Estimator(StrEnum):
    GRPO = "grpo"
    DR_GRPO = "dr_grpo"
    RLOO = "rloo"


@dataclass(frozen=True)
class GroupAdvantages:
    advantages: list[float | None]  # per sample, None for a sample left out (it did not finish)
    signal: bool  # False: every finished sample got advantage 0 (equal rewards, or fewer than two finished)


def group_advantages(rewards: Sequence[float | None], estimator: Estimator | str) -> GroupAdvantages:
    """Advantages of one group; ``rewards[i]`` None marks a sample that did not finish."""
    estimator = Estimator(estimator)
    kept = [r for r in rewards if r is not None]
    if len(kept) < 2 or max(kept) - min(kept) <= EQUAL:
        return GroupAdvantages([None if r is None else 0.0 for r in rewards], False)
    n = len(kept)
    mean = math.fsum(kept) / n
    if estimator is Estimator.GRPO:
        std = math.sqrt(math.fsum((r - mean) ** 2 for r in kept) / (n - 1))
        scale = 1.0 / (std + STD_EPSILON)
    elif estimator is Estimator.DR_GRPO:
        scale = 1.0
    else:
        scale = n / (n - 1)
    return GroupAdvantages([None if r is None else (r - mean) * scale for r in rewards], True)


@dataclass(frozen=True)
class Summary:
    """mean, population standard deviation, min and max of some numbers (None when there are none)."""

    mean: float | None
    std: float | None
    min: float | None
    max: float | None

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            return cls(None, None, None, None)
        mean = math.fsum(values) / len(values)
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
        return cls(mean, std, min(values), max(values))
