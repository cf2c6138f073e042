"""What an agent is to the episode loop: given the conversation so far, the next assistant message."""

from __future__ import annotations

from typing import Protocol

from taurl.core.messages import Message
from taurl.core.tools import ToolRegistry
from taurl.core.types import Task


class Agent(Protocol):
    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        """Prepare for a new episode of ``task``; return the system message the policy is given."""

    def next_message(self, messages: list[Message]) -> Message:
        """The next assistant message (OpenAI chat format) for the conversation ``messages``."""
