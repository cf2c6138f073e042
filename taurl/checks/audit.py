"""Reward audit: mutation testing of every task's reward against its gold trajectory.

Replay proves a reward did not change; this checks it was right. For each task the gold trajectory
(the oracle's: gold tool calls, one reply carrying every expected output, then any transfer) is
mutated in ways a policy could exploit, and each mutant is scored as the domain scores a recorded
episode: its actions played on the task's start state, then evaluated (:meth:`Domain.play
<taurl.core.domain.Domain.play>`, ``evaluate``; no user simulator: the mutants are whole trajectories). A mutant whose score contradicts what it must score is a *loophole*:

- ``gold``: the gold itself must score 1;
- ``drop_write``: each gold write dropped must score < 1 (else the write is a no-op: a task defect);
- ``argument``: each write argument changed to another valid value (a sibling in the database:
  another variant, payment method, flight, date...; another enum value; a number ±1) must score < 1
  (else the reward does not check that argument);
- ``forbidden_write``: an unrelated write (another task's, on other records) added must score < 1;
- ``extra_reads``: read-only calls inserted must still score 1;
- ``output_removed``: each expected output left out of the reply must score < 1;
- ``do_nothing``, ``transfer``, ``refuse``: must score < 1 unless the gold is exactly that (a task a
  silent agent passes is trivially passable).

``reorder`` mutants swap adjacent gold writes that touch disjoint records and both still succeed
swapped: an order-sensitive reward is reported, not counted as a loophole. Everything is
deterministic: candidates are taken in the database's and the task list's order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import chain
from pathlib import Path
from typing import Any

from taurl.core.domain import Domain
from taurl.core.reward import InvalidTaskError, RewardConfig, passed
from taurl.core.types import Action, RewardBasis, Step, Task, TerminatedBy, ToolKind
from taurl.domains import DOMAIN_NAMES
from taurl.domains.base import DataError, read_json
from taurl.registry import get_domain

MAX_CANDIDATES = 8  # alternative values tried per argument before it counts as having none
MAX_PLACES = 32  # places in the database an argument value is looked up in, the smallest first
MAX_POOL_TRIES = 12  # other tasks' writes tried for the forbidden-write mutant
DONE_REPLY = "Your request has been handled."
REFUSAL = "I'm sorry, but I can't help with that request."
TRANSFER_SUMMARY = "The customer asked to speak with a human agent."


class MutantKind(StrEnum):
    GOLD = "gold"
    DROP_WRITE = "drop_write"
    ARGUMENT = "argument"
    FORBIDDEN_WRITE = "forbidden_write"
    EXTRA_READS = "extra_reads"
    REORDER = "reorder"
    OUTPUT_REMOVED = "output_removed"
    DO_NOTHING = "do_nothing"
    TRANSFER = "transfer"
    REFUSE = "refuse"


LOOPHOLE_KINDS = tuple(k for k in MutantKind if k is not MutantKind.REORDER)


@dataclass(frozen=True)
class Mutant:
    """A trajectory and what it must score: ``must_pass`` True (1), False (< 1), None (only reported)."""

    id: str
    kind: MutantKind
    actions: tuple[Action, ...]
    must_pass: bool | None


@dataclass(frozen=True)
class MutantResult:
    mutant: str
    kind: MutantKind
    expected: str  # "1", "<1" or "any"
    observed: float
    loophole: bool
    actions: tuple[Action, ...] = ()  # the mutant trajectory

    def to_dict(self) -> dict[str, Any]:
        return {
            "mutant": self.mutant,
            "kind": str(self.kind),
            "expected": self.expected,
            "observed": self.observed,
            "loophole": self.loophole,
        }


@dataclass
class TaskAudit:
    task_id: str
    split: str
    results: list[MutantResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # mutants that could not be built, and why

    @property
    def loopholes(self) -> list[MutantResult]:
        return [r for r in self.results if r.loophole]

    @property
    def order_sensitive(self) -> bool:
        return any(r.kind is MutantKind.REORDER and not passed(r.observed) for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "split": self.split,
            "results": [r.to_dict() for r in self.results],
            "notes": self.notes,
        }


@dataclass
class DomainAudit:
    domain: str
    split: str
    tasks: list[TaskAudit] = field(default_factory=list)

    @property
    def mutants(self) -> int:
        return sum(len(t.results) for t in self.tasks)

    def loopholes(self) -> list[tuple[TaskAudit, MutantResult]]:
        return [(t, r) for t in self.tasks for r in t.loopholes]

    def counts(self) -> dict[str, int]:
        found = Counter(str(r.kind) for _, r in self.loopholes())
        return {str(kind): found[str(kind)] for kind in LOOPHOLE_KINDS}

    @property
    def order_sensitive(self) -> int:
        return sum(t.order_sensitive for t in self.tasks)

    @property
    def do_nothing_passes(self) -> int:
        return sum(any(r.kind is MutantKind.DO_NOTHING and passed(r.observed) for r in t.results) for t in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "split": self.split,
            "tasks": len(self.tasks),
            "mutants": self.mutants,
            "loopholes": self.counts(),
            "order_sensitive": self.order_sensitive,
            "do_nothing_passes": self.do_nothing_passes,
            "task_results": [t.to_dict() for t in self.tasks],
        }


# ---------------------------------------------------------------- values drawn from the database


def _string_leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _string_leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _string_leaves(item)


class ValueIndex:
    """Where each wanted string sits in the database, so another *valid* value can be drawn for it:
    the other keys of a mapping it keys (a user's other payment methods, a product's other variants),
    the other items of a list it is in, the same field of sibling records (other flights' dates).
    Places are kept as references and ordered smallest first: the nearest alternatives come first."""

    def __init__(self, roots: Iterable[Any], wanted: set[str]):
        """``roots``: the database as plain data (:meth:`taurl.core.domain.Domain.plain_data`)."""
        self._places: dict[str, dict[tuple[int, str, Any], tuple[int, int, str, Any, Any]]] = {}
        for root in roots:
            self._walk(root, None, wanted)

    def _add(self, value: str, container: Any, how: str, key: Any = None) -> None:
        places = self._places.setdefault(value, {})
        place = (id(container), how, key)  # a field of a table's records is one place, not one per record
        if place not in places:
            places[place] = (len(container), len(places), how, container, key)

    def _walk(self, node: Any, parent: Any, wanted: set[str]) -> None:
        if isinstance(node, Mapping):
            for key in node:
                item = node[key]
                if key in wanted:
                    self._add(key, node, "keys")
                if isinstance(item, str):
                    if item in wanted and parent is not None:
                        self._add(item, parent, "field", key)
                elif isinstance(item, Mapping | list):
                    self._walk(item, node, wanted)
        elif isinstance(node, list):
            for item in node:
                if isinstance(item, str):
                    if item in wanted:
                        self._add(item, node, "items")
                elif isinstance(item, Mapping | list):
                    self._walk(item, node, wanted)

    def alternatives(self, value: str) -> Iterator[str]:
        seen = {value}
        places = sorted(self._places.get(value, {}).values(), key=lambda p: p[:2])
        for _, _, how, container, key in places[:MAX_PLACES]:
            if how == "keys":
                candidates: Iterable[Any] = container
            elif how == "items":
                candidates = container
            else:
                siblings = container.values() if isinstance(container, Mapping) else container
                candidates = (s.get(key) for s in siblings if isinstance(s, Mapping))
            for candidate in candidates:
                if isinstance(candidate, str) and candidate not in seen:
                    seen.add(candidate)
                    yield candidate


def _leaf_paths(value: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaf_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaf_paths(item, (*path, index))
    else:
        yield path, value


def _shape(path: tuple) -> tuple:
    """A leaf's path with list positions left out: the same argument in any list element."""
    return tuple(part for part in path if not isinstance(part, int))


def _path_text(path: tuple) -> str:
    text = str(path[0])
    for part in path[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _schema_at(schema: Mapping[str, Any], path: tuple) -> Mapping[str, Any]:
    for part in path:
        if isinstance(part, int):
            schema = schema.get("items", {})
        else:
            schema = schema.get("properties", {}).get(part, {})
    return schema


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, list):
        return [_replaced(item, rest, new) if i == head else item for i, item in enumerate(value)]
    return {k: _replaced(v, rest, new) if k == head else v for k, v in value.items()}


# ---------------------------------------------------------------- the audit


class _TaskContext:
    """One task's tools, initial database, gold state and gold trajectory."""

    def __init__(self, task: Task, domain: Domain, initial: Any):
        self.task = task
        self.tools = domain.tools_for(task.tool_set)
        self.initial = initial
        self.domain = domain
        self.gold = domain.gold(task, initial)  # a gold action that cannot run fails here; None: τ²'s own rules
        self.user_calls = domain.user_gold(task)
        calls = [a for a in task.actions if not a.is_respond]
        self.endings = [a for a in calls if self.kind(a) is ToolKind.TERMINATE]
        self.work = [a for a in calls if self.kind(a) is not ToolKind.TERMINATE]
        self._last: tuple[Sequence[Action], tuple[float, list[bool]]] | None = None

    def kind(self, action: Action) -> ToolKind | None:
        return self.tools[action.name].kind if action.name in self.tools else None

    def trajectory(self, work: Sequence[Action], outputs: Sequence[str] | None = None) -> tuple[Action, ...]:
        """Tool calls, then one reply with the outputs (``"; "``-joined: τ-bench's check drops commas),
        then the gold's transfer if it has one: what the oracle agent does."""
        outputs = self.task.outputs if outputs is None else outputs
        return (*work, Action.respond("; ".join(outputs) if outputs else DONE_REPLY), *self.endings)

    def run(self, actions: Sequence[Action], config: RewardConfig) -> tuple[float, list[bool]]:
        """The reward of a trajectory, and whether each tool call in it answered without an error.
        The last answer is kept: a candidate tried for success is the mutant scored next."""
        if self._last is not None and self._last[0] is actions:
            return self._last[1]
        steps, pending = [], self.user_calls
        for action in actions:
            steps.append(Step(action, "", ""))
            if action.is_respond:  # the scripted τ² user's device actions come at the first reply
                steps += [Step(call, "", "", requestor="user") for call in pending]
                pending = ()
        played = self.domain.play(self.task, self.initial, steps)
        ended = played.ended or TerminatedBy.USER_STOP
        reward = self.domain.evaluate(self.task, self.initial, played.state, played.actions, ended, config).reward
        result = (reward, [r.ok for r in played.results])
        self._last = (actions, result)
        return result


class RewardAuditor:
    """Audits the tasks of one domain over one database (a data directory or the built-in data)."""

    def __init__(self, domain: Domain, data_dir: Path | str | None = None, config: RewardConfig | None = None):
        self.domain = domain
        self.initial = domain.database(data_dir)
        self.config = config or RewardConfig()

    def audit(self, tasks: Sequence[Task], split: str) -> DomainAudit:
        wanted = {s for t in tasks for a in t.actions if not a.is_respond for s in _string_leaves(a.kwargs)}
        index = ValueIndex(self.domain.plain_data(self.initial), wanted)
        pools = _Pools(tasks)
        result = DomainAudit(self.domain.name, split)
        for position, task in enumerate(tasks):
            result.tasks.append(self.audit_task(task, index, pools, position))
        return result

    def audit_task(self, task: Task, index: ValueIndex, pools: _Pools, position: int) -> TaskAudit:
        audit = TaskAudit(task.id, task.split)
        try:
            ctx = _TaskContext(task, self.domain, self.initial)
        except InvalidTaskError as exc:  # the gold cannot even run: the one loophole there is
            audit.results.append(MutantResult("gold", MutantKind.GOLD, "1", 0.0, True))
            audit.notes.append(str(exc))
            return audit
        for mutant in self.mutants(ctx, index, pools, position, audit.notes):
            observed, _ = ctx.run(mutant.actions, self.config)
            if mutant.must_pass is None:
                expected, loophole = "any", False
            elif mutant.must_pass:
                expected, loophole = "1", not passed(observed)
            else:
                expected, loophole = "<1", passed(observed)
            audit.results.append(MutantResult(mutant.id, mutant.kind, expected, observed, loophole, mutant.actions))
        return audit

    def mutants(
        self, ctx: _TaskContext, index: ValueIndex, pools: _Pools, position: int, notes: list[str]
    ) -> Iterator[Mutant]:
        work, task = ctx.work, ctx.task
        yield Mutant("gold", MutantKind.GOLD, ctx.trajectory(work), True)
        writes = [i for i, a in enumerate(work) if ctx.kind(a) is ToolKind.WRITE]
        for i in writes:
            yield Mutant(
                f"drop:{i}:{work[i].name}", MutantKind.DROP_WRITE, ctx.trajectory(work[:i] + work[i + 1 :]), False
            )
        for i in writes:
            yield from self._argument_mutants(ctx, index, pools, i, notes)
        yield from self._forbidden_write(ctx, pools, position, notes)
        reads = pools.reads(ctx, position)
        if reads:
            padded = [x for n, a in enumerate(work) for x in (reads[n % len(reads)], a)]
            padded.append(reads[len(work) % len(reads)])
            yield Mutant("extra_reads", MutantKind.EXTRA_READS, ctx.trajectory(padded), True)
        else:
            notes.append("extra_reads: no read-only call to insert")
        yield from self._reorders(ctx, writes)
        for n, output in enumerate(task.outputs):
            kept = task.outputs[:n] + task.outputs[n + 1 :]
            yield Mutant(f"output:{n}:{output}", MutantKind.OUTPUT_REMOVED, ctx.trajectory(work, kept), False)
        yield from self._trivial_mutants(ctx, notes)

    def trivial(self, task: Task) -> tuple[str, ...]:
        """The trivial policies (``do_nothing``, ``refuse``, ``transfer``) whose trajectory earns ``task``'s
        reward in full. Raises :class:`InvalidTaskError` when the task's gold cannot run."""
        ctx = _TaskContext(task, self.domain, self.initial)
        mutants = self._trivial_mutants(ctx, [])
        return tuple(str(m.kind) for m in mutants if passed(ctx.run(m.actions, self.config)[0]))

    def _trivial_mutants(self, ctx: _TaskContext, notes: list[str]) -> Iterator[Mutant]:
        task = ctx.task
        calls = [a for a in task.actions if not a.is_respond and ctx.kind(a) is not ToolKind.THINK]
        silent_is_gold = not calls and not task.outputs
        # a τ² user acts on its device only once the agent replies: saying nothing is then not the gold
        yield Mutant("do_nothing", MutantKind.DO_NOTHING, (), silent_is_gold and not ctx.user_calls)
        yield Mutant("refuse", MutantKind.REFUSE, (Action.respond(REFUSAL),), silent_is_gold)
        transfer = self._transfer_action(ctx)
        if transfer is None:
            notes.append("transfer: the tool set has no terminate tool taking only text")
        else:
            transfer_is_gold = bool(calls) and all(ctx.kind(a) is ToolKind.TERMINATE for a in calls)
            yield Mutant("transfer", MutantKind.TRANSFER, (transfer,), transfer_is_gold and not task.outputs)

    def _argument_mutants(
        self, ctx: _TaskContext, index: ValueIndex, pools: _Pools, i: int, notes: list[str]
    ) -> Iterator[Mutant]:
        action = ctx.work[i]
        schema = ctx.tools[action.name].parameters
        for name in action.kwargs:
            for path, value in _leaf_paths(action.kwargs[name], (name,)):
                label = f"arg:{i}:{action.name}.{_path_text(path)}"
                candidates = _candidates(value, _schema_at(schema, path), index, pools.values(action.name, path))
                for candidate in candidates:
                    kwargs = _replaced(action.kwargs, path, candidate)
                    work = [*ctx.work[:i], Action(action.name, kwargs), *ctx.work[i + 1 :]]
                    trajectory = ctx.trajectory(work)
                    if ctx.run(trajectory, self.config)[1][i]:  # work actions come first, one tool call each
                        yield Mutant(f"{label}={candidate}", MutantKind.ARGUMENT, trajectory, False)
                        break
                else:
                    why = f"the tool refuses all {len(candidates)} tried" if candidates else "none found"
                    notes.append(f"{label}: no other valid value ({why})")

    def _forbidden_write(self, ctx: _TaskContext, pools: _Pools, position: int, notes: list[str]) -> Iterator[Mutant]:
        own = {s for a in ctx.task.actions for s in _string_leaves(a.kwargs)}
        tries = 0
        for other in pools.writes(ctx, position):
            if tries >= MAX_POOL_TRIES:
                break
            if ctx.tools.check(other) or own & set(_string_leaves(other.kwargs)):
                continue  # not in this tool set, or touches this task's records: not unrelated
            tries += 1
            trajectory = ctx.trajectory([*ctx.work, other])
            if ctx.run(trajectory, self.config)[1][len(ctx.work)]:
                yield Mutant(f"forbidden:{other.name}", MutantKind.FORBIDDEN_WRITE, trajectory, False)
                return
        notes.append("forbidden_write: no unrelated write from another task succeeds here")

    def _reorders(self, ctx: _TaskContext, writes: list[int]) -> Iterator[Mutant]:
        touched = _touched_by_each(ctx)
        for a, b in zip(writes, writes[1:], strict=False):
            if touched[a] & touched[b]:
                continue
            work = list(ctx.work)
            work[a], work[b] = work[b], work[a]
            trajectory = ctx.trajectory(work)
            ok = ctx.run(trajectory, self.config)[1]
            if ok[a] and ok[b]:
                yield Mutant(f"reorder:{a}<->{b}", MutantKind.REORDER, trajectory, None)
            # else the later write needs the earlier one (a payment before a reactivation): not independent

    @staticmethod
    def _transfer_action(ctx: _TaskContext) -> Action | None:
        for tool in ctx.tools:
            if tool.kind is ToolKind.TERMINATE:
                properties = tool.parameters["properties"]
                if all(properties[p].get("type") == "string" for p in tool.parameters["required"]):
                    return Action(tool.name, {p: TRANSFER_SUMMARY for p in tool.parameters["required"]})
        return None


def _candidates(value: Any, schema: Mapping[str, Any], index: ValueIndex, used: Sequence[Any]) -> list[Any]:
    """Other valid values for one argument leaf, nearest first, at most MAX_CANDIDATES: another enum
    value, a sibling in the database, a value other tasks' gold gives the same argument; a number ±1."""
    if isinstance(value, bool):
        found: Iterable[Any] = [not value]
    elif isinstance(value, int | float):
        found = [value + 1, value - 1] if value >= 1 else [value + 1]
    elif isinstance(value, str):
        found = chain(schema.get("enum", []), index.alternatives(value), used)
    else:
        found = []
    distinct: list[Any] = []
    for candidate in found:
        if candidate != value and candidate not in distinct:
            distinct.append(candidate)
            if len(distinct) == MAX_CANDIDATES:
                break
    return distinct


def _touched_by_each(ctx: _TaskContext) -> list[set[tuple[str, str]]]:
    """The records each gold work action changes, replaying the gold prefix by prefix (a domain scored
    without a gold state, τ², compares no records: no pair of its writes is known to touch the same record)."""
    if ctx.gold is None:
        return [set() for _ in ctx.work]
    touched, before = [], ctx.domain.start(ctx.initial, ctx.task)
    for i, action in enumerate(ctx.work):
        after = ctx.domain.start(ctx.initial, ctx.task)
        for done in ctx.work[: i + 1]:
            ctx.tools.invoke(after, done)
        touched.append({(d.table, d.key) for d in after.diff(before)} if ctx.kind(action) is ToolKind.WRITE else set())
        before = after
    return touched


class _Pools:
    """Other tasks' gold calls: reads to insert, writes to add (from the next task onwards), and the
    values each argument takes across the task set."""

    def __init__(self, tasks: Sequence[Task]):
        self.tasks = tasks
        self._values: dict[tuple[str, tuple], list[Any]] = {}
        for task in tasks:
            for action in task.actions:
                for path, value in _leaf_paths(action.kwargs):
                    self._values.setdefault((action.name, _shape(path)), []).append(value)

    def values(self, tool: str, path: tuple) -> list[Any]:
        return self._values.get((tool, _shape(path)), [])

    def _after(self, position: int) -> Iterator[Task]:
        for offset in range(1, len(self.tasks)):
            yield self.tasks[(position + offset) % len(self.tasks)]

    def writes(self, ctx: _TaskContext, position: int) -> Iterator[Action]:
        for task in self._after(position):
            yield from (a for a in task.actions if ctx.kind(a) is ToolKind.WRITE)

    def reads(self, ctx: _TaskContext, position: int) -> list[Action]:
        """This task's own reads, else the first read of a later task that this tool set has."""
        own = [a for a in ctx.work if ctx.kind(a) is ToolKind.READ]
        if own:
            return own
        for task in self._after(position):
            for action in task.actions:
                if ctx.kind(action) is ToolKind.READ and not ctx.tools.check(action):
                    return [action]
        return []


# ---------------------------------------------------------------- tasks not worth training on

TRIVIAL_POLICIES = (str(MutantKind.DO_NOTHING), str(MutantKind.REFUSE), str(MutantKind.TRANSFER))
TRIVIAL_REASON = "a do-nothing, refuse or transfer-at-once policy already earns the reward in full"


def trivial_passes(
    tasks: Sequence[Task], data_dirs: Mapping[str, str | Path] | None = None, basis: RewardBasis | None = None
) -> list[tuple[str, ...]]:
    """Per task, in order: which of :data:`TRIVIAL_POLICIES` already earn its reward (1.0 under the
    task's basis, or ``basis``). Empty: only doing the task earns it, so it is worth training on.

    The audit's own mutants, scored offline and deterministically: no reply at all, one refusal, a
    transfer to a human at once (a τ² scripted user's device actions follow the first reply). Tasks of
    any domain mix, built-in, ``tau_bench:`` or ``tau2:``; ``data_dirs`` maps a domain to its data
    directory. Raises :class:`DataError` for an unknown domain and :class:`InvalidTaskError` for a
    task whose gold cannot run, each naming it."""
    auditors: dict[str, RewardAuditor] = {}
    config = RewardConfig(basis=basis)
    verdicts = []
    for task in tasks:
        if task.domain not in auditors:
            where = (data_dirs or {}).get(task.domain)
            auditors[task.domain] = RewardAuditor(get_domain(task.domain), where, config)
        verdicts.append(auditors[task.domain].trivial(task))
    return verdicts


# ---------------------------------------------------------------- baselines


@dataclass(frozen=True)
class Accepted:
    """A loophole the user accepts, with the reason."""

    domain: str
    split: str
    task: str
    mutant: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.domain, self.split, self.task, self.mutant)


