"""What an agent is to the episode loop: given the conversation so far, the next assistant message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from taurl.core.messages import Message, action_of
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, Task


@dataclass(frozen=True)
class Turn:
    """One policy turn: the message as it enters the conversation, the action it takes, and the id of
    the tool call its observation answers (None for replies and for calls written as text)."""

    message: Message
    action: Action
    call_id: str | None = None


def native_turn(message: Message) -> Turn:
    """The turn of a message in OpenAI format: its first tool call (as τ-bench executes), else a reply."""
    calls = message.get("tool_calls") or []
    return Turn(message, action_of(message), calls[0].get("id") if calls else None)


class Agent(Protocol):
    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        """Prepare for a new episode of ``task``; return the system message the policy is given."""

    def next_turn(self, messages: list[Message]) -> Turn:
        """The policy's next turn for the conversation ``messages``."""
