"""The recording schema, version 2: one Parquet row per episode attempt, its conversation nested in it.

A segment file is a batch of whole episodes, so it becomes visible atomically (rename on a file
system, one object on an object store) and an episode is never half-written. The store's views
unnest the nested lists into ``messages``, ``steps`` (every action and what answered it),
``tool_calls`` (the steps that called a tool) and ``model_calls``.

Version 2 added ``attempt`` (a resumed run re-runs an errored or interrupted episode as attempt 2,
3, ...; the views show the latest) and ``error``, the ``terminated_by`` values ``error``,
``interrupted`` and ``truncated``, the agent's and user's model names, and when each episode started
and finished (wall clock, recorded for people; replay never compares it). Version 1 segments read
as attempt 1 with no error; their model names come from the run record. A step's ``requestor``
(``user`` for a simulated user's own tool call, τ²'s dual control) came later within version 2:
older segments read it as null, the agent's. So did the training fields of an episode that is a
trajectory of a training run (``taurl train --backend tinker``): its step, group, the sampler version it
was drawn from, its advantage, and its tokens (``token_ids``; ``token_mask``, true where the agent
sampled the token; ``token_logprobs``, the sampler's log-probability of each sampled token), all null
elsewhere; and the ``train-steps-`` segments, one row per training step. Older readers ignore both.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from taurl.core.types import EpisodeResult, ModelCall

SCHEMA_VERSION = 2
_SURROGATE = re.compile("[\ud800-\udfff]")
EPISODE_PREFIX = "episodes-"
RUN_PREFIX = "runs-"
RESCORE_PREFIX = "rescores-"
TRAIN_STEP_PREFIX = "train-steps-"
TEMP_PREFIX = ".tmp-"

MESSAGE = pa.struct(
    [
        ("idx", pa.int32()),
        ("role", pa.string()),
        ("content", pa.string()),
        ("tool_calls_json", pa.string()),
        ("tool_call_id", pa.string()),
        ("name", pa.string()),
    ]
)
STEP = pa.struct(
    [
        ("step", pa.int32()),
        ("name", pa.string()),
        ("kwargs_json", pa.string()),
        ("observation", pa.string()),
        ("source", pa.string()),
        ("error", pa.string()),
        ("requestor", pa.string()),  # "user": the simulated user's own tool call; null: the agent's step
    ]
)
MODEL_CALL = pa.struct(
    [
        ("seq", pa.int32()),
        ("key", pa.string()),
        ("namespace", pa.string()),
        ("model", pa.string()),
        ("sample_index", pa.int32()),
        ("cache_hit", pa.bool_()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("cost_usd", pa.float64()),
        ("latency_ms", pa.float64()),
        ("attempts", pa.int32()),
        ("request_json", pa.string()),
        ("response_json", pa.string()),
        # why the tokens are an estimate: the server's usage was missing, negative or implausible (older segments: null)
        ("usage_flag", pa.string()),
    ]
)
SCALARS: list[tuple[str, pa.DataType]] = [
    ("episode_id", pa.string()),
    ("run_id", pa.string()),
    ("schema_version", pa.int32()),
    ("domain", pa.string()),
    ("task_id", pa.string()),
    ("split", pa.string()),
    ("trial", pa.int32()),
    ("attempt", pa.int32()),
    ("agent", pa.string()),
    ("agent_model", pa.string()),
    ("user_strategy", pa.string()),
    ("user_model", pa.string()),
    ("reward", pa.float64()),
    ("reward_basis", pa.string()),
    ("requested_basis", pa.string()),
    ("db_match", pa.bool_()),
    ("outputs_score", pa.float64()),
    ("actions_score", pa.float64()),
    ("trivially_passable", pa.bool_()),
    ("gold_changes_db", pa.bool_()),
    ("terminated_by", pa.string()),
    ("error", pa.string()),
    ("turns", pa.int32()),
    ("steps", pa.int32()),
    ("n_tool_calls", pa.int32()),
    ("user_cost_usd", pa.float64()),
    ("agent_cost_usd", pa.float64()),
    ("judge_cost_usd", pa.float64()),
    ("source_reward", pa.float64()),
    ("started_at", pa.timestamp("us")),  # UTC (a plain timestamp: DuckDB hands it to Python without pytz)
    ("finished_at", pa.timestamp("us")),
    ("duration_ms", pa.float64()),
    ("breakdown_json", pa.string()),
    ("task_json", pa.string()),
    # a training run's trajectory (null elsewhere)
    ("train_step", pa.int32()),
    ("train_group", pa.int32()),
    ("sampler_version", pa.int32()),  # optimizer steps applied to the weights it was sampled from
    ("advantage", pa.float64()),  # null: left out of its group (it did not finish), or not a training episode
]
# a training run's trajectory as the model saw it: columns of the trajectories view, not of episodes
TOKENS: list[tuple[str, pa.DataType]] = [
    ("token_ids", pa.list_(pa.int32())),
    ("token_mask", pa.list_(pa.bool_())),
    ("token_logprobs", pa.list_(pa.float64())),
]
# nested column -> the view that unnests it
NESTED_VIEWS = {"messages": "messages", "trace": "steps", "model_calls": "model_calls"}
NESTED: list[tuple[str, pa.DataType]] = [
    ("messages", pa.list_(MESSAGE)),
    ("trace", pa.list_(STEP)),
    ("model_calls", pa.list_(MODEL_CALL)),
]
EPISODE_SCHEMA = pa.schema(SCALARS + NESTED + TOKENS, metadata={"taurl.schema_version": str(SCHEMA_VERSION)})
RUN_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("schema_version", pa.int32()),
        ("taurl_version", pa.string()),
        ("config_json", pa.string()),
    ]
)
RESCORE_SCHEMA = pa.schema(
    [
        ("episode_id", pa.string()),
        ("rescore_id", pa.string()),
        ("config_json", pa.string()),
        ("reward", pa.float64()),
        ("reward_basis", pa.string()),
        ("breakdown_json", pa.string()),
    ]
)

# where a training step's time goes, each a seconds_<phase> column of train_steps (and seconds_total)
TRAIN_PHASES = ("sample", "record", "forward_backward", "optim", "checkpoint", "sampler", "measure", "eval")
UPDATE_CHECK = pa.struct(
    [
        ("episode_id", pa.string()),
        ("advantage", pa.float64()),
        ("logprob_before", pa.float64()),  # the trajectory's agent tokens, summed, before the update
        ("logprob_after", pa.float64()),  # and after it
    ]
)
TRAIN_STEP_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("step", pa.int32()),
        ("attempt", pa.int32()),
        ("schema_version", pa.int32()),
        ("sampler_version", pa.int32()),
        ("tasks", pa.int32()),
        ("trajectories", pa.int32()),
        ("errored", pa.int32()),
        ("groups", pa.int32()),
        ("groups_zero_signal", pa.int32()),
        ("reward_mean", pa.float64()),
        ("reward_std", pa.float64()),
        ("pass_rate", pa.float64()),
        ("advantage_mean", pa.float64()),
        ("advantage_std", pa.float64()),
        ("advantage_min", pa.float64()),
        ("advantage_max", pa.float64()),
        ("loss", pa.float64()),
        ("grad_norm", pa.float64()),
        ("learning_rate", pa.float64()),
        ("tokens", pa.int64()),
        ("agent_tokens", pa.int64()),
        ("cut_turns", pa.int32()),
        *[(f"seconds_{phase}", pa.float64()) for phase in (*TRAIN_PHASES, "total")],
        ("checkpoint", pa.string()),
        ("eval_run_id", pa.string()),
        ("eval_trials", pa.int32()),
        ("eval_reward_mean", pa.float64()),
        ("eval_pass_1", pa.float64()),
        ("eval_pass_k", pa.float64()),
        ("update_check", pa.list_(UPDATE_CHECK)),
        ("finished_at", pa.timestamp("us")),
    ],
    metadata={"taurl.schema_version": str(SCHEMA_VERSION)},
)


def episode_id(run_id: str, domain: str, task_id: str, trial: int) -> str:
    """Deterministic: the same (run, task, trial) is the same episode, which is what makes resume exact."""
    return hashlib.sha256(json.dumps([run_id, domain, task_id, trial]).encode()).hexdigest()[:20]


def _timestamp(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def episode_row(
    result: EpisodeResult,
    run_id: str,
    agent: str,
    user_strategy: str,
    source_reward: float | None = None,
    attempt: int = 1,
    agent_model: str | None = None,
    user_model: str | None = None,
) -> dict[str, Any]:
    """One episode as a row of :data:`EPISODE_SCHEMA` (plain Python values). An unfinished episode
    (no breakdown) has reward 0 and no reward components."""
    b = result.breakdown
    task = result.task
    user_cost = sum(c.cost_usd for c in result.model_calls if c.namespace.startswith("user"))
    judge_cost = sum(c.cost_usd for c in result.model_calls if c.namespace.startswith("judge"))
    return {
        "episode_id": episode_id(run_id, task.domain, task.id, result.trial),
        "run_id": run_id,
        "schema_version": SCHEMA_VERSION,
        "domain": task.domain,
        "task_id": task.id,
        "split": task.split,
        "trial": result.trial,
        "attempt": attempt,
        "agent": agent,
        "agent_model": agent_model,
        "user_strategy": user_strategy,
        "user_model": user_model,
        "reward": result.reward,
        "reward_basis": None if b is None else str(b.basis),
        "requested_basis": None if b is None else str(b.requested_basis),
        "db_match": None if b is None else b.db_match,
        "outputs_score": None if b is None else b.outputs_score,
        "actions_score": None if b is None else b.actions_score,
        "trivially_passable": None if b is None else b.trivially_passable,
        "gold_changes_db": None if b is None else b.gold_changes_db,
        "terminated_by": str(result.terminated_by),
        "error": result.error,
        "turns": sum(1 for m in result.messages if m["role"] == "assistant"),
        "steps": result.steps,
        "n_tool_calls": sum(
            1 for s in result.trace if not s.action.is_respond and not s.action.is_parse_error and not s.by_user
        ),
        "user_cost_usd": user_cost,
        "agent_cost_usd": sum(c.cost_usd for c in result.model_calls) - user_cost - judge_cost,
        "judge_cost_usd": judge_cost,
        "source_reward": source_reward,
        "started_at": _timestamp(result.started_at),
        "finished_at": _timestamp(
            None if result.started_at is None else result.started_at + (result.duration_ms or 0.0) / 1000
        ),
        "duration_ms": result.duration_ms,
        "breakdown_json": None if b is None else _json(b.to_dict()),
        "task_json": _json(task.to_dict()),
        "messages": [
            {
                "idx": i,
                "role": m["role"],
                "content": m.get("content"),
                "tool_calls_json": _json(m.get("tool_calls")),
                "tool_call_id": m.get("tool_call_id"),
                "name": m.get("name"),
            }
            for i, m in enumerate(result.messages)
        ],
        "trace": [
            {
                "step": i,
                "name": s.action.name,
                "kwargs_json": _json(s.action.kwargs),
                "observation": s.observation,
                "source": s.source,
                "error": s.error,
                "requestor": s.requestor if s.by_user else None,
            }
            for i, s in enumerate(result.trace)
        ],
        "model_calls": model_call_rows(result.model_calls),
    }


def model_call_rows(calls: Iterable[ModelCall]) -> list[dict[str, Any]]:
    """Model calls as rows of the recording's ``model_calls`` column (what replay reads back)."""
    return [
        {
            "seq": i,
            "key": c.key,
            "namespace": c.namespace,
            "model": c.model,
            "sample_index": c.sample_index,
            "cache_hit": c.cache_hit,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "cost_usd": c.cost_usd,
            "latency_ms": c.latency_ms,
            "attempts": c.attempts,
            "request_json": _json(c.request),
            "response_json": _json(c.response),
            "usage_flag": c.usage_flag,
        }
        for i, c in enumerate(calls)
    ]


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """Episode rows to one Arrow table in a single columnar conversion (measured several times faster
    than assembling the nested columns in Python, and far faster than row-at-a-time inserts).

    Text that is not valid Unicode (a model reply with a lone surrogate, say) cannot be stored as
    UTF-8: such rows are stored with each bad code point replaced by U+FFFD rather than lost."""
    try:
        return pa.Table.from_pylist(rows, schema=EPISODE_SCHEMA)
    except UnicodeEncodeError:
        return pa.Table.from_pylist([valid_unicode(row) for row in rows], schema=EPISODE_SCHEMA)


def valid_unicode(value: Any) -> Any:
    """``value`` with every string made encodable as UTF-8 (lone surrogates become U+FFFD)."""
    if isinstance(value, str):
        return value if value.isascii() else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {k: valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [valid_unicode(v) for v in value]
    return value
