"""How good a task set is, measured: gold-action validity, executability, read-only share, how often a
silent agent would pass under each reward basis, which tasks a trivial policy already passes (left out
of training), and an evidence-based normalisation of invented argument names.

Validity follows the seed system's own definition: the tool exists, every required argument is
present, and no argument the tool does not declare is given (types are checked separately: a task
is only accepted for training if the tool registry accepts every gold call, since the environment
would otherwise refuse the task).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from taurl.agent.silent import SilentAgent
from taurl.checks.audit import TRIVIAL_POLICIES, TRIVIAL_REASON, trivial_passes
from taurl.core.db import Database
from taurl.core.reward import InvalidTaskError, RewardConfig, passed
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, RewardBasis, Task, ToolKind
from taurl.domains import DataError
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.registry import get_domain, known_domain

BASES = (RewardBasis.DB_OUTPUTS, RewardBasis.ACTIONS, RewardBasis.DB_OUTPUTS_ACTIONS, RewardBasis.AUTO)


def schema_problem(action: Action, tools: ToolRegistry) -> str | None:
    """The seed system's validity rule: tool exists, required present, nothing undeclared."""
    if action.name not in tools:
        return f"unknown tool {action.name}"
    params = tools[action.name].parameters
    missing = [p for p in params["required"] if p not in action.kwargs]
    extra = sorted(set(action.kwargs) - set(params["properties"]))
    if missing:
        return f"{action.name}: missing {', '.join(missing)}"
    if extra:
        return f"{action.name}: undeclared {', '.join(extra)}"
    return None


@dataclass(frozen=True)
class Alias:
    """An invented argument name and the declared one it stands for, with its evidence."""

    domain: str
    tool: str
    invented: str
    declared: str
    evidence: int  # calls where renaming makes the call valid
    why: str


@dataclass
class AliasTable:
    aliases: list[Alias] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # candidates not applied, and why

    def lookup(self) -> dict[tuple[str, str, str], str]:
        return {(a.domain, a.tool, a.invented): a.declared for a in self.aliases}


IDENTIFIER_SUFFIXES = ("_id", "_code", "_number")


def _is_identifier(name: str) -> bool:
    return name.endswith(IDENTIFIER_SUFFIXES) or name == "email"


def _id_known(value: Any, db: Database | None, declared: str) -> bool:
    """Whether ``value`` keys a record of the table ``declared`` names (``order_id`` -> ``orders``,
    ``airport_code`` -> the airports reference table); any table when no name matches."""
    if db is None or not isinstance(value, str):
        return False
    tables: dict[str, Any] = {name: db[name] for name in db.table_names}
    tables.update({name: table for name, table in db.reference.items() if isinstance(table, Mapping)})
    prefix = declared.rsplit("_", 1)[0]
    named = [table for name, table in tables.items() if name.startswith(prefix)]
    return any(value in table for table in (named or tables.values()))


def derive_aliases(
    tasks: Sequence[Task], registries: Sequence[ToolRegistry | str], dbs: Mapping[str, Database]
) -> AliasTable:
    """Candidates come from calls with exactly one undeclared argument and exactly one missing
    required one. A candidate is applied only when it is unambiguous: the (tool, invented name) pair
    always points at the same declared name, and either the declared argument is an identifier
    (``*_id``, ``*_code``, ``*_number``, ``email``) whose value is an existing record key in every call
    (a name is not an id), or it is the free-text argument of a single-argument tool (think's
    ``thought``, calculate's ``expression``, transfer's ``summary``)."""
    votes: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    id_ok: dict[tuple[str, str, str, str], list[bool]] = defaultdict(list)
    arity: dict[tuple[str, str], int] = {}  # (domain, tool) -> how many arguments it declares
    for task, tools in zip(tasks, registries, strict=True):
        if isinstance(tools, str):
            continue
        for action in task.actions:
            if action.name not in tools:
                continue
            params = tools[action.name].parameters
            arity[(task.domain, action.name)] = len(params["properties"])
            extra = sorted(set(action.kwargs) - set(params["properties"]))
            missing = [p for p in params["required"] if p not in action.kwargs]
            if len(extra) == 1 and len(missing) == 1:
                key = (task.domain, action.name, extra[0])
                votes[key][missing[0]] += 1
                id_ok[(*key, missing[0])].append(_id_known(action.kwargs[extra[0]], dbs.get(task.domain), missing[0]))
    table = AliasTable()
    for (domain, tool, invented), targets in sorted(votes.items()):
        declared, count = targets.most_common(1)[0]
        candidate = {"domain": domain, "tool": tool, "invented": invented, "declared": dict(targets)}
        if len(targets) > 1:
            table.rejected.append({**candidate, "why": "ambiguous: points at several declared arguments"})
            continue
        single = arity[(domain, tool)] == 1
        checks = id_ok[(domain, tool, invented, declared)]
        if _is_identifier(declared):
            if not all(checks):
                why = f"{declared} is an identifier and not every value is an existing record key"
                table.rejected.append({**candidate, "why": why})
                continue
            why = f"every value is an existing {declared} in the {domain} database"
        elif single:
            why = f"{declared} is {tool}'s only argument, free text"
        else:
            table.rejected.append({**candidate, "why": "neither an identifier nor a single free-text argument"})
            continue
        table.aliases.append(Alias(domain, tool, invented, declared, count, why))
    return table


