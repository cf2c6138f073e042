"""Deterministic chat models served by the simulation server.

Each model is a pure function from an OpenAI chat-completion request (the parsed JSON body) to a
``Reply``: no randomness, no clock, so the same request always gets the same answer. They are not
meant to be clever, only to drive every path of a live episode offline: a customer that states a
goal, answers identity questions and stops; an agent that looks identifiers up with the request's
tools; agents and a customer that fail in the specific ways recordings must cover; and a judge.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from taurl.core.types import STOP_TOKEN
from taurl.sim.keywords import assertion_holds
from taurl.sim.tau2_assertions import tau2_verdicts

Request = dict[str, Any]
Message = dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, as the OpenAI API carries it (it may be invalid on purpose)


@dataclass(frozen=True)
class Reply:
    content: str | None
    tool_calls: tuple[ToolCall, ...] = ()


# ---------------------------------------------------------------- facts found in free text

# Each pattern's first group (or whole match) is the value. Names give two values (first, last).
_FACT_PATTERNS: dict[str, re.Pattern[str]] = {
    "user_id": re.compile(r"\b([a-z]+_[a-z]+_\d{4})\b"),
    "email": re.compile(r"([\w.+-]+@[\w-]+(?:\.[\w-]+)+)"),
    "order_id": re.compile(r"(#W\d{7})\b"),
    "reservation_id": re.compile(r"\b((?=[A-Z0-9]{6}\b)[A-Z0-9]*[A-Z][A-Z0-9]*)\b"),
    "zip": re.compile(r"(?:\bzip(?: code)?(?: is)?:?|\bin)\s+(\d{5})\b", re.IGNORECASE),
    "name": re.compile(r"(?:\bname is|\bI am|\bI'm|\bYou are)\s+([A-Z][a-z]+)\s+([A-Z][a-z]+)\b"),
}

# Tool parameter name -> (fact kind, group of that kind's pattern).
_PARAM_FACTS: dict[str, tuple[str, int]] = {
    "user_id": ("user_id", 1),
    "email": ("email", 1),
    "order_id": ("order_id", 1),
    "reservation_id": ("reservation_id", 1),
    "zip": ("zip", 1),
    "first_name": ("name", 1),
    "last_name": ("name", 2),
}


@dataclass(frozen=True)
class Fact:
    value: str
    position: int


def find_facts(text: str, kind: str, group: int = 1) -> list[Fact]:
    """Distinct values of one kind of identifier in ``text``, in order of first appearance."""
    seen: dict[str, int] = {}
    for match in _FACT_PATTERNS[kind].finditer(text):
        seen.setdefault(match.group(group), match.start(group))
    return [Fact(value, position) for value, position in seen.items()]


def first_fact(text: str, kind: str, group: int = 1) -> str | None:
    facts = find_facts(text, kind, group)
    return facts[0].value if facts else None


# ---------------------------------------------------------------- reading requests


def text_of(message: Message) -> str:
    """A message's text, whether ``content`` is a string, null, or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def _messages(request: Request) -> list[Message]:
    return [m for m in request.get("messages") or [] if isinstance(m, dict)]


def _system_text(messages: list[Message]) -> str:
    return "\n".join(text_of(m) for m in messages if m.get("role") in ("system", "developer"))


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- sim-user: the simulated customer

