"""Re-scoring: recompute recorded episodes' rewards under another basis or reward config.

No model runs: the recorded actions are executed again on the episode's database and the final
state is scored; the new scores are stored beside the old ones (``rescores`` view) with the config
that produced them. With a judge model the task's assertions are judged again from the recorded
transcript: the new verdicts and the judge's calls are stored in the row's ``breakdown_json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taurl.core.hashing import canonical_json, sha256_hex
from taurl.core.reward import RewardConfig
from taurl.core.reward_judge import PROMPT_VERSION, AssertionJudge
from taurl.core.types import RewardBreakdown, TerminatedBy
from taurl.record import codec
from taurl.record.schema import model_call_rows
from taurl.record.store import RecordingStore
from taurl.record.writer import RecordingWriter
from taurl.registry import get_domain
from taurl.review.attribution import episode_transcript


@dataclass(frozen=True)
class Rescore:
    episode_id: str
    task_id: str
    old_reward: float
    new_reward: float
    row: dict[str, Any]


def rescore_id(config: RewardConfig) -> str:
    return sha256_hex(canonical_json(_config_record(config)))[:12]


def _config_record(config: RewardConfig) -> dict[str, Any]:
    record: dict[str, Any] = {
        "basis": str(config.basis) if config.basis else None,
        "zero_on_max_steps": config.zero_on_max_steps,
        "match_think_tools": config.match_think_tools,
    }
    if config.judge is not None or config.judge_weight:  # absent otherwise: earlier rescore ids stay the same
        record["judge_weight"] = config.judge_weight
        record["judge"] = None if config.judge is None else {"model": config.judge.model, "prompt": PROMPT_VERSION}
    return record


def store_rescores(recording: str, results: Sequence[Rescore], config: RewardConfig) -> str:
    """Store ``results`` in ``recording`` (view ``rescores``); returns the rescore id they are stored under."""
    identity = rescore_id(config)
    RecordingWriter(recording).write_rescores([r.row for r in results], identity)
    return identity


def rescore(
    store: RecordingStore, config: RewardConfig, data_dirs: Mapping[str, str] | None = None, where: str = "TRUE"
) -> list[Rescore]:
    _, runs = store.query("SELECT run_id, config_json FROM run_configs")
    run_dirs = {run_id: codec.run_config(c).get("data_dirs", {}) for run_id, c in runs}
    identity, record = rescore_id(config), canonical_json(_config_record(config))
    results = []
    for row in (row for batch in store.episode_batches(where) for row in batch.to_pylist()):  # a batch in memory
        if not TerminatedBy(row["terminated_by"]).finished:
            continue  # an episode that did not finish has no final state to score: it stays at 0
        task = codec.task(row)
        domain = get_domain(task.domain)
        data_dir = {**run_dirs.get(row["run_id"], {}), **(data_dirs or {})}.get(task.domain)
        initial = domain.database(data_dir)
        domain.gold(task, initial)  # a task whose gold cannot run is refused before the judge is asked
        judge = AssertionJudge(config.judge) if config.judge is not None else None
        judged = judge.judge(task, episode_transcript(row)) if judge is not None else None
        breakdown = domain.score(task, initial, codec.steps(row), TerminatedBy(row["terminated_by"]), config, judged)
        stored = breakdown.to_dict()
        if judge is not None:
            stored["model_calls"] = model_call_rows(judge.calls)
        results.append(_rescored(row, identity, record, stored, breakdown))
    return results


def _rescored(
    row: Mapping[str, Any], identity: str, record: str, stored: dict[str, Any], breakdown: RewardBreakdown
) -> Rescore:
    new = {
        "episode_id": row["episode_id"],
        "rescore_id": identity,
        "config_json": record,
        "reward": breakdown.reward,
        "reward_basis": str(breakdown.basis),
        "breakdown_json": json.dumps(stored, ensure_ascii=False, sort_keys=True),
    }
    return Rescore(row["episode_id"], row["task_id"], row["reward"], breakdown.reward, new)