def normalize(task: Task, table: AliasTable) -> Task:
    lookup = table.lookup()
    actions = []
    for action in task.actions:
        kwargs = {lookup.get((task.domain, action.name, k), k): v for k, v in action.kwargs.items()}
        actions.append(Action(action.name, kwargs))
    return dataclasses.replace(task, actions=tuple(actions))


def tool_registries(tasks: Sequence[Task]) -> list[ToolRegistry | str]:
    """Per task, its own tool set (what the policy sees for it) or why it has none. Tasks of one
    domain may name different tool sets (airline's extended tasks add ``lookup_passenger``, ...)."""
    by_set: dict[tuple[str, str], ToolRegistry | str] = {}
    for task in tasks:
        key = (task.domain, task.tool_set)
        if key in by_set:
            continue
        if not known_domain(task.domain):
            by_set[key] = f"unknown domain {task.domain!r}"
            continue
        try:
            by_set[key] = get_domain(task.domain).tools_for(task.tool_set)
        except DataError as exc:
            by_set[key] = str(exc)
    return [by_set[(task.domain, task.tool_set)] for task in tasks]


@dataclass
class Assessment:
    """Per task: accepted (with the normalised task) or rejected with the reason."""

    accepted: list[Task] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def assess(tasks: Sequence[Task], data_dirs: Mapping[str, Any], use_aliases: bool = True) -> Assessment:
    domains = sorted({t.domain for t in tasks if known_domain(t.domain)})
    registries = tool_registries(tasks)
    dbs: dict[str, Database] = {}
    for d in domains:
        try:
            dbs[d] = get_domain(d).database(data_dirs.get(d))
        except DataError:
            dbs[d] = get_domain(d).database(None)
    table = derive_aliases(tasks, registries, dbs) if use_aliases else AliasTable()
    result = Assessment()
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    silent_tasks: list[Task] = []
    for task, registry in zip(tasks, registries, strict=True):
        s = stats[task.domain]
        s["tasks"] += 1
        if isinstance(registry, str):
            result.rejects.append({"task_id": task.id, "domain": task.domain, "reason": registry})
            continue
        s["actions"] += len(task.actions)
        raw_problems = [schema_problem(a, registry) for a in task.actions]
        s["valid_actions"] += sum(p is None for p in raw_problems)
        s["fully_valid_tasks"] += all(p is None for p in raw_problems)
        s["no_action_tasks"] += not task.actions
        # read-only by intent, measurable on every task: no gold action names a state-changing tool
        s["no_write_tasks"] += not any(
            a.name in registry and registry[a.name].kind is ToolKind.WRITE for a in task.actions
        )
        fixed = normalize(task, table)
        problems = [schema_problem(a, registry) for a in fixed.actions]
        s["valid_actions_normalized"] += sum(p is None for p in problems)
        s["fully_valid_tasks_normalized"] += all(p is None for p in problems)
        typed = [registry.check(a) for a in fixed.actions]
        bad = next(((i, p) for i, p in enumerate(typed) if p), None)
        if bad is not None:
            index, problem = bad
            result.rejects.append(
                {
                    "task_id": task.id,
                    "domain": task.domain,
                    "reason": f"gold action {index} is invalid: {problem}",
                    "action": fixed.actions[index].to_dict(),
                }
            )
            continue
        db = dbs[task.domain].fork()
        errors = [registry.invoke(db, a) for a in fixed.actions]
        s["executable_tasks"] += all(r.ok for r in errors)
        s["gold_tool_errors"] += sum(not r.ok for r in errors)
        s["accepted"] += 1
        result.accepted.append(fixed)
        silent_tasks.append(fixed)
    _silent_pass(silent_tasks, data_dirs, stats)
    result.report = _report(stats, table, use_aliases)
    return result


