"""Scripted policies for driving SkyRL's generator on a CPU: each answers a conversation with text.

A policy sees what a model sees (the conversation so far) and returns the assistant's next message.
The oracle is taurl's one oracle (:func:`taurl.agent.oracle.gold_plan`, what ``OracleAgent`` plays) written
as Qwen2.5 ``<tool_call>`` text: :func:`task_oracle` for a task known beforehand, :class:`Oracle` for a batch,
each task recognised by the simulated user's opening message (the env's own user, asked once beforehand).
The others exercise the endings SkyRL must handle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from taurl.agent.oracle import ANYTHING_ELSE, gold_plan
from taurl.agent.parser import format_tool_call
from taurl.core.types import Action, Task
from taurl.registry import get_domain

Message = dict[str, str]
Policy = Callable[[Sequence[Message]], str]
MALFORMED_CALL = '<tool_call>\n{"name": "get_user_details", "arguments": {"user_id": \n</tool_call>'
DONE_REPLY = "Your request has been completed. Is there anything else I can help with?"
REFUSAL = "I'm sorry, I can't help with that."


def gold_texts(task: Task) -> list[str]:
    """The oracle's plan for ``task``, each message as a text-only policy writes it: calls as Qwen2.5
    ``<tool_call>`` text, replies as themselves."""
    tools = get_domain(task.domain).tools_for(task.tool_set)
    return [a.kwargs["content"] if a.is_respond else format_tool_call(a) for a in gold_plan(task, tools)]


def opening(conversation: Sequence[Message]) -> str:
    return next((m["content"] for m in conversation if m["role"] == "user"), "")


def turn(conversation: Sequence[Message]) -> int:
    return sum(1 for m in conversation if m["role"] == "assistant")


def play(texts: Sequence[str], conversation: Sequence[Message]) -> str:
    """The next of ``texts``, one per assistant turn, then what the oracle says once its plan is played."""
    n = turn(conversation)
    return texts[n] if n < len(texts) else ANYTHING_ELSE


def task_oracle(task: Task) -> Policy:
    """The oracle of one task (a policy per trajectory, as the dry run's env path makes them)."""
    texts = gold_texts(task)
    return lambda conversation: play(texts, conversation)


class Oracle:
    """The oracle over a batch; ``tasks`` maps each task's opening user message to the task. A task it
    does not know is an error, or left to ``otherwise`` (a mix of the oracle and another policy)."""

    def __init__(self, tasks: Mapping[str, Task], otherwise: Policy | None = None):
        self.texts = {said: gold_texts(task) for said, task in tasks.items()}
        self.otherwise = otherwise

    def __call__(self, conversation: Sequence[Message]) -> str:
        said = opening(conversation)
        if said not in self.texts:
            if self.otherwise is not None:
                return self.otherwise(conversation)
            raise KeyError(f"the oracle knows no task that opens with {said[:80]!r}")
        return play(self.texts[said], conversation)


def do_nothing(conversation: Sequence[Message]) -> str:
    return REFUSAL


class ToolLoop:
    """The same read call for ever: the trajectory ends at the generator's ``max_turns``."""

    def __init__(self, action: Action):
        self.text = format_tool_call(action)

    def __call__(self, conversation: Sequence[Message]) -> str:
        return self.text


def malformed_then_stop(conversation: Sequence[Message]) -> str:
    """A call that cannot be parsed (the env answers with a parse-error observation), then a reply."""
    return MALFORMED_CALL if turn(conversation) == 0 else DONE_REPLY


class LongCall:
    """A call whose argument is ``words`` words long: with ``generator.max_input_length`` below the
    conversation it makes, SkyRL cuts the trajectory (stop reason ``length``) without ``done``."""

    def __init__(self, words: int):
        self.text = format_tool_call(Action("think", {"thought": " ".join(["note"] * words)}))

    def __call__(self, conversation: Sequence[Message]) -> str:
        return self.text


def conversation_from_chatml(text: str) -> list[Message]:
    """The finished messages of a ChatML prompt (Qwen2.5's template); the open generation prompt
    (``<|im_start|>assistant\n`` with no ``<|im_end|>`` yet) is the turn being asked for, not a message."""
    messages = []
    for block in text.split("<|im_start|>")[1:]:
        head, ended, _ = block.partition("<|im_end|>")
        if ended:
            role, _, content = head.partition("\n")
            messages.append({"role": role, "content": content})
    return messages


def engine_reply(
    policy: Policy, tokenizer: Any, prompt_ids: Sequence[int], max_tokens: int | None
) -> tuple[str, list[int], str]:
    """What a token-in-token-out engine returns for one prompt: the policy's next message as text and as
    token ids ended by eos, and the stop reason (``length`` when over ``max_tokens``, cut there, as vLLM
    does). What :class:`taurl.skyrl.stub_engine.PolicyEngine` answers, under either SkyRL version."""
    conversation = conversation_from_chatml(tokenizer.decode(list(prompt_ids), skip_special_tokens=False))
    ids = tokenizer.encode(policy(conversation), add_special_tokens=False)
    ids.append(tokenizer.eos_token_id)
    stop = "stop"
    if max_tokens is not None and len(ids) > max_tokens:
        ids, stop = ids[:max_tokens], "length"
    return tokenizer.decode(ids, skip_special_tokens=True), ids, stop
