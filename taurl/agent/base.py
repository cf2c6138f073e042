"""What an agent is to the episode loop: given the conversation so far, the next assistant message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from taurl.core.messages import Message, action_of
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, ModelCall, Task


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


class Agent:
    """``calls`` are the model calls the agent made this episode (none for one that asks no model)."""

    calls: Sequence[ModelCall] = ()

    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        """Prepare for a new episode of ``task``; return the system message the policy is given."""
        raise NotImplementedError

    def next_turn(self, messages: list[Message]) -> Turn:
        """The policy's next turn for the conversation ``messages``."""
        raise NotImplementedError
