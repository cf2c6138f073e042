"""The domain contract: what the environment, replay, rescoring, the audit and the SkyRL env ask of a
domain, and of the simulated user that plays its customer.

The defaults are the built-in domains' behaviour: an episode starts from the data with the task's own
records, has no history before the user's opening, and is scored by :func:`~taurl.core.reward.compute_reward`
against the gold state; the user has no tools of its own. A backend whose episodes are more than that
(τ²: a live environment, a history, its own evaluation, a user acting on its device) overrides the
methods, so no caller asks which kind of domain it holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from taurl.core.messages import Message
from taurl.core.reward import GoldCache, GoldState, RewardConfig, compute_reward, task_start
from taurl.core.reward_judge import ChatModel, JudgeMissingError
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, JudgeResult, ModelCall, RewardBreakdown, Step, Task, TerminatedBy, ToolKind


class UserSimulator:
    """The simulated customer. It sees the task's instruction, never the agent's policy.

    ``calls`` are the model calls it made this episode. A user with tools of its own (τ²'s dual
    control) is attached to the episode's state before ``reset`` and lists each tool call it made
    as a step of the episode (``tool_steps``, requestor ``user``); the defaults are a user that asks
    no model and has no tools."""

    calls: Sequence[ModelCall] = ()
    tool_steps: Sequence[Step] = ()

    @property
    def cost_usd(self) -> float:
        """What this episode's model calls cost."""
        return sum(c.cost_usd for c in self.calls)

    def attach(self, state: Any) -> None:
        """The episode's state, on which this user's own tool calls run (it has none)."""

    def reset(self, task: Task) -> str:
        """Start an episode of ``task``; return the user's opening message."""
        raise NotImplementedError

    def step(self, agent_message: str) -> str:
        """The user's answer to the agent's reply."""
        raise NotImplementedError


@dataclass(frozen=True)
class Played:
    """Actions played on a task's start state: the state they left, the agent's actions as taken, the
    result of each of its tool calls, and ``TRANSFER`` when a terminate tool ended the play."""

    state: Any
    actions: tuple[Action, ...]
    results: tuple[Any, ...]  # ToolResult per tool call of the agent, in order
    ended: TerminatedBy | None


_GOLD = GoldCache()  # gold states, once per process (keyed by the data's base and the task)


class Domain:
    """A domain as every episode-running and scoring module sees it. Subclasses provide the data
    (``name``, ``tools``, :meth:`database`, :meth:`tools_for`, :meth:`policy_for`, :meth:`tasks`,
    :meth:`splits`) and the users that play it (:meth:`make_user`); the rest has the built-in default."""

    name: str
    tools: ToolRegistry

    # ---------------------------------------------------------------- data (each domain's own)

    def database(self, data_dir: Any = None) -> Any:
        """A fresh episode database over the data of ``data_dir`` (the domain's own data when None)."""
        raise NotImplementedError

    def tools_for(self, tool_set: str = "default") -> ToolRegistry:
        raise NotImplementedError

    def policy_for(self, tool_set: str = "default") -> str:
        raise NotImplementedError

    def tasks(self, split: str = "test", data_dir: Any = None) -> list[Task]:
        raise NotImplementedError

    def splits(self, data_dir: Any = None) -> list[str]:
        raise NotImplementedError

    def make_user(self, strategy: str, client: ChatModel | None, sample_index: int = 0) -> UserSimulator:
        """The simulated user of ``strategy`` for an episode (``client`` is its model; None for ``scripted``)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- an episode

    def start(self, initial: Any, task: Task) -> Any:
        """The state an episode of ``task`` starts from: ``initial`` with the task's own records (a
        backend whose state is more than records, τ², builds its own)."""
        return task_start(initial, task)

    def history(self, task: Task) -> list[Message]:
        """The conversation before the user's opening, as the agent sees it (τ²'s tasks may start
        mid-conversation; a built-in task never does)."""
        return []

    def carried_metadata(self, task: Task) -> dict[str, Any]:
        """What of ``task.metadata`` a training row must carry for the task to be rebuilt from the row and
        scored (τ²'s own task form); a built-in task is rebuilt from the row's other fields."""
        return {}

    def user_gold(self, task: Task) -> tuple[Action, ...]:
        """The task's gold tool calls the user makes itself (τ²'s device actions; none here)."""
        return ()

    def user_call(self, state: Any, action: Action) -> None:
        """Run a tool call the user made itself on the episode's state (τ²'s dual control)."""
        raise ValueError(f"{self.name}: the user has no tools of its own, so it made no call {action.name!r}")

    # ---------------------------------------------------------------- scoring

    def gold(self, task: Task, initial: Any) -> GoldState | None:
        """The state the task's gold actions reach from its start (once per process); raises
        :class:`~taurl.core.reward.InvalidTaskError` for a gold action that cannot run. None for a
        domain that scores by its own rules, with no records to compare (τ²)."""
        return _GOLD.get(task, initial, self.tools_for(task.tool_set))

    def evaluate(
        self,
        task: Task,
        initial: Any,
        state: Any,
        actions: Sequence[Action],
        terminated_by: TerminatedBy | None,
        config: RewardConfig,
        judged: JudgeResult | None = None,
    ) -> RewardBreakdown:
        """The reward of an episode of ``task`` that took ``actions`` and ended in ``state``;
        ``judged`` is the judge's verdict, which a reward that needs it requires."""
        gold = self.gold(task, initial)
        assert gold is not None
        if judged is None and config.needs_judge(task):
            raise JudgeMissingError(f"task {task.domain}/{task.id}: the reward needs a judge model (--judge-model)")
        return compute_reward(task, state, gold, actions, self.tools_for(task.tool_set), terminated_by, config, judged)

    def play(self, task: Task, initial: Any, steps: Iterable[Step]) -> Played:
        """``steps`` played again from the task's start: the agent's tool calls through its tools, the
        user's own on its side of the state; replies and parse errors change nothing. Like an episode,
        the play ends at a terminate tool that ran."""
        state = self.start(initial, task)
        tools = self.tools_for(task.tool_set)
        actions: list[Action] = []
        results = []
        for step in steps:
            if step.by_user:
                self.user_call(state, step.action)
                continue
            actions.append(step.action)
            if step.action.is_respond or step.action.is_parse_error:
                continue
            result = tools.invoke(state, step.action)
            results.append(result)
            if result.kind is ToolKind.TERMINATE and result.ok:
                return Played(state, tuple(actions), tuple(results), TerminatedBy.TRANSFER)
        return Played(state, tuple(actions), tuple(results), None)

    def score(
        self,
        task: Task,
        initial: Any,
        steps: Iterable[Step],
        terminated_by: TerminatedBy | None,
        config: RewardConfig,
        judged: JudgeResult | None = None,
    ) -> RewardBreakdown:
        """Replay ``steps`` on the task's start state and evaluate where they end (rescoring a record)."""
        played = self.play(task, initial, steps)
        return self.evaluate(task, initial, played.state, played.actions, terminated_by, config, judged)

    # ---------------------------------------------------------------- the audit

    def plain_data(self, state: Any) -> list[Any]:
        """The state's records as plain data (its tables, then the reference tables that are
        collections): where the reward audit finds other valid values for an argument."""
        roots: list[Any] = [state[name] for name in state.table_names]
        return roots + [table for table in state.reference.values() if isinstance(table, Mapping | list)]
