"""The deterministic user: opens with the task instruction and ends at the agent's first reply."""

from __future__ import annotations

from taurl.core.domain import UserSimulator
from taurl.core.types import STOP_TOKEN, Task


class ScriptedUser(UserSimulator):
    def reset(self, task: Task) -> str:
        return task.instruction

    def step(self, agent_message: str) -> str:
        return STOP_TOKEN