_MAX_CUSTOMER_TURNS = 6
_INSTRUCTION_TAGGED = re.compile(r"^<instruction>[ \t]*\n(.*?)\n[ \t]*</instruction>[ \t]*$", re.DOTALL | re.MULTILINE)
_INSTRUCTION_LABELLED = re.compile(r"Instruction:\s*(.+?)(?:\n\s*\n|$)", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SECOND_PERSON = {
    "you name": "my name",  # a typo some τ-bench instructions carry
    "you are": "I am",
    "you were": "I was",
    "you're": "I'm",
    "you've": "I've",
    "you'll": "I'll",
    "you'd": "I'd",
    "yourself": "myself",
    "yours": "mine",
    "your": "my",
    "you": "I",
}
_SECOND_PERSON_RE = re.compile(r"\b(" + "|".join(map(re.escape, _SECOND_PERSON)) + r")\b", re.IGNORECASE)

_DONE_RE = re.compile(r"\b(?:done|completed|processed|successfully|anything else)\b")
_CONFIRM_RE = re.compile(r"\b(?:confirm|proceed|yes or no|shall i)\b")
# Asked-for identifier kind -> pattern on the agent's (lower-cased) message.
_ASKED_RE: dict[str, re.Pattern[str]] = {
    "user_id": re.compile(r"\buser ?(?:id|_id|name)\b"),
    "email": re.compile(r"\be-?mail\b"),
    "order_id": re.compile(r"\border(?: id| number|_id)s?\b"),
    "reservation_id": re.compile(r"\breservation\b"),
    "name": re.compile(r"\bname\b|\bzip\b|\bpostal code\b"),
}
_ID_LABELS = {"user_id": "user id", "email": "email", "order_id": "order id", "reservation_id": "reservation id"}


def _instruction(messages: list[Message]) -> str:
    """The task instruction: taurl's ``<instruction>`` block, else τ-bench's ``Instruction:`` line, in any message."""
    for pattern in (_INSTRUCTION_TAGGED, _INSTRUCTION_LABELLED):
        for message in messages:
            match = pattern.search(text_of(message))
            if match:
                return match.group(1).strip()
    return ""


def first_person(text: str) -> str:
    """Rewrite an instruction addressed to the customer as the customer speaking ("Your id" -> "My id")."""

    def swap(match: re.Match[str]) -> str:
        said = _SECOND_PERSON[match.group(1).lower()]
        return said[0].upper() + said[1:] if match.group(1)[0].isupper() else said

    return _SECOND_PERSON_RE.sub(swap, text)


def _goal(instruction: str) -> str:
    first_sentence = _SENTENCE_END.split(instruction.strip(), maxsplit=1)[0]
    return first_person(first_sentence) if first_sentence else "Hi, I need some help."


def _sentence_for(kind: str, instruction: str) -> str | None:
    """How the customer gives one kind of identifier, if the instruction holds it."""
    if kind == "name":
        name = _FACT_PATTERNS["name"].search(instruction)
        zip_code = first_fact(instruction, "zip")
        parts = [f"my name is {name.group(1)} {name.group(2)}"] if name else []
        parts += [f"my zip code is {zip_code}"] if zip_code else []
        return _sentence(" and ".join(parts)) if parts else None
    values = [fact.value for fact in find_facts(instruction, kind)]
    if not values:
        return None
    label = _ID_LABELS[kind]
    return f"My {label} is {values[0]}." if len(values) == 1 else f"My {label}s are {', '.join(values)}."


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + "."


def _identity_answer(agent_text: str, instruction: str) -> str | None:
    """The customer's answer when the agent asks for identifiers, or None when it does not ask."""
    asked = [kind for kind, pattern in _ASKED_RE.items() if pattern.search(agent_text)]
    if not asked:
        return None
    sentences = [s for s in (_sentence_for(kind, instruction) for kind in asked) if s]
    return " ".join(sentences) if sentences else "I'm sorry, I don't remember that."


def _customer_move(messages: list[Message]) -> tuple[str, str]:
    """(thought, reply) of the customer. In its conversation the agent speaks as "user" and it as "assistant"."""
    instruction = _instruction(messages)
    turns = sum(1 for m in messages if m.get("role") == "assistant")
    agent_said = next((text_of(m) for m in reversed(messages) if m.get("role") == "user"), "").lower()
    if turns == 0:
        return "I should tell the agent what I need.", _goal(instruction)
    if turns >= _MAX_CUSTOMER_TURNS or _DONE_RE.search(agent_said):
        return "My request has been handled, so the conversation can end.", STOP_TOKEN
    answer = _identity_answer(agent_said, instruction)
    if answer:
        return "The agent needs my details to find my account.", answer
    if _CONFIRM_RE.search(agent_said):
        return "The agent wants my confirmation.", "Yes, please go ahead."
    return "I should ask the agent to carry on.", "Could you please help me with that?"


QUIT_REPLY = f"Never mind, I have to go. {STOP_TOKEN}"


def sim_user_quitter(request: Request) -> Reply:
    """A customer that breaks its instructions: it states its goal, then leaves at its next turn."""
    turns = sum(1 for m in _messages(request) if m.get("role") == "assistant")
    return sim_user(request) if turns == 0 else Reply(QUIT_REPLY)


def sim_user(request: Request) -> Reply:
    messages = _messages(request)
    thought, reply = _customer_move(messages)
    system = _system_text(messages)
    if "Thought:" in system and "User Response:" in system:
        return Reply(f"Thought:\n{thought}\nUser Response:\n{reply}")
    return Reply(reply)


# ---------------------------------------------------------------- sim-agent: a deterministic tool-calling agent

_LOOKUP_PREFIXES = ("get_", "find_")
_TOOL_CALL_TEXT = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
# the real block: "<tools>" on its own line (Qwen2.5's prompt also names the tags inside a sentence)
_TOOLS_BLOCK = re.compile(r"<tools>\n(.*?)\n</tools>", re.DOTALL)
_TOOL_RESPONSE = re.compile(r"<tool_response>\s*(.*?)\s*(?:</tool_response>|$)", re.DOTALL)
_TRANSFER_TOOL = "transfer_to_human_agents"
_SUMMARY_CHARS = 200


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]

    @property
    def key(self) -> str:
        return canonical_json([self.name, self.arguments])


