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

Every step takes time linear in the text, whatever the text: a policy's output is untrusted input
(a model stuck repeating ``{"name":`` or ``Action: {`` a million times must not stall a rollout).
JSON is read from a bounded region (a block, or an ``Action:`` up to the next one); of the attempts
between the first and the last, whose errors are never shown, only those that can be calls are read
in full; and the scan for unmarked objects looks each candidate start up in ``_Shapes``, which reads
each stretch of text once and tells where ``json`` would decode a call, so ``json`` only decodes those.
"""

from __future__ import annotations

import json
import re
import sys
from bisect import bisect_right
from collections import deque
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
_CALL_KEYS = frozenset({"name", "arguments", "parameters", "type", "id", "function"})
# an unmarked object can only be a call if its first key is a call key: the scan skips all other objects
# (and what follows the colon must be able to start a JSON value: else it cannot decode)
_OBJECT_START = re.compile(
    r'\{\s*"(?:' + "|".join(sorted(_CALL_KEYS)) + r')"\s*+:\s*+'
    r'(?=[-"0-9tfnNI]|\{[ \t\n\r]*+["}]|\[[ \t\n\r]*+[-\[\]{"0-9tfnNI])'
)
# an attempted call: {"name": "<string>" or {"function": {...}; data such as {"name": {"first_name": ...}} is not one
_CALL_START = re.compile(r"""\{\s*(["']?)(?:name["']?\s*:\s*["']|function["']?\s*:\s*[{"'])""")
_JSON_AHEAD = re.compile(r"\s*(?:[{\[]|```)")
_BLANK_TO_END = re.compile(r"\s*\Z")
_SPACES = re.compile(r"\s*")  # what str.strip removes
_DECODER = json.JSONDecoder()
# the JSON grammar of json's own scanner (strict strings; NaN and Infinity allowed), for _Shapes
_WS = r"[ \t\n\r]*+"
_CHARS = r'[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+'
_KEY = '"(' + _CHARS + ')"' + _WS + ":" + _WS  # a key, up to its value
_SIMPLE = '(?:"' + _CHARS + r'"|-?(?:[1-9][0-9]*|0)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|null|true|false|NaN|-?Infinity)'
_STRING = re.compile('"(' + _CHARS + ')"')
_SCALAR = re.compile(r"(-?(?:[1-9][0-9]*|0))(\.[0-9]+)?([eE][-+]?[0-9]+)?|null|true|false|NaN|-?Infinity")
# after "{" or a member's value: the next key (group 1) or the closing brace (group 2); likewise for arrays
_OBJECT_FIRST = re.compile(_WS + "(?:" + _KEY + r"|(\}))")
_OBJECT_NEXT = re.compile(_WS + "(?:," + _WS + _KEY + r"|(\}))")
_ARRAY_FIRST = re.compile(_WS + r"(\])?")
_ARRAY_NEXT = re.compile(_WS + "(?:," + _WS + r"|(\]))")
# a link of a chain of containers each holding the next, after any number of simple values
_LINK = (
    r"(?:\{" + _WS + "(?:" + _KEY + _SIMPLE + _WS + "," + _WS + ")*+" + _KEY
    + r"|\[" + _WS + "(?:" + _SIMPLE + _WS + "," + _WS + r")*+)(?=[{\[])"
)  # fmt: skip
_CHAIN_LINK = re.compile(_LINK)
_CHAIN = re.compile(f"(?:{_LINK})++")
# where a marked body certainly does not decode: nothing, or a container whose next character cannot follow
_HOPELESS = re.compile(
    r'(?:\s*+```[^\n`]*\n)?\s*+(?:\Z|\{[ \t\n\r]*+(?:[^"}]|\Z)|\[[ \t\n\r]*+(?:[^-\[\]{"0-9tfnNI]|\Z))'
)


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
    end = len(visible)
    while visible.endswith(_END_TOKENS, 0, end):  # each token has one "<", at its start
        end = _rstripped_end(visible, visible.rindex("<", 0, end))
    return visible[:end]


def _rstripped_end(text: str, end: int) -> int:
    """``len(text[:end].rstrip())``, in time proportional to the whitespace stripped, not to ``end``."""
    while end:
        chunk = text[max(end - 256, 0) : end]
        kept = len(chunk.rstrip())
        if kept:
            return end - len(chunk) + kept
        end -= len(chunk)
    return 0


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


def _decode(
    text: str, where: str, expected: str, start: int = 0, stop: int | None = None
) -> tuple[Any, int] | _Malformed:
    """The JSON value at ``text[start]`` and the index where it ends, or what is wrong with it.

    Without ``stop`` indices, lines and columns count from the start of ``text``. With ``stop`` the value
    is read from ``text[start:stop]`` (the caller knows it cannot reach past ``stop``: a region is never
    copied or counted beyond what the value spans) and they count from ``start``, as if ``text[start:]``
    were the document."""
    base, document = (0, text) if stop is None else (start, text[start:stop])
    try:
        return _DECODER.raw_decode(document, start - base)
    except json.JSONDecodeError as exc:
        position = base + exc.pos
        if _BLANK_TO_END.match(text, position) or exc.msg.startswith("Unterminated string"):  # input ran out
            return _Malformed(f"the JSON in {where} ends before it is complete (output cut off?)", expected)
        near = text[max(position - 15, base) : position + 15]
        problem = f"invalid JSON in {where}: {exc.msg} at line {exc.lineno} column {exc.colno} (near {near!r})"
        return _Malformed(problem, expected)
    except (ValueError, RecursionError) as exc:  # a number too long to convert, nesting too deep
        return _Malformed(f"invalid JSON in {where}: {exc}", expected)


def _leading_json(
    text: str, where: str, expected: str, start: int = 0, stop: int | None = None
) -> tuple[Any, int, bool] | _Malformed:
    """The JSON value at the start of ``text[start:]`` (after whitespace and an optional opening code
    fence), the index where it ends and whether a fence was opened. ``stop`` bounds how far the value can
    reach (see ``_decode``); lines and columns in errors count from where the value starts."""
    opening = _FENCE_OPEN.match(text, start)
    body = _SPACES.match(text, opening.end() if opening else start).end()
    if body == len(text):
        return _Malformed(f"{where} is empty", expected)
    decoded = _decode(text, where, expected, body, len(text) if stop is None else stop)
    if isinstance(decoded, _Malformed):
        return decoded
    return decoded[0], body + decoded[1], opening is not None


def _marked_calls(
    text: str, where: str, expected: str, strict_end: bool, start: int = 0, stop: int | None = None
) -> list[_Attempt]:
    """The calls in a marked body (``text[start:]``): one object or a list of them. With ``strict_end``
    nothing but whitespace (and a closing fence, if one was opened) may follow the JSON: the body has a
    closing tag, so anything else is a mistake."""
    decoded = _leading_json(text, where, expected, start, stop)
    if isinstance(decoded, _Malformed):
        return [decoded]
    value, end, fenced = decoded
    if strict_end:
        rest = text[end:].rstrip()
        if fenced and rest.endswith("```"):
            rest = rest[:-3]
        if rest.strip():
            return [_Malformed(f"unexpected text after the JSON in {where}: {_show(rest.strip())}", expected)]
    if not isinstance(value, list):
        return [_to_action(value, where, expected)]
    return [_to_action(v, where, expected) for v in value] or [_Malformed(f"{where} holds an empty list", expected)]


def _may_decode(shapes: _Shapes, start: int, call: bool = True) -> bool:
    """False if the JSON ``_leading_json`` reads at ``start`` certainly makes no call: it does not decode,
    or (``call``) it is neither a list holding an object nor an object with a "name" or a "function", or
    (not ``call``: arguments) it is a list. Then no exception is raised and no message is built."""
    if _HOPELESS.match(shapes.text, start):
        return False
    opening = _FENCE_OPEN.match(shapes.text, start)
    body = _SPACES.match(shapes.text, opening.end() if opening else start).end()
    if shapes.text[body] not in "{[":
        return True
    shape = shapes.at(body)
    if shape is None:
        return False
    if not shape.is_object:
        return call and shape.height > 1
    return not call or "name" in shape.keys or "function" in shape.keys


# an error that is never shown (only the first and last attempt can be picked), so never worded
_UNSHOWN = _Malformed("not read")


# ---------------------------------------------------------------- the formats


def _hermes_calls(text: str) -> _Found:
    blocks = list(_TOOL_CALL.finditer(text))
    found: _Found = []
    capacity = -1  # measured when first needed
    for number, block in enumerate(blocks, 1):
        body = block.group(1)
        if 1 < number < len(blocks):  # only the first and last block's errors can be shown: skip failing blocks
            if capacity < 0:
                capacity = _nesting_capacity(text.count("{") + text.count("["))
            if not _may_decode(_Shapes(body, capacity), 0):
                found.append(("hermes", _UNSHOWN))
                continue
        where = "the <tool_call> block" if len(blocks) == 1 else f"<tool_call> block {number}"
        closed = block.group(2) == "</tool_call>"
        found += [("hermes", a) for a in _marked_calls(body, where, HERMES_FORMAT, closed)]
    return found


def _react_calls(text: str) -> _Found:
    markers = list(_ACTION.finditer(text))
    if not markers:
        return []
    # JSON cannot run on past the next Action line: strings cannot hold a line break and no JSON token starts
    # with the "A" that line starts with, so JSON read after one marker ends or fails by that "A"
    stops = [text.index("A", marker.start()) + 1 for marker in markers[1:]] + [len(text)]
    # only the first and last Action's errors can be shown: the others are checked with _Shapes first
    shapes = _Shapes(text, _nesting_capacity(text.count("{") + text.count("["))) if len(markers) > 2 else None
    ends = (markers[0].end(), markers[-1].end())
    return [
        ("react", a)
        for marker, stop in zip(markers, stops, strict=True)
        for a in _react_action(text, marker.end(), stop, None if marker.end() in ends else shapes)
    ]


def _react_action(text: str, start: int, stop: int, shapes: _Shapes | None = None) -> list[_Attempt]:
    """What the ``Action:`` ending at ``start`` says: a JSON call, a named tool with its ``Action Input``,
    or a reply. JSON is read no further than ``stop`` (it cannot reach past it). With ``shapes``, JSON that
    would not decode is not decoded, and the error is ``_UNSHOWN``."""
    where = "the Action"
    if _JSON_AHEAD.match(text, start):
        if shapes is not None and not _may_decode(shapes, start):
            return [_UNSHOWN]
        return _marked_calls(text, where, REACT_FORMAT, False, start, stop)
    named = _NAMED_ACTION.match(text, start)
    if named:
        action_input = _ACTION_INPUT.match(text, named.end())
        if action_input is None:
            return [_to_action({"name": named.group(1)}, where, REACT_FORMAT)]
        if shapes is not None and not _may_decode(shapes, action_input.end(), call=False):
            return [_UNSHOWN]
        decoded = _leading_json(text, "the Action Input", REACT_FORMAT, action_input.end(), stop)
        if isinstance(decoded, _Malformed):
            return [decoded]
        return [_to_action({"name": named.group(1), "arguments": decoded[0]}, where, REACT_FORMAT)]
    section_end = _REACT_SECTION.search(text, start)
    reply = text[start : section_end.start() if section_end else len(text)].strip()
    return [Action.respond(reply) if reply else _Malformed(f"{where} is empty", REACT_FORMAT)]


def _unmarked_calls(text: str, tool_names: Collection[str] | None) -> _Found:
    """Call-shaped JSON objects written without markup ("fence" inside a code fence, else "json"); if
    there are none, the first text that starts like a call object but is not valid JSON, as an error.

    Each candidate start is first looked up in ``_Shapes`` (one pass over the text for all candidates);
    ``json`` decodes only the calls, and nothing inside a call is a candidate, so it reads each character
    at most once. ``capacity`` is measured here, at the depth ``_decode`` runs at, because how deeply
    nested a value ``json`` can read depends on the stack it is called from."""
    fences = [fence.span(1) for fence in _FENCE.finditer(text)]  # in order and disjoint
    fence_starts = [lo for lo, _ in fences]
    shapes: _Shapes | None = None
    found: _Found = []
    resume = 0
    for start in _OBJECT_START.finditer(text):
        position = start.start()
        if position < resume:
            continue
        if shapes is None:
            shapes = _Shapes(text, _nesting_capacity(text.count("{") + text.count("[")))
        if not _shape_is_call(shapes.at(position), tool_names):
            continue
        decoded = _decode(text, "the call", HERMES_FORMAT, position)
        if isinstance(decoded, _Malformed) or not _is_call(decoded[0], tool_names):
            continue  # (never: the shape said it is a call)
        fence = bisect_right(fence_starts, position) - 1
        fmt = "fence" if fence >= 0 and position < fences[fence][1] else "json"
        found.append((fmt, _to_action(decoded[0], "the call", HERMES_FORMAT)))
        resume = decoded[1]
    return found or _broken_call(text)


def _nesting_capacity(limit: int) -> int:
    """How deeply nested a value ``json`` reads before its recursion limit, called from the caller's
    stack depth (with one frame in between, as ``_decode`` is), capped at ``limit``: the largest depth
    whose ``[[…]]`` decodes. One small decode when the text cannot nest deeper than the limit."""
    fits, fails = 0, limit + 1
    depth = limit
    while fits + 1 < fails:
        try:
            _DECODER.raw_decode("[" * depth + "]" * depth)
            fits = depth
        except RecursionError:
            fails = depth
        depth = (fits + fails) // 2
    return fits


def _is_call(value: Any, tool_names: Collection[str] | None) -> bool:
    """Whether an unmarked JSON value is a call rather than data shown to the user."""
    if not isinstance(value, dict) or not set(value) <= _CALL_KEYS:
        return False
    call = _unwrapped(value)
    if not isinstance(call.get("name"), str) or not set(call) <= _CALL_KEYS:
        return False
    return "arguments" in call or "parameters" in call or (tool_names is not None and call["name"] in tool_names)


def _broken_call(text: str) -> _Found:
    """The first candidate that does not decode. A candidate quoted like JSON (``{"name": "…``) inside an
    object that decoded is one of its values, so it decodes too and is not tried again: each character
    is decoded at most once before the failure, whose message then counts lines once."""
    decoded_to = 0
    for start in _CALL_START.finditer(text):
        if start.start() < decoded_to and start.group(1) == '"':
            continue
        decoded = _decode(text, "the call", HERMES_FORMAT, start.start())
        if isinstance(decoded, _Malformed):
            return [("malformed", decoded)]
        decoded_to = max(decoded_to, decoded[1])
    return []


# ---------------------------------------------------------------- what json would decode, without decoding


class _Container:
    """A JSON object or array being read by ``_Shapes`` and, for an object once read, its shape: where it
    ends, how deeply it nests, and what ``_is_call`` looks at (its keys, its last "name" when that is a
    string, its last "function" when that is an object)."""

    __slots__ = ("start", "is_object", "remembered", "end", "height", "keys", "key", "name", "function")

    def __init__(self, start: int, is_object: bool, remembered: bool) -> None:
        self.start = start
        self.is_object = is_object
        self.remembered = remembered  # an object, or the container a read started at
        self.end = -1
        self.height = 0  # of the deepest value read so far inside it; 1 + that once closed
        self.keys: set[str] = set()
        self.key = ""  # of the member being read
        self.name: str | None = None
        self.function: _Container | None = None


def _shape_is_call(shape: _Container | None, tool_names: Collection[str] | None) -> bool:
    """``_is_call`` of the value ``shape`` describes (None: a value that does not decode)."""
    if shape is None or not shape.keys <= _CALL_KEYS:
        return False
    call = shape
    if "name" not in shape.keys:  # as _unwrapped
        if shape.function is None:
            return False
        call = shape.function
    if call.name is None or not call.keys <= _CALL_KEYS:
        return False
    return "arguments" in call.keys or "parameters" in call.keys or (tool_names is not None and call.name in tool_names)


def _json_string(text: str, match: re.Match[str]) -> str:
    """The string a valid JSON string literal (its content is ``match`` group 1) stands for."""
    raw = match.group(1)
    return raw if "\\" not in raw else json.decoder.scanstring(text, match.start(1))[0]


class _Shapes:
    """For each object start in ``text``: would ``json`` decode an object there, and of what shape?

    ``at`` answers as ``_DECODER.raw_decode(text, start)`` would from the stack depth ``capacity`` was
    measured at (a value nested deeper than ``capacity`` fails), without building values or error
    messages, and remembering every object read on the way. A start inside an object already read is
    answered from memory (a value decodes the same wherever the decode started), and a start that is not
    (it is in a string, or where the earlier read failed) is where that read stopped: so all the starts
    in a text cost one pass over it. At most ``capacity`` containers are kept open: the outermost of more
    fails in ``json`` anyway, and once only arrays are left open, the read stops (nothing more to learn).
    """

    def __init__(self, text: str, capacity: int) -> None:
        self.text = text
        self.capacity = capacity
        self.objects: dict[int, _Container | None] = {}  # object start → its shape, None if it fails
        self.max_digits = sys.get_int_max_str_digits()  # of an int json converts

    def at(self, start: int) -> _Container | None:
        """The shape of the object at ``start`` (or of the array: arrays have no keys), None if it fails."""
        if start not in self.objects:
            self._read(start)
        return self.objects[start]

    def _read(self, at: int) -> None:
        text, objects, capacity = self.text, self.objects, self.capacity
        origin = at
        max_digits = self.max_digits
        open_: deque[_Container] = deque()
        remembered_open = 0  # containers open whose outcome is remembered: the read stops when none is left
        dropped = False
        failed = False
        chain_end = 0  # no chain is looked for before: one was found up to there
        while not failed:
            # a value starts at `at`: read it (to `end`; `value` if an object, `name` if a string), or
            # open a container and go on to its first value
            value: _Container | None = None
            name: str | None = None
            height = 0
            char = text[at : at + 1]
            if char == "{" and at in objects:  # read before
                value = objects[at]
                if value is None:
                    break
                end, height = value.end, value.height
                while open_ and len(open_) + height > capacity:  # the outermost open holds too deep a value
                    dropped = True
                    outer = open_.popleft()
                    if outer.remembered:
                        objects[outer.start] = None
                        remembered_open -= 1
            elif char == "{" or char == "[":
                if len(open_) == capacity and at >= chain_end:
                    # as deep as json can go, at a chain of containers each opening the next: all the open
                    # ones and all the chain's links but its last `capacity` hold too deep a value; the
                    # regexes skip them in one go (a model repeating '{"name":' stays linear and fast)
                    chain = _CHAIN.match(text, at)
                    chain_end = chain.end() if chain else at
                    links = [link.start() for link in _CHAIN_LINK.finditer(text, at, chain_end + 1)]
                    if len(links) > capacity:
                        for outer in open_:
                            if outer.remembered:
                                objects[outer.start] = None
                        open_.clear()
                        remembered_open = 0
                        dropped = True
                        doomed = links[: len(links) - capacity]
                        objects.update(dict.fromkeys(link for link in doomed if text[link] == "{"))
                        at = links[len(links) - capacity]
                        continue
                container = _Container(at, char == "{", char == "{" or at == origin)
                open_.append(container)
                remembered_open += container.remembered
                if len(open_) > capacity:  # the outermost open is nested too deeply: it fails
                    dropped = True
                    outer = open_.popleft()
                    if outer.remembered:
                        objects[outer.start] = None
                        remembered_open -= 1
                if container.is_object:
                    first = _OBJECT_FIRST.match(text, at + 1)
                    if first is None:
                        break
                    if first.group(2) is None:
                        container.key = _json_string(text, first)
                        container.keys.add(container.key)
                        at = first.end()
                        continue
                else:
                    first = _ARRAY_FIRST.match(text, at + 1)
                    if first.group(1) is None:
                        at = first.end()
                        continue
                open_.pop()  # empty: closed already
                remembered_open -= container.remembered
                container.end = end = first.end()
                container.height = height = 1
                if container.remembered:
                    objects[container.start] = container
                if container.is_object:
                    value = container
            elif char == '"':
                string = _STRING.match(text, at)
                if string is None:
                    break
                end = string.end()
                name = _json_string(text, string)
            else:
                scalar = _SCALAR.match(text, at)
                if scalar is None:
                    break
                digits = scalar.group(1)
                if max_digits and digits and not scalar.group(2) and not scalar.group(3):
                    if len(digits) - digits.startswith("-") > max_digits:
                        break  # int() refuses it
                end = scalar.end()
            # the value ending at `end` is read: it belongs to the innermost open container, which may close
            while True:
                if not open_ or (dropped and not remembered_open):
                    return
                container = open_[-1]
                if height > container.height:
                    container.height = height
                if container.is_object:
                    if container.key == "name":
                        container.name = name
                    elif container.key == "function":
                        container.function = value
                    after = _OBJECT_NEXT.match(text, end)
                    if after is None:
                        failed = True
                        break
                    if after.group(2) is None:
                        container.key = _json_string(text, after)
                        container.keys.add(container.key)
                        at = after.end()
                        break
                else:
                    after = _ARRAY_NEXT.match(text, end)
                    if after is None:
                        failed = True
                        break
                    if after.group(1) is None:
                        at = after.end()
                        break
                open_.pop()
                remembered_open -= container.remembered
                container.end = end = after.end()
                container.height = height = container.height + 1
                if container.remembered:
                    objects[container.start] = container
                value = container if container.is_object else None
                name = None
        for container in open_:  # a value failed to read: so does every container it is in
            if container.remembered:
                objects[container.start] = None


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _show(value: Any, limit: int = 60) -> str:
    shown = repr(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."
