"""The record of training: one ``train_steps`` row per step, beside the step's trajectories (episodes).

A step's row is written last, once its update is applied, its checkpoint saved and its evaluation done:
a row means the step is complete, and its ``checkpoint`` is where a resumed run restarts from. A step
done again (a resume from an earlier checkpoint) writes its row again as the next ``attempt``; the
``train_steps`` view shows the latest.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from taurl.record.location import Location
from taurl.record.schema import SCHEMA_VERSION, TRAIN_PHASES, TRAIN_STEP_PREFIX, TRAIN_STEP_SCHEMA
from taurl.record.segments import write_segment
from taurl.record.store import RecordingStore
from taurl.record.writer import RecordingWriteError
from taurl.tinker.advantages import Summary


@dataclass
class StepRecord:
    run_id: str
    step: int
    attempt: int
    tasks: int
    trajectories: int
    errored: int  # trajectories left out of their group: they did not finish
    groups: int
    groups_zero_signal: int  # groups whose rewards were all equal: advantage 0, no gradient
    rewards: list[float]
    passed: int
    advantages: list[float]
    learning_rate: float
    tokens: int
    agent_tokens: int
    cut_turns: int
    loss: float | None = None
    grad_norm: float | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None
    eval_run_id: str | None = None
    eval_trials: int | None = None
    eval_reward_mean: float | None = None
    eval_pass_1: float | None = None
    eval_pass_k: float | None = None
    update_check: list[dict[str, Any]] | None = None  # per trajectory: advantage, logprob before and after

    def row(self) -> dict[str, Any]:
        rewards, advantages = Summary.of(self.rewards), Summary.of(self.advantages)
        return {
            "run_id": self.run_id,
            "step": self.step,
            "attempt": self.attempt,
            "schema_version": SCHEMA_VERSION,
            "sampler_version": self.step - 1,
            "tasks": self.tasks,
            "trajectories": self.trajectories,
            "errored": self.errored,
            "groups": self.groups,
            "groups_zero_signal": self.groups_zero_signal,
            "reward_mean": rewards.mean,
            "reward_std": rewards.std,
            "pass_rate": self.passed / self.trajectories if self.trajectories else None,
            "advantage_mean": advantages.mean,
            "advantage_std": advantages.std,
            "advantage_min": advantages.min,
            "advantage_max": advantages.max,
            "loss": self.loss,
            "grad_norm": self.grad_norm,
            "learning_rate": self.learning_rate,
            "tokens": self.tokens,
            "agent_tokens": self.agent_tokens,
            "cut_turns": self.cut_turns,
            **{f"seconds_{phase}": self.seconds.get(phase) for phase in TRAIN_PHASES},
            "seconds_total": sum(self.seconds.values()),
            "checkpoint": self.checkpoint,
            "eval_run_id": self.eval_run_id,
            "eval_trials": self.eval_trials,
            "eval_reward_mean": self.eval_reward_mean,
            "eval_pass_1": self.eval_pass_1,
            "eval_pass_k": self.eval_pass_k,
            "update_check": self.update_check,
            "finished_at": datetime.now(UTC).replace(tzinfo=None),
        }


def write_step(location: Location, row: dict[str, Any], durable: bool = False) -> None:
    """One step's row as its own segment (visible whole or not at all)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", row["run_id"])[:80]
    name = f"{TRAIN_STEP_PREFIX}{safe}-{row['step']:06d}-{row['attempt']}-{uuid.uuid4().hex[:8]}.parquet"
    try:
        write_segment(location, name, pa.Table.from_pylist([row], schema=TRAIN_STEP_SCHEMA), durable=durable)
    except Exception as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise RecordingWriteError(f"cannot write to the recording {location.display}: {reason}") from exc


def recorded_steps(store: RecordingStore, run_id: str) -> dict[int, dict[str, Any]]:
    """The run's completed steps (latest attempt of each): step -> its row."""
    columns, rows = store.query("SELECT * FROM train_steps WHERE run_id = ? ORDER BY step", [run_id])
    return {row["step"]: row for row in (dict(zip(columns, r, strict=True)) for r in rows)}
