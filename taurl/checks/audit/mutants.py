"""The mutants: a task's gold trajectory changed in ways a policy could exploit, each with what it must score.

The gold trajectory is the oracle's (:meth:`TaskContext.trajectory
<taurl.checks.audit.scoring.TaskContext.trajectory>`); a mutant changes it one way (a write dropped, an
argument given another valid value drawn from the database or other tasks, an unrelated write added, reads
inserted, writes swapped, an output left out) or replaces it with a trivial policy's (do nothing, refuse,
transfer at once). A mutant only counts when its changed call still succeeds, so trying candidates plays
them (:meth:`TaskContext.run <taurl.checks.audit.scoring.TaskContext.run>`). Everything is deterministic:
candidates are taken in the database's and the task list's order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from typing import Any

from taurl.checks.audit.scoring import TaskContext
from taurl.core.reward import RewardConfig
from taurl.core.types import Action, Task, ToolKind

MAX_CANDIDATES = 8  # alternative values tried per argument before it counts as having none
MAX_PLACES = 32  # places in the database an argument value is looked up in, the smallest first
MAX_POOL_TRIES = 12  # other tasks' writes tried for the forbidden-write mutant
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


def value_index(roots: Iterable[Any], tasks: Sequence[Task]) -> ValueIndex:
    """Where each string the tasks' gold calls pass sits in the database (``roots``, as plain data)."""
    wanted = {s for t in tasks for a in t.actions if not a.is_respond for s in _string_leaves(a.kwargs)}
    return ValueIndex(roots, wanted)


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


# ---------------------------------------------------------------- the mutants of one task


def mutants(
    ctx: TaskContext, index: ValueIndex, pools: Pools, position: int, notes: list[str], config: RewardConfig
) -> Iterator[Mutant]:
    """Every mutant of the task, in a fixed order; ``notes`` gets the mutants that could not be built, and why."""
    work, task = ctx.work, ctx.task
    yield Mutant("gold", MutantKind.GOLD, ctx.trajectory(work), True)
    writes = [i for i, a in enumerate(work) if ctx.kind(a) is ToolKind.WRITE]
    for i in writes:
        yield Mutant(f"drop:{i}:{work[i].name}", MutantKind.DROP_WRITE, ctx.trajectory(work[:i] + work[i + 1 :]), False)
    for i in writes:
        yield from _argument_mutants(ctx, index, pools, i, notes, config)
    yield from _forbidden_write(ctx, pools, position, notes, config)
    reads = pools.reads(ctx, position)
    if reads:
        padded = [x for n, a in enumerate(work) for x in (reads[n % len(reads)], a)]
        padded.append(reads[len(work) % len(reads)])
        yield Mutant("extra_reads", MutantKind.EXTRA_READS, ctx.trajectory(padded), True)
    else:
        notes.append("extra_reads: no read-only call to insert")
    yield from _reorders(ctx, writes, config)
    for n, output in enumerate(task.outputs):
        kept = task.outputs[:n] + task.outputs[n + 1 :]
        yield Mutant(f"output:{n}:{output}", MutantKind.OUTPUT_REMOVED, ctx.trajectory(work, kept), False)
    yield from trivial_mutants(ctx, notes)


def trivial_mutants(ctx: TaskContext, notes: list[str]) -> Iterator[Mutant]:
    """The trivial policies' trajectories: no reply at all, one refusal, a transfer to a human at once."""
    task = ctx.task
    calls = [a for a in task.actions if not a.is_respond and ctx.kind(a) is not ToolKind.THINK]
    silent_is_gold = not calls and not task.outputs
    # a τ² user acts on its device only once the agent replies: saying nothing is then not the gold
    yield Mutant("do_nothing", MutantKind.DO_NOTHING, (), silent_is_gold and not ctx.user_calls)
    yield Mutant("refuse", MutantKind.REFUSE, (Action.respond(REFUSAL),), silent_is_gold)
    transfer = _transfer_action(ctx)
    if transfer is None:
        notes.append("transfer: the tool set has no terminate tool taking only text")
    else:
        transfer_is_gold = bool(calls) and all(ctx.kind(a) is ToolKind.TERMINATE for a in calls)
        yield Mutant("transfer", MutantKind.TRANSFER, (transfer,), transfer_is_gold and not task.outputs)


def _argument_mutants(
    ctx: TaskContext, index: ValueIndex, pools: Pools, i: int, notes: list[str], config: RewardConfig
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
                if ctx.run(trajectory, config)[1][i]:  # work actions come first, one tool call each
                    yield Mutant(f"{label}={candidate}", MutantKind.ARGUMENT, trajectory, False)
                    break
            else:
                why = f"the tool refuses all {len(candidates)} tried" if candidates else "none found"
                notes.append(f"{label}: no other valid value ({why})")


def _forbidden_write(
    ctx: TaskContext, pools: Pools, position: int, notes: list[str], config: RewardConfig
) -> Iterator[Mutant]:
    own = {s for a in ctx.task.actions for s in _string_leaves(a.kwargs)}
    tries = 0
    for other in pools.writes(ctx, position):
        if tries >= MAX_POOL_TRIES:
            break
        if ctx.tools.check(other) or own & set(_string_leaves(other.kwargs)):
            continue  # not in this tool set, or touches this task's records: not unrelated
        tries += 1
        trajectory = ctx.trajectory([*ctx.work, other])
        if ctx.run(trajectory, config)[1][len(ctx.work)]:
            yield Mutant(f"forbidden:{other.name}", MutantKind.FORBIDDEN_WRITE, trajectory, False)
            return
    notes.append("forbidden_write: no unrelated write from another task succeeds here")


def _reorders(ctx: TaskContext, writes: list[int], config: RewardConfig) -> Iterator[Mutant]:
    touched = _touched_by_each(ctx)
    for a, b in zip(writes, writes[1:], strict=False):
        if touched[a] & touched[b]:
            continue
        work = list(ctx.work)
        work[a], work[b] = work[b], work[a]
        trajectory = ctx.trajectory(work)
        ok = ctx.run(trajectory, config)[1]
        if ok[a] and ok[b]:
            yield Mutant(f"reorder:{a}<->{b}", MutantKind.REORDER, trajectory, None)
        # else the later write needs the earlier one (a payment before a reactivation): not independent


def _transfer_action(ctx: TaskContext) -> Action | None:
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


def _touched_by_each(ctx: TaskContext) -> list[set[tuple[str, str]]]:
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


class Pools:
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

    def writes(self, ctx: TaskContext, position: int) -> Iterator[Action]:
        for task in self._after(position):
            yield from (a for a in task.actions if ctx.kind(a) is ToolKind.WRITE)

    def reads(self, ctx: TaskContext, position: int) -> list[Action]:
        """This task's own reads, else the first read of a later task that this tool set has."""
        own = [a for a in ctx.work if ctx.kind(a) is ToolKind.READ]
        if own:
            return own
        for task in self._after(position):
            for action in task.actions:
                if ctx.kind(action) is ToolKind.READ and not ctx.tools.check(action):
                    return [action]
        return []
