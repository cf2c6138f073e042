"""Typed records that cross module boundaries; their field names are the recording schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RESPOND = "respond"
PARSE_ERROR = "__parse_error__"  # a policy output that attempted a tool call but could not be parsed
STOP_TOKEN = "###STOP###"


class ToolKind(StrEnum):
    READ = "read"
    WRITE = "write"
    THINK = "think"
    TERMINATE = "terminate"


class RewardBasis(StrEnum):
    DB_OUTPUTS = "db+outputs"
    ACTIONS = "actions"
    DB_OUTPUTS_ACTIONS = "db+outputs+actions"
    DB_OUTPUTS_JUDGE = "db+outputs+judge"  # and every natural-language assertion met (a judge model decides)
    AUTO = "auto"

    @property
    def uses_judge(self) -> bool:
        return self is RewardBasis.DB_OUTPUTS_JUDGE


class TerminatedBy(StrEnum):
    USER_STOP = "user_stop"
    TRANSFER = "transfer"
    MAX_STEPS = "max_steps"
    AGENT_ERROR = "agent_error"
    # the episode did not finish: no reward was computed, it scores 0
    ERROR = "error"  # an exception inside the episode (a model call that failed for good, a bug...)
    INTERRUPTED = "interrupted"  # the run was stopped while the episode ran
    TRUNCATED = "truncated"  # the trainer cut the trajectory (SkyRL's length limit)

    @property
    def finished(self) -> bool:
        """Whether the episode ran to an end the environment scored."""
        return self not in UNFINISHED


UNFINISHED = frozenset({TerminatedBy.ERROR, TerminatedBy.INTERRUPTED, TerminatedBy.TRUNCATED})


@dataclass(frozen=True)
class Action:
    """One agent move: a tool call, or ``respond`` with ``{"content": text}`` for a reply to the user."""

    name: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def respond(cls, content: str) -> Action:
        return cls(RESPOND, {"content": content})

    @property
    def is_respond(self) -> bool:
        return self.name == RESPOND

    @classmethod
    def parse_error(cls, error: str, raw: str) -> Action:
        return cls(PARSE_ERROR, {"error": error, "raw": raw})

    @property
    def is_parse_error(self) -> bool:
        return self.name == PARSE_ERROR

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": self.kwargs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Action:
        return cls(str(data["name"]), dict(data.get("kwargs") or {}))


@dataclass(frozen=True)
class Task:
    """A user goal with its ground truth. ``actions`` are the gold actions; ``outputs`` must be said to the user.

    ``initial_state`` holds records put into this task's initial database (``{table: {key: record}}``,
    added or replacing the base's), applied on reset and before the gold replay. ``nl_assertions``
    are statements about the conversation a judge model checks (the ``judge`` reward component)."""

    id: str
    domain: str
    instruction: str
    actions: tuple[Action, ...] = ()
    outputs: tuple[str, ...] = ()
    split: str = "test"
    user_id: str | None = None
    reward_basis: RewardBasis = RewardBasis.AUTO
    tool_set: str = "default"
    metadata: dict[str, Any] = field(default_factory=dict)
    initial_state: dict[str, dict[str, Any]] = field(default_factory=dict)
    nl_assertions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "domain": self.domain,
            "split": self.split,
            "user_id": self.user_id,
            "instruction": self.instruction,
            "actions": [a.to_dict() for a in self.actions],
            "outputs": list(self.outputs),
            "reward_basis": str(self.reward_basis),
            "tool_set": self.tool_set,
            "metadata": self.metadata,
        }
        if self.initial_state:  # absent when empty: tasks without one serialise as before
            data["initial_state"] = self.initial_state
        if self.nl_assertions:  # likewise
            data["nl_assertions"] = list(self.nl_assertions)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        return cls(
            id=str(data["id"]),
            domain=data["domain"],
            split=data.get("split", "test"),
            user_id=data.get("user_id"),
            instruction=data["instruction"],
            actions=tuple(Action.from_dict(a) for a in data.get("actions", [])),
            outputs=tuple(data.get("outputs", [])),
            reward_basis=RewardBasis(data.get("reward_basis", "auto")),
            tool_set=data.get("tool_set", "default"),
            metadata=dict(data.get("metadata") or {}),
            initial_state=dict(data.get("initial_state") or {}),
            nl_assertions=tuple(data.get("nl_assertions") or ()),
        )


@dataclass(frozen=True)
class ToolResult:
    """What executing one action produced. ``error`` is None on success, else a short class name."""

    action: Action
    observation: str
    kind: ToolKind | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RecordDiff:
    """One database record where the episode's final state and the gold state differ."""

    table: str
    key: str
    actual: Any
    expected: Any


