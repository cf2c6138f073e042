"""Recorded episodes as a τ-bench results file: ``[{task_id, reward, info, traj, trial}]``.

The shape is what τ-bench's ``run.py`` writes (and :mod:`taurl.importers.taubench` reads):
``info.task`` is the task (``user_id``, ``instruction``, ``actions``, ``outputs``), ``info.reward_info``
names what was checked in τ-bench's terms (``r_outputs`` and each output when the task has outputs,
else ``r_actions``, the database match), ``traj`` the conversation as OpenAI chat messages.
``info.taurl`` keeps the episode's identity, how it ended, and what τ-bench's task has no field for (the
reward basis the task asked for and its tool set), which τ-bench's readers ignore and ``taurl import
tau-bench`` scores with, so a run reads back with the same rewards. What the format cannot carry is
refused in one line: episodes that did not finish, rewards a judge model decided, and episodes longer
than τ-bench's step limit or cut at one a run did not score 0 (τ-bench scores such an episode 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taurl.core.types import TerminatedBy
from taurl.importers.taubench import TAU_BENCH_MAX_STEPS
from taurl.paths import writable_file, write_atomically
from taurl.record import codec
from taurl.record.predicates import finished_sql
from taurl.record.store import RecordingStore


class ExportError(ValueError):
    """Episodes that cannot be written as one τ-bench results file: says why and what to do."""


def task_id(value: str) -> int | str:
    """τ-bench's task ids are indices into its task list: numeric ids are written as integers."""
    return int(value) if value.isdigit() else value


def result(row: dict[str, Any]) -> dict[str, Any]:
    """One episode row as a τ-bench result."""
    task = codec.task_data(row)
    breakdown = codec.breakdown(row)
    scored = {"reward_basis": breakdown["requested_basis"]} if breakdown.get("requested_basis") else {}
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
                **scored,
                "tool_set": task.get("tool_set", "default"),
                **({"error": row["error"]} if row["error"] else {}),
            },
        },
        "traj": codec.messages(row),
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
    check_carried(rows, where)
    rows.sort(key=lambda r: (_order(r["task_id"]), r["trial"]))
    return [result(r) for r in rows]


def check_carried(rows: list[dict[str, Any]], where: str) -> None:
    """Refuse, naming the first few, episodes whose reward a τ-bench results file cannot carry."""
    narrow = "" if where == "TRUE" else f"({where}) AND "
    problems = (
        (
            [r for r in rows if not TerminatedBy(r["terminated_by"]).finished],
            "did not finish (error, interrupted or truncated), an ending τ-bench's results have no place for",
            f"{narrow}{finished_sql()}",
        ),
        (
            [r for r in rows if codec.breakdown(r).get("basis") == "db+outputs+judge"],
            "were scored with a judge model's verdicts, which τ-bench's results cannot carry",
            None,
        ),
        (
            [
                r
                for r in rows
                if r["steps"] > TAU_BENCH_MAX_STEPS or (r["terminated_by"] == "max_steps" and r["reward"] != 0)
            ],
            f"ran past τ-bench's limit of {TAU_BENCH_MAX_STEPS} steps or were cut at a step limit without scoring 0, "
            "which τ-bench would score 0",
            f"{narrow}steps <= {TAU_BENCH_MAX_STEPS} AND terminated_by <> 'max_steps'",
        ),
    )
    for found, why, keep in problems:
        if found:
            names = ", ".join(f"{r['task_id']}/{r['trial']}" for r in found[:3]) + (" ..." if len(found) > 3 else "")
            hint = f'; leave them out with --where "{keep}"' if keep else ""
            raise ExportError(f"{len(found)} episode(s) ({names}) {why}{hint}")


def _order(value: str) -> tuple[int, int | str]:
    return (0, int(value)) if value.isdigit() else (1, value)


@dataclass(frozen=True)
class Exported:
    episodes: int
    domain: str
    data_dir: str | None  # the database the run played on, for `taurl import tau-bench --data-dir`; None: unknown


def write_tau_bench(store: RecordingStore, out: Path, where: str = "TRUE") -> Exported:
    """Write the results file, whole or not at all. An ``out`` that cannot be written is refused before
    any query (:class:`taurl.paths.OutputPathError`)."""
    writable_file(out)
    results = tau_bench_results(store, where)
    write_atomically(out, json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    episode = results[0]["info"]["taurl"]
    return Exported(len(results), episode["domain"], data_dir(store, episode["run_id"], episode["domain"]))


def data_dir(store: RecordingStore, run_id: str, domain: str) -> str | None:
    """The data directory the run read ``domain``'s database from: its --data-dir, else the built-in data."""
    from taurl.registry import get_domain

    _, rows = store.query("SELECT config_json FROM runs WHERE run_id = ?", [run_id])
    given = codec.run_config(rows[0][0]).get("data_dirs", {}).get(domain) if rows else None
    if given:
        return given
    try:
        return str(get_domain(domain).builtin_data_dir)
    except Exception:  # a backend domain (an installed τ-bench or τ²) has no built-in data taurl can name
        return None
