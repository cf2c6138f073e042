"""The policy being trained, behind taurl's agent interface: token in, token out.

A :class:`TinkerPolicy` keeps each trajectory as the exact token sequence the model saw and wrote
(:class:`TokenTrajectory`): the prompt and every environment observation or user turn as the chat
template's tokens, and the agent's turns as the tokens it sampled, never re-tokenised. Each turn it
renders the conversation with the template (Qwen2.5's chat format, :data:`taurl.skyrl.tokenizer.CHAT_TEMPLATE`,
which renders every message on its own, so the conversation so far is always a prefix of the next
rendering), appends the new part as tokens, samples, and decodes the sample into the assistant message
the episode records and the parser reads, exactly like the ``text`` agent. Per token it keeps whether
the agent sampled it and with which log-probability: what the loss weights and the importance ratio
need.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from taurl.agent.base import Agent, Turn
from taurl.agent.parser import Pick, parse
from taurl.agent.prompts import system_prompt
from taurl.core import messages as msg
from taurl.core.messages import Message
from taurl.core.tools import ToolRegistry
from taurl.core.types import Task

AGENT_NAME = "tinker-policy"  # the recorded agent: a text policy, so replay re-parses its turns
END_OF_TURN = "<|im_end|>"


class TemplateMismatchError(RuntimeError):
    """The conversation and the tokens the policy built disagree: a bug, never the policy's fault."""


@dataclass
class Sample:
    tokens: list[int]
    logprobs: list[float]
    stopped: bool  # ended by the end-of-turn token (else cut at the per-turn token limit)


class Sampler(Protocol):
    def __call__(self, prompt: list[int], seed: int) -> Sample:
        """One continuation of ``prompt`` drawn with ``seed``, up to the end of the turn or the token limit."""


class ChatFormat:
    """The chat template and the tokenizer it goes with (anything with transformers' ``apply_chat_template``,
    ``encode``, ``decode`` and ``convert_tokens_to_ids``)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.end_id: int = tokenizer.convert_tokens_to_ids(END_OF_TURN)

    def render(self, messages: Sequence[Message], generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=generation_prompt
        )

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


@dataclass
class TokenTrajectory:
    """One trajectory's tokens: ``sampled[i]`` whether the agent sampled ``ids[i]`` (the loss trains on
    those only), ``logprobs[i]`` its log-probability under the sampler (None for every other token);
    ``text`` is what the ids stand for, ``turns`` the span of each assistant message's sampled content."""

    ids: list[int] = field(default_factory=list)
    sampled: list[bool] = field(default_factory=list)
    logprobs: list[float | None] = field(default_factory=list)
    text: str = ""
    turns: list[tuple[int, int]] = field(default_factory=list)
    cut_turns: int = 0  # turns cut at the per-turn token limit

    def extend(self, ids: Sequence[int], logprobs: Sequence[float] | None = None) -> None:
        self.ids.extend(ids)
        self.sampled.extend([logprobs is not None] * len(ids))
        self.logprobs.extend(logprobs if logprobs is not None else [None] * len(ids))

    @property
    def agent_tokens(self) -> int:
        return sum(self.sampled)

    @property
    def sampled_logprob(self) -> float:
        """The summed log-probability of the agent's tokens under the sampler that drew them."""
        return sum(lp for lp in self.logprobs if lp is not None)


class TinkerPolicy(Agent):
    """An :class:`~taurl.agent.base.Agent` sampling from a Tinker sampler; its :attr:`trajectory` holds the
    episode's tokens. ``seed_of_turn(task, n)`` is the sampling seed of its ``n``-th turn on ``task``;
    ``system_of(task)``, when not None (a SkyRL row's prompt), replaces the policy-and-tools prompt taurl
    writes for the task."""

    def __init__(
        self,
        chat: ChatFormat,
        sample: Sampler,
        seed_of_turn: Callable[[Task, int], int],
        system_of: Callable[[Task], Message | None] = lambda task: None,
        pick: Pick = "first",
    ):
        self.chat = chat
        self.sample = sample
        self.seed_of_turn = seed_of_turn
        self.system_of = system_of
        self.pick: Pick = pick
        self.task: Task | None = None
        self.tool_names: frozenset[str] = frozenset()
        self.trajectory = TokenTrajectory()

    def start(self, task: Task, tools: ToolRegistry, policy: str) -> Message:
        self.task = task
        self.tool_names = frozenset(tools.names)
        self.trajectory = TokenTrajectory()
        system = self.system_of(task)
        return dict(system) if system else msg.system(system_prompt(policy, tools))

    def next_turn(self, messages: list[Message]) -> Turn:
        t = self.trajectory
        text = self.chat.render(messages, generation_prompt=True)
        if not text.startswith(t.text):
            raise TemplateMismatchError(
                "the chat template rendered the conversation so far differently from the tokens already given to "
                f"the policy (they part at character {_parting(t.text, text)}): the template must render each "
                "message on its own"
            )
        t.extend(self.chat.encode(text[len(t.text) :]))
        t.text = text
        assert self.task is not None, "start() begins an episode"
        sample = self.sample(list(t.ids), self.seed_of_turn(self.task, len(t.turns)))
        start = len(t.ids)
        t.extend(sample.tokens, sample.logprobs)
        content_end = len(t.ids) - 1 if sample.stopped else len(t.ids)
        if not sample.stopped:  # cut at the token limit: the turn is closed for it, not trained on
            t.extend([self.chat.end_id])
            t.cut_turns += 1
        t.turns.append((start, content_end))
        content = self.chat.decode(t.ids[start:content_end])
        t.text += content + END_OF_TURN
        return Turn(msg.assistant_text(content), parse(content, self.pick, self.tool_names).action, None)


def trajectory_mismatch(chat: ChatFormat, messages: Sequence[Message], trajectory: TokenTrajectory) -> str | None:
    """Why ``trajectory``'s tokens are not the chat template over the recorded conversation ``messages``
    (None when they are): decoded, the tokens must be the template's text of the conversation up to its
    last assistant message, and each sampled span that message's content. (Token for token, the sequence is
    the template's tokenisation with the agent's turns as sampled: a model may sample a tokenisation of its
    text other than the one the tokenizer would choose, and training must use the one it sampled.)"""
    assistant = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    if len(assistant) != len(trajectory.turns):
        return f"{len(assistant)} assistant messages, {len(trajectory.turns)} sampled turns"
    if not assistant:
        return None if not trajectory.ids else "tokens but no assistant message"
    expected = chat.render(messages[: assistant[-1] + 1], generation_prompt=False)
    decoded = chat.decode(trajectory.ids)
    if expected != decoded + "\n":
        return f"the template's text and the decoded tokens part at character {_parting(expected, decoded)}"
    for n, (index, (start, end)) in enumerate(zip(assistant, trajectory.turns, strict=True)):
        if chat.decode(trajectory.ids[start:end]) != (messages[index].get("content") or ""):
            return f"assistant turn {n}: its sampled tokens decode to other text than the recorded message"
    return None


def _parting(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
