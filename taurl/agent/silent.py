"""The do-nothing agent: replies without ever calling a tool. Its pass rate measures how easy a task set is to game."""

from __future__ import annotations

from taurl.agent.base import Agent, Turn, native_turn
from taurl.core import messages as msg
from taurl.core.messages import Message
from taurl.core.tools import ToolRegistry
from taurl.core.types import Task


class SilentAgent(Agent):
    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        return msg.system(policy)

    def next_turn(self, messages: list[Message]) -> Turn:
        return native_turn(msg.assistant_text("I'm sorry, I can't help with that."))