def _silent_pass(tasks: Sequence[Task], data_dirs: Mapping[str, Any], stats: dict[str, Counter[str]]) -> None:
    """Run a do-nothing agent on every accepted task under each basis, through the real env."""
    for basis in BASES:
        config = RolloutConfig(dict(data_dirs), reward=RewardConfig(basis=basis))
        for task in tasks:
            try:
                user = get_domain(task.domain).make_user("scripted", None)  # the domain's own (τ²'s plays its side)
                result = run_episode(EpisodeSpec(task), SilentAgent(), user, config)
            except InvalidTaskError:
                continue
            stats[task.domain][f"silent_pass:{basis}"] += passed(result.reward)
            if basis is RewardBasis.AUTO:
                stats[task.domain]["read_only_tasks"] += not result.breakdown.gold_changes_db


def leave_out_trivial(
    train: Sequence[Task], validation: Sequence[Task], data_dirs: Mapping[str, Any], keep: bool, report: dict[str, Any]
) -> tuple[list[Task], list[Task]]:
    """The reward audit's verdict applied to a converted task set: train tasks whose reward a trivial
    policy already earns (:func:`taurl.checks.audit.trivial_passes`) are left out of training unless ``keep``
    (RL on them teaches doing nothing); validation keeps its own, since evaluation measures the whole
    set. Returns (train tasks kept, train tasks left out) and adds the counts per domain, and why, to
    ``report`` (each domain's and the total's ``trivial``, and the top-level ``trivial``)."""
    tasks = [*train, *validation]
    verdicts = trivial_passes(tasks, data_dirs)
    counts: dict[str, Counter[str]] = {d: Counter() for d in report["domains"]}
    kept, left_out = [], []
    for n, (task, passes) in enumerate(zip(tasks, verdicts, strict=True)):
        in_train = n < len(train)
        counts.setdefault(task.domain, Counter()).update(passes)
        if passes:
            counts[task.domain]["train" if in_train else "validation"] += 1
        if in_train:
            (left_out if passes and not keep else kept).append(task)
    if not keep:
        for task in left_out:
            counts[task.domain]["left_out_of_train"] += 1
    total: Counter[str] = Counter()
    for domain, counter in counts.items():
        total.update(counter)
        report["domains"].setdefault(domain, {})["trivial"] = _trivial_summary(counter)
    report["total"]["trivial"] = _trivial_summary(total)
    report["trivial"] = {"reason": TRIVIAL_REASON, "policies": list(TRIVIAL_POLICIES), "left_out_of_train": not keep}
    return kept, left_out


def _trivial_summary(counter: Counter[str]) -> dict[str, Any]:
    return {
        "train": counter["train"],
        "left_out_of_train": counter["left_out_of_train"],
        "validation": counter["validation"],
        "passed_by": {policy: counter[policy] for policy in TRIVIAL_POLICIES},
    }


def _summary(counter: Counter[str]) -> dict[str, Any]:
    tasks = counter["tasks"]
    accepted = counter["accepted"]
    out: dict[str, Any] = {
        "tasks": tasks,
        "fully_valid_tasks": counter["fully_valid_tasks"],
        "fully_valid_tasks_normalized": counter["fully_valid_tasks_normalized"],
        "actions": counter["actions"],
        "valid_actions": counter["valid_actions"],
        "valid_action_share": round(counter["valid_actions"] / counter["actions"], 4) if counter["actions"] else None,
        "valid_actions_normalized": counter["valid_actions_normalized"],
        "no_action_tasks": counter["no_action_tasks"],
        "no_write_tool_tasks": counter["no_write_tasks"],
        "no_write_tool_share": round(counter["no_write_tasks"] / tasks, 4) if tasks else None,
        "accepted": accepted,
        "rejected": tasks - accepted,
        "executable_tasks": counter["executable_tasks"],
        "gold_tool_errors": counter["gold_tool_errors"],
        "read_only_tasks": counter["read_only_tasks"],
        "read_only_share": round(counter["read_only_tasks"] / accepted, 4) if accepted else None,
        "silent_pass": {str(b): counter[f"silent_pass:{b}"] for b in BASES},
    }
    return out


def _report(stats: dict[str, Counter[str]], table: AliasTable, used: bool) -> dict[str, Any]:
    total: Counter[str] = Counter()
    for counter in stats.values():
        total.update(counter)
    return {
        "total": _summary(total),
        "domains": {d: _summary(c) for d, c in sorted(stats.items())},
        "normalization": {
            "applied": used,
            "aliases": [dataclasses.asdict(a) for a in table.aliases],
            "not_applied": table.rejected,
        },
    }
