"""One task as the audit plays it: its tools, start database and gold, the trajectory an oracle-like agent
would produce from given tool calls, and the reward of any trajectory, scored as the domain scores a recorded
episode (:meth:`Domain.play <taurl.core.domain.Domain.play>`, then ``evaluate``; no user simulator: the
trajectories are whole)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taurl.core.domain import Domain
from taurl.core.reward import RewardConfig
from taurl.core.types import Action, Step, Task, TerminatedBy, ToolKind

DONE_REPLY = "Your request has been handled."


class TaskContext:
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
