"""LLM user simulators with τ-bench's strategies: ``llm``, ``react``, ``verify``, ``reflection``.

The simulated customer sees the task instruction (never the agent's policy) and plays the customer
in a role-flipped conversation: the agent's messages are ``user`` turns, its own are ``assistant``
turns, opened by the agent's greeting. It ends the conversation by saying ``###STOP###``. Every
call goes through the ChatClient (namespace ``user``), so it is cached, recorded and replayable.
``sample_index`` selects the draw: the same index gives one cached reply per conversation prefix;
distinct indices give independent draws (e.g. one per sample of a training group).
"""

from __future__ import annotations

from typing import Any

from taurl.core.domain import UserSimulator
from taurl.core.types import STOP_TOKEN, ModelCall, Task
from taurl.llm.client import ChatClient

GREETING = "Hi! How can I help you today?"
NAMESPACE = "user"

_RULES = """Rules:
- Write one line at a time, as the customer would type it.
- Reveal the instruction gradually: give only what the agent needs for the current step.
- Never invent facts the instruction does not contain. If asked for something you were not given (an order id, say), say you do not have it.
- When the goal in the instruction is reached, reply with '###STOP###' alone to end the conversation.
- Use your own words rather than repeating the instruction verbatim.
- Keep the conversation natural and in the personality the instruction describes."""

_REACT_RULES = """Rules:
- First write a Thought about what to do next; the agent never sees it.
- Then write a one-line User Response: the message the agent will see.
- Reveal the instruction gradually: give only what the agent needs for the current step.
- Never invent facts the instruction does not contain. If asked for something you were not given, say you do not have it.
- When the goal in the instruction is reached, make the User Response '###STOP###' alone to end the conversation.
- Use your own words rather than repeating the instruction verbatim.
- Keep the conversation natural and in the personality the instruction describes.

Format:

Thought:
<the thought>

User Response:
<the message to send to the agent>"""


def system_prompt(instruction: str, rules: str = _RULES) -> str:
    return (
        "You are a customer talking to a customer-service agent.\n\n"
        f"<instruction>\n{instruction}\n</instruction>\n\n{rules}"
    )


def transcript(messages: list[dict[str, Any]]) -> str:
    """The conversation as the supervisor reads it (roles are the customer's view: user = agent)."""
    label = {"user": "Agent", "assistant": "Customer"}
    return "\n".join(
        f"{label.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in messages if m["role"] != "system"
    )


class LLMUser(UserSimulator):
    """τ-bench's ``llm`` strategy: one model call per customer turn."""

    rules = _RULES

    def __init__(self, client: ChatClient, sample_index: int = 0):
        self.client = client
        self.sample_index = sample_index
        self.messages: list[dict[str, Any]] = []
        self.calls: list[ModelCall] = []

    def reset(self, task: Task) -> str:
        self.messages = [
            {"role": "system", "content": system_prompt(task.instruction, self.rules)},
            {"role": "user", "content": GREETING},
        ]
        return self.next_message()

    def step(self, agent_message: str) -> str:
        self.messages.append({"role": "user", "content": agent_message})
        return self.next_message()

    def _ask(self, messages: list[dict[str, Any]], namespace: str = NAMESPACE, draw: int = 0) -> str:
        completion = self.client.complete(messages, namespace=namespace, sample_index=self.sample_index + draw)
        self.calls.append(completion.call)
        return completion.message.get("content") or ""

    def generate(self, messages: list[dict[str, Any]], draw: int = 0) -> str:
        return self._ask(messages, draw=draw)

    def next_message(self) -> str:
        reply = self.generate(self.messages)
        self.messages.append({"role": "assistant", "content": reply})
        return self.visible(reply)

    def visible(self, reply: str) -> str:
        """What the agent sees of the customer's message."""
        return reply


class ReactUser(LLMUser):
    """τ-bench's ``react`` strategy: the customer writes a hidden Thought, then the User Response."""

    rules = _REACT_RULES

    def visible(self, reply: str) -> str:
        if STOP_TOKEN in reply:
            return STOP_TOKEN
        for marker in ("User Response:", "Thought:"):
            if marker in reply:
                return reply.split(marker)[-1].strip()
        return reply.strip()


class VerifyUser(LLMUser):
    """τ-bench's ``verify`` strategy: a supervisor call checks each reply; up to ``max_attempts`` draws."""

    def __init__(self, client: ChatClient, sample_index: int = 0, max_attempts: int = 3):
        super().__init__(client, sample_index)
        self.max_attempts = max_attempts

    def satisfactory(self, reply: str, messages: list[dict[str, Any]], draw: int) -> bool:
        prompt = (
            "You supervise a simulated Customer talking to an Agent. Below is their Transcript and the "
            "Customer's next Response. Answer true if the Response is a satisfactory next message for the "
            "Customer, false otherwise. Answer with the single word true or false.\n\n"
            f"# Transcript:\n{transcript(messages)}\n\n# Response:\n{reply}\n\nClassification:"
        )
        return "true" in self._ask([{"role": "user", "content": prompt}], f"{NAMESPACE}-verify", draw).lower()

    def generate(self, messages: list[dict[str, Any]], draw: int = 0) -> str:
        reply = ""
        for attempt in range(self.max_attempts):
            reply = self._ask(messages, draw=draw + attempt)
            if self.satisfactory(reply, messages, draw + attempt):
                break
        return reply


class ReflectionUser(VerifyUser):
    """τ-bench's ``reflection`` strategy: an unsatisfactory reply is reflected upon and rewritten."""

    def __init__(self, client: ChatClient, sample_index: int = 0, max_attempts: int = 2):
        super().__init__(client, sample_index, max_attempts)

    def reflect(self, reply: str, messages: list[dict[str, Any]], draw: int) -> str:
        prompt = (
            "You supervise a simulated Customer talking to an Agent. The Customer's Response below was judged "
            "unsatisfactory. Write a Reflection on what went wrong, then a better Response.\n\n"
            f"# Transcript:\n{transcript(messages)}\n\n# Response:\n{reply}\n\n"
            "# Format:\n\nReflection:\n<the reflection>\n\nResponse:\n<the new response>"
        )
        answer = self._ask([{"role": "user", "content": prompt}], f"{NAMESPACE}-reflect", draw)
        return answer.split("Response:")[-1].strip()

    def generate(self, messages: list[dict[str, Any]], draw: int = 0) -> str:
        first = self._ask(messages, draw=draw)
        if self.satisfactory(first, messages, draw):
            return first
        attempt_messages = list(messages)
        for attempt in range(1, self.max_attempts):
            attempt_messages.append({"role": "user", "content": self.reflect(first, attempt_messages, draw + attempt)})
            candidate = self._ask(attempt_messages, draw=draw + attempt)
            if self.satisfactory(candidate, attempt_messages, draw + attempt):
                return candidate
        return first


USER_STRATEGIES = {"llm": LLMUser, "react": ReactUser, "verify": VerifyUser, "reflection": ReflectionUser}
