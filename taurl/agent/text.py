"""A chat model that writes its tool calls as text (Qwen2.5 / Hermes ``<tool_call>`` blocks, ReAct, JSON).

The model is asked without native tools: the tools are in the system prompt (``prompts.system_prompt``)
and its raw text stays in the conversation exactly as written, so the recorded prompt of the next turn
is what the model really produced. The parser turns that text into the action to execute; a malformed
call becomes a parse error whose observation tells the model the expected format.
"""

from __future__ import annotations

from taurl.agent.base import Agent, Turn
from taurl.agent.parser import Pick, parse
from taurl.agent.prompts import system_prompt
from taurl.core import messages as msg
from taurl.core.messages import Message
from taurl.core.tools import ToolRegistry
from taurl.core.types import ModelCall, Task
from taurl.llm.client import ChatClient

NAMESPACE = "agent"


class TextAgent(Agent):
    def __init__(self, client: ChatClient, sample_index: int = 0, pick: Pick = "first"):
        self.client = client
        self.sample_index = sample_index
        self.pick: Pick = pick
        self.tool_names: frozenset[str] = frozenset()
        self.calls: list[ModelCall] = []

    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        self.tool_names = frozenset(tools.names)
        return msg.system(system_prompt(policy, tools))

    def next_turn(self, messages: list[Message]) -> Turn:
        completion = self.client.complete(messages, namespace=NAMESPACE, sample_index=self.sample_index)
        self.calls.append(completion.call)
        raw = completion.message.get("content") or ""
        return Turn(msg.assistant_text(raw), parse(raw, self.pick, self.tool_names).action, None)