BASELINE_FIELDS = ("domain", "split", "task", "mutant")
BASELINE_FILE = "audit_baseline.json"  # beside a built-in domain's tools: the loopholes it accepts, with reasons


def builtin_baseline(domain: str) -> Path | None:
    """The baseline a built-in domain ships (``taurl/domains/<name>/audit_baseline.json``), if it has one."""
    if domain not in DOMAIN_NAMES:
        return None
    path = Path(__file__).parents[1] / "domains" / domain / BASELINE_FILE
    return path if path.is_file() else None


def load_baseline(path: Path) -> list[Accepted]:
    """``{"accepted": [{"domain", "split", "task", "mutant", "reason"}, ...]}`` as JSON or YAML; every
    entry needs a reason."""
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"{path} cannot be read as YAML: {exc}") from exc
    else:
        data = read_json(path)
    rows = data.get("accepted") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise DataError(f'{path}: expected an object with an "accepted" list')
    accepted = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in BASELINE_FIELDS):
            raise DataError(f"{path}: entry {n} needs {', '.join(BASELINE_FIELDS)} as strings")
        if not str(row.get("reason") or "").strip():
            raise DataError(f"{path}: entry {n} ({row['task']} {row['mutant']}) has no reason")
        accepted.append(Accepted(*(row[k] for k in BASELINE_FIELDS), reason=row["reason"]))
    return accepted


