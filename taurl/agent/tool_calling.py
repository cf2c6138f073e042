"""An OpenAI-compatible chat model with native tool calls (GPT-4o, a vLLM server, serve-sim)."""

from __future__ import annotations

from typing import Any

from taurl.agent.base import Agent, Turn, native_turn
from taurl.core import messages as msg
from taurl.core.messages import Message
from taurl.core.tools import ToolRegistry
from taurl.core.types import ModelCall, Task
from taurl.llm.client import ChatClient

NAMESPACE = "agent"


class ToolCallingAgent(Agent):
    def __init__(self, client: ChatClient, sample_index: int = 0):
        self.client = client
        self.sample_index = sample_index
        self.tools: list[dict[str, Any]] = []
        self.calls: list[ModelCall] = []

    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        self.tools = tools.openai_schemas()
        return msg.system(policy)

    def next_turn(self, messages: list[Message]) -> Turn:
        completion = self.client.complete(
            messages, tools=self.tools, namespace=NAMESPACE, sample_index=self.sample_index
        )
        self.calls.append(completion.call)
        message = dict(completion.message)
        if message.get("tool_calls"):
            # only the first call is executed (as in τ-bench), so only it stays in the conversation
            message["tool_calls"] = message["tool_calls"][:1]
        return native_turn(message)
