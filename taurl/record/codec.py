"""Recorded rows read back: the one decoder of what :mod:`taurl.record.schema` encodes.

A row of the ``episodes`` views (``RecordingStore.episode_rows``, or a query's row as a mapping) keeps
its task, its reward breakdown, each step's arguments, each message's tool calls and each model call's
request and response as JSON text, and a run record its settings. These functions turn them back into
taurl's types, or into plain data for what only shows them; a column a row lacks or leaves null reads
as empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from taurl.core.messages import Message
from taurl.core.types import Action, Step, Task

Row = Mapping[str, Any]


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


def task_data(row: Row) -> dict[str, Any]:
    """The episode's task as plain data (what ``Task.to_dict`` wrote)."""
    return _loads(row.get("task_json")) or {}


def task(row: Row) -> Task:
    return Task.from_dict(task_data(row))


def breakdown(row: Row) -> dict[str, Any]:
    """The reward breakdown as plain data; empty for an episode that did not finish (never scored). A
    ``rescores`` row's holds the rescore's breakdown (or a judge's verdict, with its model calls)."""
    return _loads(row.get("breakdown_json")) or {}


def kwargs(text: str | None) -> dict[str, Any]:
    """A step's arguments (its ``kwargs_json``)."""
    return _loads(text) or {}


def action(text: str) -> Action:
    """An action written as JSON (``{"name", "kwargs"}``, as a task's gold actions are)."""
    return Action.from_dict(json.loads(text))


def step(recorded: Row) -> Step:
    """One step of an episode's ``trace``."""
    return Step(
        Action(recorded["name"], kwargs(recorded["kwargs_json"])),
        recorded["observation"],
        recorded["source"],
        recorded["error"],
        recorded.get("requestor") or "assistant",  # null: the agent's (older segments have no requestor)
    )


def steps(row: Row) -> list[Step]:
    return [step(s) for s in row["trace"]]


def tool_calls(text: str | None) -> list[dict[str, Any]]:
    """A message's tool calls (its ``tool_calls_json``) in OpenAI's format."""
    return _loads(text) or []


def message(recorded: Row) -> Message:
    """One recorded message in OpenAI chat format (fields it does not have are left out)."""
    decoded: dict[str, Any] = {"role": recorded["role"], "content": recorded["content"]}
    if recorded.get("tool_calls_json"):
        decoded["tool_calls"] = tool_calls(recorded["tool_calls_json"])
    for key in ("tool_call_id", "name"):
        if recorded.get(key):
            decoded[key] = recorded[key]
    return decoded


def messages(row: Row) -> list[Message]:
    """The episode's conversation, in order."""
    return [message(m) for m in sorted(row["messages"], key=lambda m: m["idx"])]


def run_config(text: str | None) -> dict[str, Any]:
    """A run record's settings (its ``config_json``: ``RunConfig.to_record``, or a training run's)."""
    return _loads(text) or {}


def model_call_entries(rows: Iterable[Row]) -> dict[str, dict[str, Any]]:
    """The model calls of ``rows`` (each with a ``model_calls`` list) as response-cache entries by
    request key: what serves a replay without a cache directory."""
    entries = {}
    for row in rows:
        for call in row["model_calls"]:
            entries[call["key"]] = {
                "request": json.loads(call["request_json"]),
                "response": json.loads(call["response_json"]),
                "usage": {"prompt_tokens": call["prompt_tokens"], "completion_tokens": call["completion_tokens"]},
            }
    return entries
