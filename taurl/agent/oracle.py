"""The oracle: plays the task's gold actions, then tells the user every expected output.

:func:`gold_plan` is the one oracle: :class:`OracleAgent` plays it with native tool calls, and SkyRL's
scripted policies (taurl.skyrl.policies) write the same plan as text."""

from __future__ import annotations

from taurl.agent.base import Agent, Turn, native_turn
from taurl.core import messages as msg
from taurl.core.messages import Message
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, Task, ToolKind

HANDLED = "Your request has been handled."
ANYTHING_ELSE = "Is there anything else I can help with?"  # once the plan is played


def gold_plan(task: Task, tools: ToolRegistry) -> list[Action]:
    """The gold's tool calls, a reply with every expected output, then the gold's hand-off calls (tools that
    end the episode), if any."""
    gold = [a for a in task.actions if not a.is_respond]
    ending = [a for a in gold if a.name in tools and tools[a.name].kind is ToolKind.TERMINATE]
    work = [a for a in gold if a not in ending]
    # outputs are joined with "; " because τ-bench's check deletes commas from the reply
    summary = "; ".join(task.outputs) if task.outputs else HANDLED
    # a gold that ends in a hand-off with nothing to tell the user hands off at once: a reply first
    # would let a user who stops at the first reply end the episode before the hand-off
    return [*work, *([] if ending and not task.outputs else [Action.respond(summary)]), *ending]


class OracleAgent(Agent):
    def __init__(self) -> None:
        self._plan: list[Action] = []
        self._step = 0

    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        self._plan = gold_plan(task, tools)
        self._step = 0
        return msg.system(policy)

    def next_turn(self, messages: list[Message]) -> Turn:
        if self._step >= len(self._plan):
            return native_turn(msg.assistant_text(ANYTHING_ELSE))
        action = self._plan[self._step]
        self._step += 1
        if action.is_respond:
            return native_turn(msg.assistant_text(action.kwargs["content"]))
        return native_turn(msg.assistant_tool_call(action, f"call_{self._step}"))