@dataclass(frozen=True)
class JudgeResult:
    """The judge component: per assertion whether it was met and why. An assertion whose verdict was
    empty, unparseable, missing, duplicated or conflicting is not met, and ``flags`` says which."""

    model: str
    prompt_version: str
    assertions: tuple[str, ...]
    met: tuple[bool, ...]
    reasons: tuple[str, ...]
    flags: tuple[str, ...] = ()
    call_keys: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        """The fraction of assertions met (1.0 with none: a task without assertions is flagged instead)."""
        return sum(self.met) / len(self.met) if self.met else 1.0

    @property
    def all_met(self) -> bool:
        return all(self.met)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_version": self.prompt_version,
            "assertions": list(self.assertions),
            "met": list(self.met),
            "reasons": list(self.reasons),
            "flags": list(self.flags),
            "score": self.score,
            "call_keys": list(self.call_keys),
        }


@dataclass(frozen=True)
class RewardBreakdown:
    """The scalar reward with every component that produced it."""

    reward: float
    basis: RewardBasis
    requested_basis: RewardBasis
    db_match: bool
    db_diff: tuple[RecordDiff, ...]
    outputs_expected: tuple[str, ...]
    outputs_missing: tuple[str, ...]
    actions_score: float
    actions_matched: tuple[int, ...]
    actions_missing: tuple[int, ...]
    gold_changes_db: bool
    trivially_passable: bool
    terminated_by: TerminatedBy | None = None
    judge: JudgeResult | None = None

    @property
    def outputs_score(self) -> float:
        if not self.outputs_expected:
            return 1.0
        return 1.0 - len(self.outputs_missing) / len(self.outputs_expected)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (field by field rather than ``dataclasses.asdict``, which deep-copies every record)."""
        return {
            "reward": self.reward,
            "basis": str(self.basis),
            "requested_basis": str(self.requested_basis),
            "db_match": self.db_match,
            "db_diff": [
                {"table": d.table, "key": d.key, "actual": d.actual, "expected": d.expected} for d in self.db_diff
            ],
            "outputs_expected": list(self.outputs_expected),
            "outputs_missing": list(self.outputs_missing),
            "outputs_score": self.outputs_score,
            "actions_score": self.actions_score,
            "actions_matched": list(self.actions_matched),
            "actions_missing": list(self.actions_missing),
            "gold_changes_db": self.gold_changes_db,
            "trivially_passable": self.trivially_passable,
            "terminated_by": str(self.terminated_by) if self.terminated_by else None,
            # absent when no judge ran: breakdowns without one serialise as before
            **({"judge": self.judge.to_dict()} if self.judge is not None else {}),
        }


@dataclass(frozen=True)
class ModelCall:
    """One LLM call as recorded: which request (its key and canonical form), what came back, what it cost."""

    key: str
    namespace: str
    model: str
    sample_index: int
    request: dict[str, Any]
    response: dict[str, Any]
    cache_hit: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    attempts: int = 1
    # why the tokens are the request's estimate rather than the server's count: "missing", "negative" or
    # "implausible" usage (None: the server's count)
    usage_flag: str | None = None


@dataclass(frozen=True)
class Step:
    """One action and what answered it: the user (``source="user"``) or a tool (its name).

    ``requestor`` is who acted: the agent (``assistant``), or the simulated user calling a tool of its
    own (``user``: τ²'s dual control, where the user acts on its device). A user's tool calls follow
    the agent's step they answered (or open the trace, before the agent's first turn); the agent never
    sees them."""

    action: Action
    observation: str
    source: str
    error: str | None = None
    requestor: str = "assistant"

    @property
    def by_user(self) -> bool:
        return self.requestor == "user"


@dataclass
class EpisodeResult:
    """An episode as it ended: the conversation in OpenAI chat format, every step, every model call.

    A finished episode carries its reward breakdown; one that did not finish (errored, interrupted,
    truncated) has none, scores 0, and ``error`` says why when an exception ended it."""

    task: Task
    trial: int
    messages: list[dict[str, Any]]
    trace: list[Step]
    breakdown: RewardBreakdown | None
    terminated_by: TerminatedBy
    model_calls: list[ModelCall] = field(default_factory=list)
    error: str | None = None
    started_at: float | None = None  # wall clock (seconds since the epoch): recorded, never compared
    duration_ms: float | None = None

    @property
    def reward(self) -> float:
        return self.breakdown.reward if self.breakdown is not None else 0.0

    @property
    def actions(self) -> list[Action]:
        """The agent's actions (a user's own tool calls are steps, not actions of the agent)."""
        return [step.action for step in self.trace if not step.by_user]

    @property
    def steps(self) -> int:
        return len(self.trace)
