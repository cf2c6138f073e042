"""Model text → action: the one place that decides what a text-only policy's output means.

A policy without native tool calls writes its calls as text. ``parse`` reads, in this order:

1. reasoning is dropped first: ``<think>…</think>`` (or ``<thinking>``) blocks; an unclosed ``<think>``
   hides everything after it (the model never finished thinking); a ``</think>`` with no opening tag
   hides everything before it (chat templates that prefill ``<think>`` leave only the closing tag);
   end-of-turn tokens a server left at the end (``<|im_end|>``, ``<|eot_id|>``, …) are dropped too;
2. ``<tool_call>{json}</tool_call>`` blocks (Qwen2.5 / Hermes), the closing tag optional once the JSON
   is complete, the JSON optionally inside a code fence, or a JSON list of calls in one block;
3. ReAct ``Action:`` lines: τ-bench's ``Action:\\n{"name": …, "arguments": …}``, or LangChain's
   ``Action: tool_name`` + ``Action Input: {json}``; prose after ``Action:`` is a reply, as in τ-bench;
4. JSON objects written without markup, in a code fence (format "fence") or bare (format "json"):
   only call-shaped objects count, so a reply that shows the customer some JSON stays a reply;
5. anything else is a reply to the user: the visible text, stripped.

A call object is ``{"name": str, "arguments": {…}}``; ``parameters`` is an alias of ``arguments``
(Llama 3.x), arguments may be a JSON-encoded string (OpenAI's wire format) and missing or null means
``{}``; OpenAI's wrapper ``{"type": "function", "function": {…}}`` is unwrapped. A call named
``respond`` is a reply (τ-bench's ReAct action). When several calls are written, ``pick`` chooses the
one executed. A call that is clearly attempted (inside ``<tool_call>``, after ``Action:``, or text
starting like ``{"name":``) but cannot be read becomes ``Action.parse_error`` with a message that says
what was wrong and what format is expected: the policy sees it as the observation and can repair it.
Unknown tool names are returned as calls: the tool registry reports them with the list of tools.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from taurl.core.types import RESPOND, Action

Pick = Literal["first", "last"]

HERMES_FORMAT = '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
REACT_FORMAT = 'Action:\n{"name": <action-name>, "arguments": <args-json-object>}'

_THINK_TAG = re.compile(r"<(/?)think(?:ing)?>")
_END_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "</s>")
# a block runs to its closing tag, else to the next opening tag, else to the end of the text
_TOOL_CALL = re.compile(r"<tool_call>(.*?)(</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL)
_ACTION = re.compile(r"^[ \t]*Action[ \t]*:", re.MULTILINE)
_NAMED_ACTION = re.compile(r"[ \t]*([A-Za-z_][\w.-]*)[ \t]*(?:\n|\Z)")
_ACTION_INPUT = re.compile(r"\s*Action[ \t]+Input[ \t]*:")
_REACT_SECTION = re.compile(r"^[ \t]*(?:Thought|Observation|Action)\b[^\n:]*:", re.MULTILINE)
_FENCE = re.compile(r"```[^\n`]*\n(.*?)(?:```|\Z)", re.DOTALL)
_FENCE_OPEN = re.compile(r"\s*```[^\n`]*\n")
_FENCE_CLOSE = re.compile(r"\s*```\s*\Z")
_CALL_KEYS = frozenset({"name", "arguments", "parameters", "type", "id", "function"})
# an unmarked object can only be a call if its first key is a call key: the scan skips all other objects
_OBJECT_START = re.compile(r'\{\s*"(?:' + "|".join(sorted(_CALL_KEYS)) + r')"\s*:')
# an attempted call: {"name": "<string>" or {"function": {...}; data such as {"name": {"first_name": ...}} is not one
_CALL_START = re.compile(r"""\{\s*["']?(?:name["']?\s*:\s*["']|function["']?\s*:\s*[{"'])""")
_JSON_AHEAD = re.compile(r"\s*(?:[{\[]|```)")
_BLANK_TO_END = re.compile(r"\s*\Z")
_DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class ParseResult:
    """What a model's text means.

    ``action`` is what to execute: the picked call, a reply, or a parse error. ``calls`` are all the
    well-formed actions the text wrote, in order (empty for a plain-text reply). ``error`` is the
    parse error's message, else None. ``format`` names what was recognised: "hermes", "react",
    "fence", "json", "text", or "malformed" when ``action`` is a parse error.
    """

    action: Action
    calls: tuple[Action, ...]
    error: str | None
    format: str


@dataclass(frozen=True)
class _Malformed:
    """A clearly attempted call that could not be read: ``problem`` says why, ``expected`` the format."""

    problem: str
    expected: str = HERMES_FORMAT

    def message(self) -> str:
        return (
            f"could not read your tool call: {self.problem}. Write one tool call as\n{self.expected}\n"
            "with valid JSON (double-quoted keys and strings, no trailing commas), "
            "or write plain text to reply to the user."
        )


_Attempt = Action | _Malformed
_Found = list[tuple[str, _Attempt]]  # (format, attempt) in the order written


def parse(text: str, pick: Pick = "first", tool_names: Collection[str] | None = None) -> ParseResult:
    """Read a model's output as one action; never raises.

    ``tool_names`` (the tools on offer) only widens what counts as a call written without markup: a bare
    ``{"name": "list_all_product_types"}`` is a call when that name is a tool, and data otherwise.
    """
    visible = visible_text(text)
    found = _hermes_calls(visible) or _react_calls(visible) or _unmarked_calls(visible, tool_names)
    if not found:
        return ParseResult(Action.respond(visible.strip()), (), None, "text")
    calls = tuple(attempt for _, attempt in found if isinstance(attempt, Action))
    fmt, chosen = found[0 if pick == "first" else -1]
    if isinstance(chosen, _Malformed):
        error = chosen.message()
        return ParseResult(Action.parse_error(error, text), calls, error, "malformed")
    return ParseResult(chosen, calls, None, fmt)


def format_tool_call(action: Action) -> str:
    """``action`` as Qwen2.5 writes a call. ``<`` is escaped as ``\\u003c`` inside the JSON (where it can
    only occur in strings), so no argument value can close the block or open a think block."""
    payload = json.dumps({"name": action.name, "arguments": action.kwargs}, ensure_ascii=False)
    escaped = payload.replace("<", "\\u003c")
    return f"<tool_call>\n{escaped}\n</tool_call>"


def visible_text(text: str) -> str:
    """The text a reader sees: think blocks and trailing end-of-turn tokens removed (see the module doc)."""
    kept: list[str] = []
    thinking = False
    position = 0
    for tag in _THINK_TAG.finditer(text):
        closing = bool(tag.group(1))
        if not thinking and closing:
            kept.clear()  # all so far was reasoning whose <think> the chat template wrote
        elif not thinking:
            kept.append(text[position : tag.start()])
            thinking = True
        elif closing:
            thinking = False
        position = tag.end()
    if not thinking:
        kept.append(text[position:])
    visible = "".join(kept).rstrip()
    while visible.endswith(_END_TOKENS):
        visible = visible[: visible.rindex("<")].rstrip()
    return visible


# ---------------------------------------------------------------- reading call objects


def _to_action(value: Any, where: str, expected: str) -> _Attempt:
    """The action a decoded call object stands for, or why it is not a valid call."""
    if not isinstance(value, dict):
        return _Malformed(f"{where} holds a JSON {_json_type(value)}, not an object with a name", expected)
    call = _unwrapped(value)
    if "name" not in call:
        return _Malformed(f'{where} has no "name" (its keys: {_show(sorted(call))})', expected)
    name = call["name"]
    if not isinstance(name, str) or not name.strip():
        return _Malformed(f'{where}: "name" must be a non-empty string, not {_show(name)}', expected)
    arguments = _arguments(call["arguments"] if "arguments" in call else call.get("parameters"))
    if isinstance(arguments, str):
        return _Malformed(f"{where}: {arguments}", expected)
    if name != RESPOND:
        return Action(name, arguments)
    content = arguments.get("content")
    if not isinstance(content, str):
        return _Malformed(f'{where}: "respond" needs "arguments": {{"content": <text>}}', expected)
    return Action.respond(content)


def _unwrapped(call: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's ``{"type": "function", "function": {"name": …, "arguments": …}}`` → the inner object."""
    inner = call.get("function")
    return inner if "name" not in call and isinstance(inner, dict) else call


def _arguments(value: Any) -> dict[str, Any] | str:
    """The keyword arguments, or the reason they are unusable (a str)."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        decoded = _decode(value.strip(), 'the "arguments" string', HERMES_FORMAT)
        if isinstance(decoded, _Malformed):
            return decoded.problem
        rest = value.strip()[decoded[1] :]
        if rest:
            return f'unexpected text after the JSON in the "arguments" string: {_show(rest)}'
        value = decoded[0]
    if value is None:
        return {}
    if not isinstance(value, dict):
        return f'"arguments" must be a JSON object, not a {_json_type(value)}'
    return value


def _decode(text: str, where: str, expected: str, start: int = 0) -> tuple[Any, int] | _Malformed:
    """The JSON value at ``text[start]`` and the index where it ends, or what is wrong with it."""
    try:
        return _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        if _BLANK_TO_END.match(text, exc.pos) or exc.msg.startswith("Unterminated string"):  # input ran out
            return _Malformed(f"the JSON in {where} ends before it is complete (output cut off?)", expected)
        near = text[max(exc.pos - 15, 0) : exc.pos + 15]
        problem = f"invalid JSON in {where}: {exc.msg} at line {exc.lineno} column {exc.colno} (near {near!r})"
        return _Malformed(problem, expected)
    except (ValueError, RecursionError) as exc:  # a number too long to convert, nesting too deep
        return _Malformed(f"invalid JSON in {where}: {exc}", expected)


def _leading_json(text: str, where: str, expected: str) -> tuple[Any, str] | _Malformed:
    """The JSON value at the start of ``text`` (after whitespace and an optional opening code fence)
    and the text after it, without the closing fence."""
    opening = _FENCE_OPEN.match(text)
    body = (text[opening.end() :] if opening else text).lstrip()
    if not body.strip():
        return _Malformed(f"{where} is empty", expected)
    decoded = _decode(body, where, expected)
    if isinstance(decoded, _Malformed):
        return decoded
    rest = body[decoded[1] :]
    return decoded[0], _FENCE_CLOSE.sub("", rest) if opening else rest


def _marked_calls(text: str, where: str, expected: str, strict_end: bool) -> list[_Attempt]:
    """The calls in a marked body: one object or a list of them. With ``strict_end`` nothing but
    whitespace may follow the JSON (the body has a closing tag, so anything else is a mistake)."""
    decoded = _leading_json(text, where, expected)
    if isinstance(decoded, _Malformed):
        return [decoded]
    value, rest = decoded
    if strict_end and rest.strip():
        return [_Malformed(f"unexpected text after the JSON in {where}: {_show(rest.strip())}", expected)]
    if not isinstance(value, list):
        return [_to_action(value, where, expected)]
    return [_to_action(v, where, expected) for v in value] or [_Malformed(f"{where} holds an empty list", expected)]


# ---------------------------------------------------------------- the formats


def _hermes_calls(text: str) -> _Found:
    blocks = list(_TOOL_CALL.finditer(text))
    found: _Found = []
    for number, block in enumerate(blocks, 1):
        where = "the <tool_call> block" if len(blocks) == 1 else f"<tool_call> block {number}"
        closed = block.group(2) == "</tool_call>"
        found += [("hermes", a) for a in _marked_calls(block.group(1), where, HERMES_FORMAT, closed)]
    return found


def _react_calls(text: str) -> _Found:
    return [("react", a) for marker in _ACTION.finditer(text) for a in _react_action(text, marker.end())]


def _react_action(text: str, start: int) -> list[_Attempt]:
    """What the ``Action:`` ending at ``start`` says: a JSON call, a named tool with its ``Action Input``,
    or a reply."""
    where = "the Action"
    if _JSON_AHEAD.match(text, start):
        return _marked_calls(text[start:], where, REACT_FORMAT, strict_end=False)
    named = _NAMED_ACTION.match(text, start)
    if named:
        action_input = _ACTION_INPUT.match(text, named.end())
        if action_input is None:
            return [_to_action({"name": named.group(1)}, where, REACT_FORMAT)]
        decoded = _leading_json(text[action_input.end() :], "the Action Input", REACT_FORMAT)
        if isinstance(decoded, _Malformed):
            return [decoded]
        return [_to_action({"name": named.group(1), "arguments": decoded[0]}, where, REACT_FORMAT)]
    section_end = _REACT_SECTION.search(text, start)
    reply = text[start : section_end.start() if section_end else len(text)].strip()
    return [Action.respond(reply) if reply else _Malformed(f"{where} is empty", REACT_FORMAT)]


def _unmarked_calls(text: str, tool_names: Collection[str] | None) -> _Found:
    """Call-shaped JSON objects written without markup ("fence" inside a code fence, else "json"); if
    there are none, the first text that starts like a call object but is not valid JSON, as an error."""
    fences = [fence.span(1) for fence in _FENCE.finditer(text)]
    found: _Found = []
    resume = 0
    for start in _OBJECT_START.finditer(text):
        position = start.start()
        if position < resume:
            continue
        decoded = _decode(text, "the call", HERMES_FORMAT, position)
        if isinstance(decoded, _Malformed) or not _is_call(decoded[0], tool_names):
            continue
        fmt = "fence" if any(lo <= position < hi for lo, hi in fences) else "json"
        found.append((fmt, _to_action(decoded[0], "the call", HERMES_FORMAT)))
        resume = decoded[1]
    return found or _broken_call(text)


def _is_call(value: Any, tool_names: Collection[str] | None) -> bool:
    """Whether an unmarked JSON value is a call rather than data shown to the user."""
    if not isinstance(value, dict) or not set(value) <= _CALL_KEYS:
        return False
    call = _unwrapped(value)
    if not isinstance(call.get("name"), str) or not set(call) <= _CALL_KEYS:
        return False
    return "arguments" in call or "parameters" in call or (tool_names is not None and call["name"] in tool_names)


def _broken_call(text: str) -> _Found:
    for start in _CALL_START.finditer(text):
        decoded = _decode(text, "the call", HERMES_FORMAT, start.start())
        if isinstance(decoded, _Malformed):
            return [("malformed", decoded)]
    return []


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _show(value: Any, limit: int = 60) -> str:
    shown = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
