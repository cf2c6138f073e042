"""The ``judge`` reward component: a judge model decides whether each of a task's natural-language
assertions holds for the episode's transcript.

The judge is any OpenAI-compatible model reached through taurl's ChatClient (namespace ``judge``),
so its calls are cached, recorded with the episode and replayed offline like the user's (a replay
that finds no recorded answer raises the client's miss with namespace ``judge``). Its answer
must be a JSON list with one ``{"assertion_index", "met", "reason"}`` entry per assertion. Anything
else never passes: an empty or unparseable reply, or an assertion whose entry is missing, duplicated
or conflicting, or whose "met" comes with a reason saying it is not, counts as not met and is
flagged (τ²-bench counted an empty reply as a pass, and a "met" whose own reason said otherwise).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from taurl.core.hashing import canonical_json
from taurl.core.types import Action, JudgeResult, ModelCall, Task

NAMESPACE = "judge"
PROMPT_VERSION = "assertions-v1"  # recorded with every verdict; change it whenever the prompt changes

ASSERTIONS_SYSTEM = f"""You judge a customer-service conversation between a Customer and an Agent that can call tools (prompt {PROMPT_VERSION}).
For each numbered assertion, decide whether it holds for the conversation, using only what the transcript shows.
Answer with JSON only: a list with exactly one object per assertion, for example
[{{"assertion_index": 0, "met": true, "reason": "one sentence citing the transcript"}}]"""

_FENCED = re.compile(r"```(?:json)?\s*\n(.*?)\n\s*```", re.DOTALL)
# a "met" whose reason says the opposite (τ²-bench issue 436): such a verdict is not trusted
_NEGATED = re.compile(r"\b(?:not (?:met|satisfied|fulfilled)|does not hold|doesn't hold|unmet)\b", re.IGNORECASE)


class ChatModel(Protocol):
    """A model client as the environment's parts use it (taurl.llm's ChatClient): its model's name, and
    a completion of messages whose ``call`` is the recorded model call and ``message`` the answer."""

    model: str

    def complete(self, messages: list[dict[str, Any]], *args: Any, namespace: str = ..., **kwargs: Any) -> Any: ...


class JudgeMissingError(ValueError):
    """A reward that needs the judge, with no judge model configured."""


def transcript_text(opening: str, turns: Iterable[tuple[Action, str]]) -> str:
    """The conversation as the judge reads it: the customer's opening, then each agent action and
    what answered it (the customer, or a tool)."""
    lines = [f"Customer: {opening}"]
    for action, observation in turns:
        if action.is_respond:
            lines += [f"Agent: {action.kwargs.get('content', '')}", f"Customer: {observation}"]
        elif action.is_parse_error:
            lines += [f"Agent (malformed tool call): {action.kwargs.get('raw', '')}", f"Tool result: {observation}"]
        else:
            lines += [f"Agent calls {action.name}({canonical_json(action.kwargs)})", f"Tool result: {observation}"]
    return "\n".join(lines)


def assertion_messages(assertions: Sequence[str], transcript: str) -> list[dict[str, Any]]:
    numbered = "\n".join(f"{index}: {text}" for index, text in enumerate(assertions))
    return [
        {"role": "system", "content": ASSERTIONS_SYSTEM},
        {
            "role": "user",
            "content": f"<assertions>\n{numbered}\n</assertions>\n\n<transcript>\n{transcript}\n</transcript>",
        },
    ]


def json_payload(content: str) -> Any | None:
    """The JSON a reply carries, whole or in one fenced block; None when it carries none."""
    for candidate in (content.strip(), *_FENCED.findall(content)):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            continue
    return None


def parse_verdicts(content: str, count: int) -> tuple[tuple[bool, ...], tuple[str, ...], tuple[str, ...]]:
    """(met, reasons, flags) for ``count`` assertions from the judge's reply; every doubt is "not met"."""
    unmet, blank = (False,) * count, ("",) * count
    if not content.strip():
        return unmet, blank, ("empty reply",)
    payload = json_payload(content)
    if isinstance(payload, dict) and isinstance(payload.get("verdicts"), list):
        payload = payload["verdicts"]  # a JSON-object response format wraps the list
    if not isinstance(payload, list):
        return unmet, blank, ("unparseable reply",)
    flags: list[str] = []
    entries: dict[int, list[tuple[bool, str]]] = {}
    for position, item in enumerate(payload):
        index = item.get("assertion_index") if isinstance(item, dict) else None
        met = item.get("met") if isinstance(item, dict) else None
        if not (
            isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count and isinstance(met, bool)
        ):
            flags.append(f"entry {position}: malformed")
            continue
        entries.setdefault(index, []).append((met, str(item.get("reason") or "")))
    met_list, reasons = [], []
    for index in range(count):
        found = entries.get(index, [])
        verdict, reason = found[0] if len(found) == 1 else (False, "")
        if not found:
            flags.append(f"assertion {index}: missing")
        elif len(found) > 1:
            conflicting = len({m for m, _ in found}) > 1
            flags.append(f"assertion {index}: {'conflicting' if conflicting else 'duplicated'}")
        elif verdict and _NEGATED.search(reason):
            flags.append(f"assertion {index}: reason contradicts verdict")
            verdict = False
        met_list.append(verdict)
        reasons.append(reason)
    return tuple(met_list), tuple(reasons), tuple(flags)


class AssertionJudge:
    """One episode's judge: asks once, at the end, and keeps its model calls for the recording."""

    def __init__(self, client: ChatModel):
        self.client = client
        self.calls: list[ModelCall] = []

    def judge(self, task: Task, transcript: str) -> JudgeResult:
        assertions = task.nl_assertions
        if not assertions:  # nothing to check: flagged, since a judge term would pass it unseen
            return JudgeResult(self.client.model, PROMPT_VERSION, (), (), (), ("no assertions",))
        completion = self.client.complete(assertion_messages(assertions, transcript), namespace=NAMESPACE)
        self.calls.append(completion.call)
        met, reasons, flags = parse_verdicts(completion.message.get("content") or "", len(assertions))
        return JudgeResult(self.client.model, PROMPT_VERSION, assertions, met, reasons, flags, (completion.call.key,))
