"""Recorded episodes as a τ-bench results file: ``[{task_id, reward, info, traj, trial}]``.

The shape is what τ-bench's ``run.py`` writes (and :mod:`taurl.importers.taubench` reads):
``info.task`` is the task (``user_id``, ``instruction``, ``actions``, ``outputs``), ``info.reward_info``
names what was checked in τ-bench's terms (``r_outputs`` and each output when the task has outputs,
else ``r_actions``, the database match), ``traj`` the conversation as OpenAI chat messages.
``info.taurl`` keeps the episode's identity and how it ended, which τ-bench's readers ignore.
The rewards are the recorded ones; ``taurl import tau-bench`` scores under τ-bench's ``db+outputs``,
so a run reads back with the same rewards when it was scored that way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taurl.record.store import RecordingStore

EPISODE_COLUMNS = (
    "episode_id, run_id, domain, task_id, trial, reward, db_match, outputs_score, terminated_by, error, "
    "user_cost_usd, breakdown_json, task_json, messages"
)


class ExportError(ValueError):
    """Episodes that cannot be written as one τ-bench results file: says why and what to do."""


def task_id(value: str) -> int | str:
    """τ-bench's task ids are indices into its task list: numeric ids are written as integers."""
    return int(value) if value.isdigit() else value


def traj(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded messages as OpenAI chat messages (fields a message does not have are left out)."""
    out = []
    for m in sorted(messages, key=lambda m: m["idx"]):
        message: dict[str, Any] = {"role": m["role"], "content": m["content"]}
        if m["tool_calls_json"]:
            message["tool_calls"] = json.loads(m["tool_calls_json"])
        for key in ("tool_call_id", "name"):
            if m[key]:
                message[key] = m[key]
        out.append(message)
    return out


def result(row: dict[str, Any]) -> dict[str, Any]:
    """One episode row as a τ-bench result."""
    task = json.loads(row["task_json"])
    breakdown = json.loads(row["breakdown_json"] or "{}")
    # τ-bench reports the outputs check (all or nothing) when the task has outputs, else the database check
    checked: dict[str, Any] = {}
    if task.get("outputs"):
        missing = breakdown.get("outputs_missing", [])
        checked = {"r_outputs": 0.0 if missing else 1.0, "outputs": {o: o not in missing for o in task["outputs"]}}
    elif row["db_match"] is not None:
        checked = {"r_actions": 1.0 if row["db_match"] else 0.0}
    return {
        "task_id": task_id(row["task_id"]),
        "reward": row["reward"],
        "info": {
            "task": {k: task.get(k) for k in ("user_id", "actions", "instruction", "outputs")},
            "source": "user",
            "user_cost": row["user_cost_usd"],
            "reward_info": {"reward": row["reward"], "info": checked, "actions": task.get("actions", [])},
            "taurl": {
                "episode_id": row["episode_id"],
                "run_id": row["run_id"],
                "domain": row["domain"],
                "terminated_by": row["terminated_by"],
                **({"error": row["error"]} if row["error"] else {}),
            },
        },
        "traj": traj(row["messages"]),
        "trial": row["trial"],
    }


def tau_bench_results(store: RecordingStore, where: str = "TRUE") -> list[dict[str, Any]]:
    """The episodes matching ``where`` (latest attempts), in τ-bench's order: by task, then trial.
    A results file is one τ-bench environment: episodes of several domains or runs are refused."""
    rows = store.episode_rows(where)
    if not rows:
        raise ExportError(f"no episode matches {where!r}: nothing to export")
    for column, what in (("domain", "domains"), ("run_id", "runs")):
        found = sorted({r[column] for r in rows})
        if len(found) > 1:
            raise ExportError(
                f"the episodes span {len(found)} {what} ({', '.join(found)}); a τ-bench results file holds one "
                f"run of one environment: choose with --where \"{column} = '{found[0]}'\""
            )
    rows.sort(key=lambda r: (_order(r["task_id"]), r["trial"]))
    return [result(r) for r in rows]


def _order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


def write_tau_bench(store: RecordingStore, out: Path, where: str = "TRUE") -> int:
    """Write the results file; returns how many episodes it holds."""
    results = tau_bench_results(store, where)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return len(results)
