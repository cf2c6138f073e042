"""The environment: τ-bench's protocol over a copy-on-write database.

``reset(task)`` starts an episode and returns the user's opening message; ``step(action)`` runs a
tool or passes a reply to the user simulator. The episode ends when the user says ``###STOP###``,
a terminate tool (``transfer_to_human_agents``) runs, or ``max_steps`` actions were taken; the
reward is then computed on the final state (and, when a judge model is configured, the judge
asked once about the transcript: its model calls are in ``calls``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from taurl.core.domain import Domain, UserSimulator
from taurl.core.reward import RewardConfig
from taurl.core.reward_judge import AssertionJudge, transcript_text
from taurl.core.tools import ToolRegistry
from taurl.core.types import (
    STOP_TOKEN,
    Action,
    ModelCall,
    RewardBreakdown,
    Step,
    Task,
    TerminatedBy,
    ToolKind,
    ToolResult,
)

DEFAULT_MAX_STEPS = 30


@dataclass(frozen=True)
class StepOutcome:
    observation: str
    source: str  # "user" or the tool's name
    done: bool
    tool_result: ToolResult | None = None
    reward: RewardBreakdown | None = None
    terminated_by: TerminatedBy | None = None
    user_steps: tuple[Step, ...] = ()  # the tool calls the user made before its reply (τ²'s dual control)


class EpisodeStateError(RuntimeError):
    pass


class DomainEnv:
    def __init__(
        self,
        domain: Domain,
        user: UserSimulator,
        data_dir: Path | str | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        reward: RewardConfig | None = None,
    ):
        self.domain = domain
        self.user = user
        self.data_dir = data_dir
        self.max_steps = max_steps
        self.reward_config = reward or RewardConfig()
        self._initial = domain.database(data_dir)
        self.db = self._initial.fork()
        self.task: Task | None = None
        self.tools: ToolRegistry = domain.tools
        self.actions: list[Action] = []
        self.observations: list[str] = []
        self.opening = ""
        self.history: list[dict] = []  # the conversation before the opening (a τ² task's message history)
        self.opening_steps: tuple[Step, ...] = ()  # the user's tool calls before its opening message
        self._user_steps_seen = 0
        self.judge: AssertionJudge | None = None
        self.done = False

    @property
    def calls(self) -> list[ModelCall]:
        """The model calls the environment itself made this episode (the judge's)."""
        return self.judge.calls if self.judge is not None else []

    def reset(self, task: Task) -> str:
        if task.domain != self.domain.name:
            raise ValueError(f"task {task.id} is for {task.domain}, this environment is {self.domain.name}")
        self.task = task
        self.tools = self.domain.tools_for(task.tool_set)
        self.db = self.domain.start(self._initial, task)
        self.user.attach(self.db)  # a user acting on the episode's state (τ²'s dual control)
        self.actions = []
        self.observations = []
        self.judge = AssertionJudge(self.reward_config.judge) if self.reward_config.judge is not None else None
        self.done = False
        self._user_steps_seen = 0
        self.history = list(self.domain.history(task))
        self.opening = self.user.reset(task)
        self.opening_steps = self._new_user_steps()
        return self.opening

    def _new_user_steps(self) -> tuple[Step, ...]:
        """The steps a user acting on the episode's state (``tool_steps``) took since last asked."""
        steps = self.user.tool_steps
        new = tuple(steps[self._user_steps_seen :])
        self._user_steps_seen = len(steps)
        return new

    def step(self, action: Action) -> StepOutcome:
        if self.task is None or self.done:
            raise EpisodeStateError("call reset(task) before step(), and not after the episode ended")
        self.actions.append(action)
        terminated_by = None
        result = None
        user_steps: tuple[Step, ...] = ()
        if action.is_respond:
            observation = self.user.step(str(action.kwargs.get("content", "")))
            user_steps = self._new_user_steps()
            source = "user"
            if STOP_TOKEN in observation:
                terminated_by = TerminatedBy.USER_STOP
        elif action.is_parse_error:
            # the policy tried to call a tool and got the format wrong: tell it what was wrong
            result = ToolResult(action, f"Error: {action.kwargs.get('error')}", None, "parse_error")
            observation, source = result.observation, "parser"
        else:
            result = self.tools.invoke(self.db, action)
            observation, source = result.observation, action.name
            if result.kind is ToolKind.TERMINATE and result.ok:
                terminated_by = TerminatedBy.TRANSFER
        self.observations.append(observation)
        if terminated_by is None and len(self.actions) >= self.max_steps:
            terminated_by = TerminatedBy.MAX_STEPS
        if terminated_by is None:
            return StepOutcome(observation, source, False, result, user_steps=user_steps)
        return StepOutcome(
            observation, source, True, result, self.finish(terminated_by), terminated_by, user_steps=user_steps
        )

    def finish(self, terminated_by: TerminatedBy) -> RewardBreakdown:
        """End the episode and score its final state."""
        assert self.task is not None
        self.done = True
        judged = None
        if self.judge is not None:  # asked whenever configured: its verdict is recorded even if unweighted
            judged = self.judge.judge(
                self.task, transcript_text(self.opening, zip(self.actions, self.observations, strict=False))
            )
        return self.domain.evaluate(
            self.task, self._initial, self.db, self.actions, terminated_by, self.reward_config, judged
        )