@dataclass(frozen=True)
class Tool:
    name: str
    parameters: dict[str, Any]

    @property
    def required(self) -> list[str]:
        return list(self.parameters.get("required") or [])

    def is_string(self, param: str) -> bool:
        return (self.parameters.get("properties") or {}).get(param, {}).get("type") == "string"

    @property
    def is_lookup(self) -> bool:
        return self.name.startswith(_LOOKUP_PREFIXES)


def _tool_of(spec: Any) -> Tool | None:
    """A tool from an OpenAI tool spec (``{"type": "function", "function": {...}}``) or a bare function spec."""
    if not isinstance(spec, dict):
        return None
    function = spec.get("function", spec)
    name = function.get("name") if isinstance(function, dict) else None
    return Tool(name, function.get("parameters") or {}) if isinstance(name, str) else None


def _loads(text: str) -> Any:
    """Parsed JSON, or None where the text is not JSON (models read what other models wrote)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _tools(request: Request, messages: list[Message]) -> list[Tool]:
    """The tools on offer: the request's ``tools``, else a Hermes ``<tools>`` block in the system prompt."""
    if request.get("tool_choice") == "none":
        return []
    specs: Iterable[Any] = request.get("tools") or []
    if not specs:
        block = _TOOLS_BLOCK.search(_system_text(messages))
        specs = [_loads(line) for line in block.group(1).splitlines()] if block else []
    return [tool for tool in map(_tool_of, specs) if tool]


def _parsed_call(name: Any, arguments: Any) -> Call | None:
    if isinstance(arguments, str):
        arguments = _loads(arguments)
    return Call(name, arguments) if isinstance(name, str) and isinstance(arguments, dict) else None


