"""The replay agent: plays back recorded assistant messages, re-parsing text with today's parser.

Native tool calls are re-read from the message (their arguments re-decoded); text from a text
policy (the ``text`` agent, a policy trained by SkyRL or Tinker) goes through
:func:`taurl.agent.parser.parse` again, so a parser change shows up as a divergence in replay.
"""

from __future__ import annotations

from collections.abc import Sequence

from taurl.agent.base import Agent, Turn, native_turn
from taurl.agent.parser import parse
from taurl.core.messages import Message
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, Task

TEXT_POLICIES = ("text", "skyrl-policy", "tinker-policy")


class RecordingExhaustedError(LookupError):
    """The replayed episode asked for more turns than were recorded."""


class ReplayAgent(Agent):
    def __init__(self, system_message: Message, assistant_messages: Sequence[Message], agent: str, pick: str = "first"):
        self.system_message = system_message
        self.recorded = list(assistant_messages)
        self.parses_text = agent in TEXT_POLICIES
        self.pick = pick
        self.index = 0
        self.actions: list[Action] = []  # what the replayed turns did, for diagnosing an aborted replay

    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        self.index = 0
        return self.system_message

    def next_turn(self, messages: list[Message]) -> Turn:
        if self.index >= len(self.recorded):
            raise RecordingExhaustedError(
                f"the recording has {len(self.recorded)} assistant turns and the episode wants more"
            )
        message = self.recorded[self.index]
        self.index += 1
        if message.get("tool_calls") or not self.parses_text:
            turn = native_turn(message)
        else:
            turn = Turn(message, parse(message.get("content") or "", pick=self.pick).action, None)
        self.actions.append(turn.action)
        return turn

    @property
    def remaining(self) -> int:
        return len(self.recorded) - self.index
