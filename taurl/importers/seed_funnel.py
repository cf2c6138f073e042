"""The seed data through repair and the hazard checks, with the funnel of what survives each step.

A repaired task is still rejected by default when training on it would teach the wrong thing:
``gold_error`` (a gold call answers ``Error: ...`` on the repaired database, and action matching
would reward repeating it), ``unknowable_id`` (a scored gold call uses an identifier that is neither
in the instruction nor in an earlier gold observation, so no agent could know it) and
``silent_pass`` (an agent that does nothing scores 1.0 under the default basis), and ``oracle`` (playing
the gold actions with the scripted user does not score 1.0, e.g. a transfer the user's stop pre-empts). ``accept_hazards``
keeps them, flagged in ``metadata["hazards"]``.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.agent.oracle import OracleAgent
from taurl.agent.silent import SilentAgent
from taurl.core.db import Database
from taurl.core.reward import RewardConfig, passed
from taurl.core.tools import ToolRegistry
from taurl.core.types import Task, ToolKind
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.importers.repair import SCHEMA_CLASSES, Outcome, is_identifier, repair_task, replay_gold
from taurl.registry import get_domain, known_domain
from taurl.users.scripted import ScriptedUser

STAGES = ("raw", *SCHEMA_CLASSES)


@dataclass
class SeedResult:
    accepted: list[Task] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)  # one row per task: repairs, hazards, outcome
    report: dict[str, Any] = field(default_factory=dict)

    def write_provenance(self, path: Path) -> None:
        """repairs.jsonl: a line per task, with its repairs, hazards and outcome."""
        with open(path, "w", encoding="utf-8") as handle:
            for row in self.provenance:
                handle.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")


def hazards(task: Task, tools: ToolRegistry, base: Database, data_dirs: Mapping[str, Any]) -> list[str]:
    found = []
    known = task.instruction
    for index, (action, observation, ok) in enumerate(replay_gold(task, tools, base)):
        kind = tools[action.name].kind
        if not ok:
            found.append(f"gold_error: gold action {index} ({action.name}) answers {observation[:120]!r}")
        if kind is not ToolKind.THINK:
            for name, value in action.kwargs.items():
                if is_identifier(name) and isinstance(value, str) and value not in known:
                    found.append(
                        f"unknowable_id: gold action {index} ({action.name}) uses {name}={value!r}, which neither "
                        "the instruction nor an earlier gold observation gives"
                    )
        known += "\n" + observation
    if not found:
        config = RolloutConfig(dict(data_dirs), reward=RewardConfig())
        oracle = run_episode(EpisodeSpec(task), OracleAgent(), ScriptedUser(), config)
        if not passed(oracle.reward):
            found.append(f"oracle: playing the gold actions scores {oracle.reward:.2f} ({oracle.terminated_by})")
        silent = run_episode(EpisodeSpec(task), SilentAgent(), ScriptedUser(), config)
        if passed(silent.reward):
            found.append(f"silent_pass: an agent that does nothing scores 1.0 under {silent.breakdown.basis}")
    return found


def repair_seed(tasks: Sequence[Task], data_dirs: Mapping[str, Any], accept_hazards: bool = False) -> SeedResult:
    result = SeedResult()
    bases: dict[str, Database] = {}
    funnel: dict[str, Counter[str]] = defaultdict(Counter)
    aliases: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for task in tasks:
        counts = funnel[task.domain]
        counts["tasks"] += 1
        if not known_domain(task.domain):
            result.rejects.append({"task_id": task.id, "domain": task.domain, "reason": "unknown domain"})
            result.provenance.append({"task_id": task.id, "outcome": "rejected", "reason": "unknown domain"})
            continue
        domain = get_domain(task.domain)
        if task.domain not in bases:
            bases[task.domain] = domain.database(data_dirs.get(task.domain))
        tools = domain.tools_for(task.tool_set)
        outcome = repair_task(task, tools, bases[task.domain])
        for repair in outcome.repairs:
            if repair.kind == "rename":
                key = (task.domain, repair.change["tool"], repair.change["invented"], repair.change["declared"])
                aliases[key].append(repair.evidence)
        found = [] if outcome.reason else hazards(outcome.task, tools, bases[task.domain], data_dirs)
        _count(counts, outcome, found, tools)
        row = {"task_id": task.id, "domain": task.domain, "repairs": [r.to_dict() for r in outcome.repairs]}
        if outcome.reason or (found and not accept_hazards):
            reason = outcome.reason or found[0]
            result.rejects.append({"task_id": task.id, "domain": task.domain, "reason": reason, "hazards": found})
            result.provenance.append({**row, "outcome": "rejected", "reason": reason, "hazards": found})
            continue
        accepted = outcome.task
        if found:
            accepted = dataclasses.replace(accepted, metadata={**accepted.metadata, "hazards": found})
        result.accepted.append(accepted)
        result.provenance.append({**row, "outcome": "accepted", "hazards": found})
    result.report = _report(funnel, aliases, accept_hazards)
    return result


def _count(counts: Counter[str], outcome: Outcome, found: list[str], tools: ToolRegistry) -> None:
    if outcome.reason:
        counts["rejected_unrepairable"] += 1
        return
    for stage in STAGES[outcome.stage + 1 :]:
        counts[f"after:{stage}"] += 1
    counts["identity_repaired"] += any(r.kind == "identity" for r in outcome.repairs)
    for hazard in {h.split(":", 1)[0] for h in found}:
        counts[f"hazard:{hazard}"] += 1
    if not found:
        counts["after:hazards"] += 1
        writes = any(tools[a.name].kind is ToolKind.WRITE for a in outcome.task.actions)
        counts["writing" if writes else "read_only"] += 1


def _summary(counts: Counter[str]) -> dict[str, Any]:
    return {
        "tasks": counts["tasks"],
        "funnel": {stage: counts[f"after:{stage}"] for stage in (*STAGES, "hazards")},
        "unrepairable": counts["rejected_unrepairable"],
        "identity_repaired": counts["identity_repaired"],
        "hazards": {h: counts[f"hazard:{h}"] for h in ("gold_error", "unknowable_id", "oracle", "silent_pass")},
        "accepted_read_only": counts["read_only"],
        "accepted_writing": counts["writing"],
    }


def _report(
    funnel: Mapping[str, Counter[str]], aliases: Mapping[tuple[str, str, str, str], list[str]], accept_hazards: bool
) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for counts in funnel.values():
        total.update(counts)
    return {
        "accept_hazards": accept_hazards,
        "stages": [*STAGES, "hazards"],
        "total": _summary(total),
        "domains": {d: _summary(c) for d, c in sorted(funnel.items())},
        "aliases": [
            {"domain": d, "tool": t, "invented": i, "declared": p, "calls": len(why), "evidence": sorted(set(why))[:3]}
            for (d, t, i, p), why in sorted(aliases.items())
        ],
    }