def _calls_in(message: Message) -> list[Call]:
    """The calls an assistant message made, native or as Hermes ``<tool_call>`` text (unparsable ones skipped)."""
    native = [c.get("function") or {} for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    calls = [_parsed_call(f.get("name"), f.get("arguments") or "{}") for f in native]
    for body in _TOOL_CALL_TEXT.findall(text_of(message)):
        spec = _loads(body)
        calls.append(_parsed_call(spec.get("name"), spec.get("arguments", {})) if isinstance(spec, dict) else None)
    return [call for call in calls if call]


def _tool_response(message: Message) -> str | None:
    """A tool result: a ``tool`` message, or a ``user`` message carrying Hermes ``<tool_response>`` text."""
    if message.get("role") == "tool":
        return text_of(message)
    match = _TOOL_RESPONSE.search(text_of(message)) if message.get("role") == "user" else None
    return match.group(1) if match else None


@dataclass(frozen=True)
class AgentView:
    """What the agent models decide from: the conversation reduced to the few facts they use."""

    tools: list[Tool]
    customer_said: str
    results: list[str]
    calls: list[Call]
    first_turn: bool

    @classmethod
    def of(cls, request: Request) -> AgentView:
        messages = _messages(request)
        results = [r for r in map(_tool_response, messages) if r is not None]
        customer = [text_of(m) for m in messages if m.get("role") == "user" and _tool_response(m) is None]
        assistant = [m for m in messages if m.get("role") == "assistant"]
        return cls(
            tools=_tools(request, messages),
            customer_said=customer[-1] if customer else "",
            results=results,
            calls=[call for m in assistant for call in _calls_in(m)],
            first_turn=not assistant,
        )

    def tool(self, name: str) -> Tool | None:
        return next((t for t in self.tools if t.name == name), None)

    def lookups(self) -> list[Call]:
        """Every lookup the customer's last message allows, ordered by where its identifiers appear."""
        found: list[tuple[int, int, Call]] = []
        for order, tool in enumerate(self.tools):
            params = tool.required
            if not tool.is_lookup or not params or not all(p in _PARAM_FACTS and tool.is_string(p) for p in params):
                continue
            options = [find_facts(self.customer_said, *_PARAM_FACTS[p]) for p in params]
            for combo in itertools.product(*options):
                call = Call(tool.name, {p: fact.value for p, fact in zip(params, combo, strict=True)})
                found.append((min(fact.position for fact in combo), order, call))
        return [call for _, _, call in sorted(found, key=lambda item: item[:2])]

    def next_lookup(self) -> Call | None:
        done = {call.key for call in self.calls}
        return next((call for call in self.lookups() if call.key not in done), None)

    def identifier_question(self) -> str | None:
        """Asks for the identifiers the lookup tools take, or None when no tool takes one."""
        labels: list[str] = []
        for tool in self.tools:
            params = set(tool.required) if tool.is_lookup else set()
            if {"first_name", "last_name", "zip"} <= params:
                labels.append("name and zip code")
            labels += [_ID_LABELS[p] for p in tool.required if tool.is_lookup and p in _ID_LABELS]
        labels = list(dict.fromkeys(labels))
        return f"Could you please provide your {', '.join(labels)}?" if labels else None


def _agent_move(view: AgentView) -> Call | str:
    """sim-agent's decision: the next unseen lookup, else a summary of the last result, else a question."""
    if not view.tools:
        return f"I understand: {view.customer_said[:_SUMMARY_CHARS]}\nIs there anything else?"
    lookup = view.next_lookup()
    if lookup:
        return lookup
    if view.results:
        return f"Here is what I found: {view.results[-1][:_SUMMARY_CHARS]}\nIs there anything else?"
    return view.identifier_question() or "I'm sorry, I cannot look that up. Is there anything else?"


def _bad_tool_move(view: AgentView) -> Call | str:
    return Call("nonexistent_tool", {}) if view.first_turn and view.tools else _agent_move(view)


def _bad_args_move(view: AgentView) -> Call | str:
    """First turn: a real lookup (else any tool) that takes arguments, called without any of them."""
    candidates = [t for t in view.tools if t.required]
    target = next((t for t in candidates if t.is_lookup), candidates[0] if candidates else None)
    return Call(target.name, {}) if view.first_turn and target else _agent_move(view)


def _transfer_move(view: AgentView) -> Call | str:
    tool = view.tool(_TRANSFER_TOOL)
    if not (view.first_turn and tool):
        return _agent_move(view)
    summary = f"The customer needs help: {view.customer_said[:100]}"
    return Call(tool.name, {param: summary for param in tool.required})


def _chatty_move(view: AgentView) -> Call | str:
    """Never answers the customer: repeats the same lookup forever so the episode hits its step limit."""
    lookups = view.lookups()
    if lookups:
        return lookups[0]
    target = next((t for t in view.tools if t.is_lookup), view.tools[0] if view.tools else None)
    return Call(target.name, {p: "unknown" for p in target.required}) if target else _agent_move(view)


def _native(move: Call | str) -> Reply:
    if isinstance(move, str):
        return Reply(move)
    return Reply(None, (ToolCall(move.name, json.dumps(move.arguments)),))


def hermes_tool_call(call: Call) -> str:
    """A call written as Qwen2.5 / Hermes text."""
    return f"<tool_call>\n{json.dumps({'name': call.name, 'arguments': call.arguments})}\n</tool_call>"


def _as_text(move: Call | str) -> Reply:
    return Reply(move if isinstance(move, str) else hermes_tool_call(move))


_MALFORMED_CALL = '<tool_call>\n{"name": "get_user_details", "arguments": {"user_id": '


def _malformed_text(request: Request) -> Reply:
    view = AgentView.of(request)
    return Reply(_MALFORMED_CALL) if view.first_turn else _as_text(_agent_move(view))


# ---------------------------------------------------------------- sim-judge: a deterministic judge

_BLOCKS = {
    name: re.compile(rf"<{name}>\n(.*?)\n</{name}>", re.DOTALL) for name in ("assertions", "transcript", "outcome")
}
_RUBRIC = re.compile(r"<rubric>(\w+)</rubric>")
# An assertion carrying "[sim-judge: FAULT]" makes the whole verdict faulty, to test how bad verdicts count.
_JUDGE_FAULT = re.compile(r"\[sim-judge: (empty|prose|omit|duplicate|conflict)\]")
_QUIT = re.compile(r"\b(?:never mind|have to go|forget it|give up)\b", re.IGNORECASE)


def _block(text: str, name: str) -> str:
    match = _BLOCKS[name].search(text)
    return match.group(1) if match else ""


def _verdicts(text: str) -> str:
    transcript = _block(text, "transcript")
    lines = [line.partition(": ") for line in _block(text, "assertions").splitlines() if line.strip()]
    entries = [
        {"assertion_index": int(index), "met": assertion_holds(assertion, transcript), "reason": "rule: key words"}
        for index, _, assertion in lines
    ]
    fault = next((m.group(1) for _, _, a in lines if (m := _JUDGE_FAULT.search(a))), None)
    if fault == "empty":
        return ""
    if fault == "prose":
        return "Every assertion looks fine to me."
    if fault == "omit":
        entries = entries[1:]
    elif fault == "duplicate":
        entries = [*entries, entries[0]]
    elif fault == "conflict":
        entries = [*entries, {**entries[0], "met": not entries[0]["met"]}]
    return json.dumps(entries)


def _attribution(text: str) -> str:
    """sim-judge's fault rubric: an error ending is the environment's; a customer who left ("never
    mind") ended early; a tool call answered ``Error:`` is the agent's bad call; else a missed action."""
    outcome = _loads(_block(text, "outcome")) or {}
    lines = _block(text, "transcript").splitlines()
    said = [line for line in lines if line.startswith("Customer: ")]
    tool_errors = [line for line in lines if line.startswith("Tool result: Error:")]
    if outcome.get("terminated_by") == "error":
        verdict = ("environment_error", "exception", f"the episode ended in an error: {outcome.get('error')}")
    elif said and STOP_TOKEN in said[-1] and _QUIT.search(said[-1]):
        verdict = ("user_error", "ended_early", f"the customer left before the goal was reached: {said[-1]}")
    elif tool_errors:
        kind = "unknown_tool" if "unknown tool" in tool_errors[0] else "bad_arguments"
        verdict = ("agent_error", kind, tool_errors[0])
    elif outcome.get("terminated_by") == "max_steps":
        verdict = ("agent_error", "no_progress", "the agent ran out of steps")
    else:
        verdict = ("agent_error", "missing_action", "the agent did not do what the task needed")
    category, kind, reason = verdict
    return json.dumps({"category": category, "kind": kind, "reason": reason})


def sim_judge(request: Request) -> Reply:
    """Assertion verdicts (``<assertions>``, or τ²-bench's own prompt: :mod:`taurl.sim.tau2_assertions`) or a
    failure attribution (``<rubric>faults</rubric>``)."""
    text = "\n".join(text_of(m) for m in _messages(request) if m.get("role") == "user")
    if (tau2 := tau2_verdicts(text)) is not None:
        return Reply(tau2)
    rubric = _RUBRIC.search(text)
    return Reply(_attribution(text) if rubric and rubric.group(1) == "faults" else _verdicts(text))


Decide = Callable[[AgentView], Call | str]
Render = Callable[[Call | str], Reply]


def _agent(decide: Decide, render: Render) -> Callable[[Request], Reply]:
    return lambda request: render(decide(AgentView.of(request)))


# Served model name -> model. The error-path agents misbehave on their first turn only (chatty: always).
MODELS: dict[str, Callable[[Request], Reply]] = {
    "sim-user": sim_user,
    "sim-user-quitter": sim_user_quitter,
    "sim-judge": sim_judge,
    "sim-agent": _agent(_agent_move, _native),
    "sim-agent-text": _agent(_agent_move, _as_text),
    "sim-agent-badtool": _agent(_bad_tool_move, _native),
    "sim-agent-badargs": _agent(_bad_args_move, _native),
    "sim-agent-malformed": _malformed_text,
    "sim-agent-transfer": _agent(_transfer_move, _native),
    "sim-agent-chatty": _agent(_chatty_move, _native),
}