@dataclass(frozen=True)
class Finding:
    domain: str
    split: str
    task: str
    result: MutantResult
    reason: str | None = None  # why a baseline accepts it; None: a new loophole

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.domain, self.split, self.task, self.result.mutant)

    def to_dict(self) -> dict[str, Any]:
        found = {"domain": self.domain, "split": self.split, "task": self.task, **self.result.to_dict()}
        return found if self.reason is None else {**found, "reason": self.reason}


@dataclass
class Verdict:
    """Loopholes against a baseline: new ones fail; accepted entries no longer found are stale."""

    new: list[Finding]
    accepted: list[Finding]
    stale: list[Accepted]


def judge(audits: Sequence[DomainAudit], baseline: Sequence[Accepted] = ()) -> Verdict:
    """Entries of tasks that were not audited (another split, a dataset holding some of the tasks) are
    neither used nor stale."""
    reasons = {a.key: a.reason for a in baseline}
    found = [
        Finding(
            audit.domain,
            task.split,
            task.task_id,
            result,
            reasons.get((audit.domain, task.split, task.task_id, result.mutant)),
        )
        for audit in audits
        for task, result in audit.loopholes()
    ]
    keys = {f.key for f in found}
    audited = {(a.domain, t.split, t.task_id) for a in audits for t in a.tasks}
    return Verdict(
        new=[f for f in found if f.reason is None],
        accepted=[f for f in found if f.reason is not None],
        stale=[a for a in baseline if a.key[:3] in audited and a.key not in keys],
    )
