"""The reward: τ-bench's final-state and outputs checks plus action matching, combined by a basis.

Components, each computed on the episode's final state however the episode ended:
- ``db``: the final database equals the one the task's gold actions produce from the same initial
  state (terminate tools skipped), compared record by record over the records either touched;
- ``outputs``: every expected output appears in some reply to the user (τ-bench's substring rule);
- ``actions``: the fraction of gold actions the agent performed (same tool, equal values for the
  gold's schema-known arguments, order-insensitive, one performed action per gold action;
  think-kind tools such as ``think``/``calculate`` excluded by default).
Every basis requires the outputs when the task has some. ``auto`` uses ``db+outputs`` when the gold
changes the database; when it changes nothing, action matching decides, and the database must still
be unchanged (``db+outputs+actions``): otherwise an agent that makes a change the policy forbids,
on a task whose right answer is a refusal, would score as well as one that refuses. With no gold
actions it falls back to ``db+outputs`` and flags the task as trivially passable.

The ``judge`` component (:mod:`taurl.core.reward_judge`) checks the task's natural-language assertions
with a judge model: the basis ``db+outputs+judge`` requires every one met, and ``judge_weight`` w
mixes it in as a shaping term, ``(1 - w) * reward + w * fraction met``. The judge is asked once,
when the episode ends (by the environment); this module only combines its verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taurl.core.db import Database, clone
from taurl.core.hashing import canonical_json
from taurl.core.reward_judge import ChatModel
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, JudgeResult, RewardBasis, RewardBreakdown, Task, TerminatedBy, ToolKind

PASS_TOLERANCE = 1e-6  # τ-bench's success: a reward this close to 1 passes


def passed(reward: float | None) -> bool:
    """Whether an episode that scored ``reward`` passed (τ-bench's success, what pass^k counts): its
    reward is within :data:`PASS_TOLERANCE` of 1. None (no reward) did not."""
    return reward is not None and abs(reward - 1.0) <= PASS_TOLERANCE


class InvalidTaskError(ValueError):
    """A task whose gold actions cannot be executed: it names the action and what is wrong."""


@dataclass(frozen=True)
class RewardConfig:
    basis: RewardBasis | None = None  # None: the task's own basis
    zero_on_max_steps: bool = False  # τ-bench's runner scores an episode cut off at its step limit 0
    match_think_tools: bool = False
    judge_weight: float = 0.0  # the judge as a shaping term: (1 - w) * reward + w * fraction of assertions met
    judge: ChatModel | None = None  # the judge model, when a basis or judge_weight needs it

    def needs_judge(self, task: Task) -> bool:
        return self.judge_weight > 0 or (self.basis or task.reward_basis).uses_judge


@dataclass(frozen=True)
class GoldState:
    database: Database
    changes_db: bool
    scored_actions: tuple[Action, ...]


def task_start(initial: Database, task: Task) -> Database:
    """A fresh fork of ``initial`` holding the task's own initial records (its ``initial_state``)."""
    db = initial.fork()
    for table_name, records in task.initial_state.items():
        table = db[table_name]
        for key, record in records.items():
            if key in table:
                current = table.edit(key)
                current.clear()
                current.update(clone(record))
            else:
                table.insert(key, clone(record))
    return db


def gold_state(task: Task, initial: Database, tools: ToolRegistry) -> GoldState:
    """Replay the task's gold actions from the task's start on ``initial`` (``initial`` is untouched)."""
    db = task_start(initial, task)
    for index, action in enumerate(task.actions):
        if action.is_respond:
            continue
        problem = tools.check(action)
        if problem:
            raise InvalidTaskError(
                f"task {task.domain}/{task.id}: gold action {index} ({action.name}) is invalid: {problem}"
            )
        if tools[action.name].kind is ToolKind.TERMINATE:
            continue
        tools.invoke(db, action)
    changes = bool(db.diff(task_start(initial, task)))
    return GoldState(db, changes, tuple(a for a in task.actions if not a.is_respond))


class GoldCache:
    """Gold states per (database base, task, tool set, task initial state): computed once per process,
    O(gold actions)."""

    def __init__(self) -> None:
        self._states: dict[tuple[int, str], GoldState] = {}

    def get(self, task: Task, initial: Database, tools: ToolRegistry) -> GoldState:
        key = (
            initial.base_id,
            canonical_json(
                [task.domain, task.id, task.tool_set, [a.to_dict() for a in task.actions], task.initial_state]
            ),
        )
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = gold_state(task, initial, tools)
        return state


def output_found(output: str, replies: Sequence[str]) -> bool:
    """τ-bench's rule: the lower-cased output is a substring of a lower-cased reply with commas removed."""
    needle = output.lower()
    return any(needle in reply.lower().replace(",", "") for reply in replies)


def match_actions(
    gold: Sequence[Action], taken: Sequence[Action], tools: ToolRegistry, include_think: bool
) -> tuple[list[int], list[int]]:
    """Indices of gold actions matched and missing. Only arguments the tool's schema knows are compared."""
    used: set[int] = set()
    matched, missing = [], []
    for index, want in enumerate(gold):
        tool = tools[want.name] if want.name in tools else None
        if tool is not None and tool.kind is ToolKind.THINK and not include_think:
            continue
        known = set(tool.parameters["properties"]) if tool else set(want.kwargs)
        compared = {k: v for k, v in want.kwargs.items() if k in known}
        hit = next(
            (
                i
                for i, got in enumerate(taken)
                if i not in used
                and got.name == want.name
                and all(k in got.kwargs and got.kwargs[k] == v for k, v in compared.items())
            ),
            None,
        )
        if hit is None:
            missing.append(index)
        else:
            used.add(hit)
            matched.append(index)
    return matched, missing


def effective_basis(requested: RewardBasis, gold: GoldState, tools: ToolRegistry) -> RewardBasis:
    if requested is not RewardBasis.AUTO:
        return requested
    scored = [a for a in gold.scored_actions if a.name in tools and tools[a.name].kind is not ToolKind.THINK]
    if gold.changes_db or not scored:
        return RewardBasis.DB_OUTPUTS
    return RewardBasis.DB_OUTPUTS_ACTIONS


def compute_reward(
    task: Task,
    final: Database,
    gold: GoldState,
    taken: Sequence[Action],
    tools: ToolRegistry,
    terminated_by: TerminatedBy | None,
    config: RewardConfig | None = None,
    judged: JudgeResult | None = None,
) -> RewardBreakdown:
    """Score the final state; ``judged`` is the judge's verdict, required when the config needs one."""
    config = config or RewardConfig()
    if judged is None and config.needs_judge(task):
        raise ValueError(f"task {task.domain}/{task.id}: this reward needs the judge's verdict")
    requested = config.basis or task.reward_basis
    basis = effective_basis(requested, gold, tools)
    diffs = tuple(final.diff(gold.database))
    replies = [a.kwargs.get("content", "") for a in taken if a.is_respond]
    missing_outputs = tuple(o for o in task.outputs if not output_found(o, replies))
    tool_actions = [a for a in taken if not a.is_respond and not a.is_parse_error]
    matched, missing = match_actions(gold.scored_actions, tool_actions, tools, config.match_think_tools)
    considered = len(matched) + len(missing)
    actions_score = len(matched) / considered if considered else 1.0

    db_ok = not diffs
    outputs_ok = not missing_outputs
    reward = {
        RewardBasis.DB_OUTPUTS: float(db_ok and outputs_ok),
        RewardBasis.ACTIONS: actions_score if outputs_ok else 0.0,
        RewardBasis.DB_OUTPUTS_ACTIONS: actions_score if db_ok and outputs_ok else 0.0,
        RewardBasis.DB_OUTPUTS_JUDGE: float(db_ok and outputs_ok and judged is not None and judged.all_met),
    }[basis]
    if config.judge_weight > 0 and judged is not None:
        reward = (1 - config.judge_weight) * reward + config.judge_weight * judged.score
    if config.zero_on_max_steps and terminated_by is TerminatedBy.MAX_STEPS:
        reward = 0.0
    trivially_passable = not gold.changes_db and not task.outputs and basis is RewardBasis.DB_OUTPUTS
    return RewardBreakdown(
        reward=reward,
        basis=basis,
        requested_basis=requested,
        db_match=db_ok,
        db_diff=diffs,
        outputs_expected=tuple(task.outputs),
        outputs_missing=missing_outputs,
        actions_score=actions_score,
        actions_matched=tuple(matched),
        actions_missing=tuple(missing),
        gold_changes_db=gold.changes_db,
        trivially_passable=trivially_passable,
        terminated_by=terminated_by,
        judge=judged,
    )
