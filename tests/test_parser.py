"""The text parser on output shapes real agents write (Qwen2.5, Llama 3.x, GPT, τ-bench ReAct), on
arbitrary text (it never raises), and on its own rendering of calls (it reads them back exactly)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taurl.agent import parser
from taurl.agent.parser import format_tool_call, parse
from taurl.core.types import Action

HERMES_HINT = '{"name": <function-name>, "arguments": <args-json-object>}'
REACT_HINT = 'Action:\n{"name": <action-name>'


@dataclass(frozen=True)
class Error:
    """An expected parse error: a phrase of its message, and the format it must tell the policy."""

    phrase: str
    hint: str = HERMES_HINT


def call(name: str, **kwargs) -> Action:
    return Action(name, kwargs)


def reply(text: str) -> Action:
    return Action.respond(text)


BOOKING = {
    "user_id": "mia_li_3668",
    "origin": "JFK",
    "destination": "SEA",
    "flight_type": "one_way",
    "cabin": "economy",
    "flights": [
        {"flight_number": "HAT136", "date": "2024-05-20"},
        {"flight_number": "HAT039", "date": "2024-05-20"},
    ],
    "passengers": [{"first_name": "Mia", "last_name": "Li", "dob": "1990-04-05"}],
    "payment_methods": [{"payment_id": "certificate_7504069", "amount": 250}],
    "total_baggages": 1,
    "nonfree_baggages": 0,
    "insurance": "no",
}
EMAIL = call("find_user_id_by_email", email="yusuf.rossi7301@example.com")
EMAIL_JSON = '{"name": "find_user_id_by_email", "arguments": {"email": "yusuf.rossi7301@example.com"}}'
ORDER = call("get_order_details", order_id="#W2378156")
ORDER_JSON = '{"name": "get_order_details", "arguments": {"order_id": "#W2378156"}}'

# (id, model text, expected action or Error, expected format)
CASES: list[tuple[str, str, Action | Error, str]] = [
    # ---- Qwen2.5 / Hermes <tool_call>
    ("hermes", f"<tool_call>\n{EMAIL_JSON}\n</tool_call>", EMAIL, "hermes"),
    (
        "hermes-after-prose",
        f"I can help with that. First, let me look up your account.\n<tool_call>\n{EMAIL_JSON}\n</tool_call>",
        EMAIL,
        "hermes",
    ),
    (
        "hermes-two-calls",
        f"<tool_call>\n{EMAIL_JSON}\n</tool_call>\n<tool_call>\n{ORDER_JSON}\n</tool_call>",
        EMAIL,
        "hermes",
    ),
    (
        "hermes-nested-lists-of-objects",
        "<tool_call>\n" + json.dumps({"name": "book_reservation", "arguments": BOOKING}) + "\n</tool_call>",
        Action("book_reservation", BOOKING),
        "hermes",
    ),
    (
        "hermes-unicode",
        '<tool_call>\n{"name": "modify_user_address", "arguments": {"user_id": "noah_müller_1", '
        '"address1": "Königstraße 5", "city": "München", "state": "BY", "country": "Deutschland", '
        '"zip": "80331", "address2": "\\u00c9tage 2 🏠"}}\n</tool_call>',
        call(
            "modify_user_address",
            user_id="noah_müller_1",
            address1="Königstraße 5",
            city="München",
            state="BY",
            country="Deutschland",
            zip="80331",
            address2="Étage 2 🏠",
        ),
        "hermes",
    ),
    (
        "hermes-escaped-quotes",
        '<tool_call>\n{"name": "transfer_to_human_agents", "arguments": {"summary": "User said \\"cancel it\\" '
        'and wants a C:\\\\refund"}}\n</tool_call>',
        call("transfer_to_human_agents", summary='User said "cancel it" and wants a C:\\refund'),
        "hermes",
    ),
    ("hermes-extra-whitespace", f"<tool_call>   \n\n   {EMAIL_JSON}   \n\n  </tool_call>\n\n", EMAIL, "hermes"),
    (
        "hermes-one-line",
        '<tool_call>{"name":"list_all_product_types","arguments":{}}</tool_call>',
        call("list_all_product_types"),
        "hermes",
    ),
    ("hermes-no-closing-tag", f"<tool_call>\n{EMAIL_JSON}", EMAIL, "hermes"),
    ("hermes-no-closing-tag-end-token", f"<tool_call>\n{EMAIL_JSON}\n<|im_end|>", EMAIL, "hermes"),
    (
        "hermes-parameters-alias",
        '<tool_call>\n{"name": "get_order_details", "parameters": {"order_id": "#W2378156"}}\n</tool_call>',
        ORDER,
        "hermes",
    ),
    (
        "hermes-arguments-as-json-string",
        '<tool_call>\n{"name": "get_order_details", "arguments": "{\\"order_id\\": \\"#W2378156\\"}"}\n</tool_call>',
        ORDER,
        "hermes",
    ),
    (
        "hermes-no-arguments",
        '<tool_call>\n{"name": "list_all_product_types"}\n</tool_call>',
        call("list_all_product_types"),
        "hermes",
    ),
    (
        "hermes-null-arguments",
        '<tool_call>{"name": "list_all_product_types", "arguments": null}</tool_call>',
        call("list_all_product_types"),
        "hermes",
    ),
    ("hermes-fenced-inside", f"<tool_call>\n```json\n{EMAIL_JSON}\n```\n</tool_call>", EMAIL, "hermes"),
    ("hermes-list-in-one-block", f"<tool_call>\n[{EMAIL_JSON}, {ORDER_JSON}]\n</tool_call>", EMAIL, "hermes"),
    (
        "hermes-openai-wrapper",
        '<tool_call>\n{"type": "function", "function": {"name": "get_order_details", '
        '"arguments": "{\\"order_id\\": \\"#W2378156\\"}"}}\n</tool_call>',
        ORDER,
        "hermes",
    ),
    ("hermes-inside-fence", f"```\n<tool_call>\n{EMAIL_JSON}\n</tool_call>\n```", EMAIL, "hermes"),
    (
        "hermes-respond",
        '<tool_call>\n{"name": "respond", "arguments": {"content": "Your order is on its way."}}\n</tool_call>',
        reply("Your order is on its way."),
        "hermes",
    ),
    (
        "hermes-unknown-tool-still-a-call",
        '<tool_call>{"name": "lookup_everything", "arguments": {}}</tool_call>',
        call("lookup_everything"),
        "hermes",
    ),
    # ---- malformed calls inside <tool_call>
    (
        "hermes-truncated",
        '<tool_call>\n{"name": "cancel_pending_order", "arguments": {"order_id": "#W6',
        Error("ends before it is complete"),
        "malformed",
    ),
    (
        "hermes-trailing-comma",
        '<tool_call>\n{"name": "get_order_details", "arguments": {"order_id": "#W2378156",}}\n</tool_call>',
        Error("Expecting property name enclosed in double quotes"),
        "malformed",
    ),
    (
        "hermes-single-quotes",
        "<tool_call>\n{'name': 'get_order_details', 'arguments': {'order_id': '#W2378156'}}\n</tool_call>",
        Error("invalid JSON in the <tool_call> block"),
        "malformed",
    ),
    (
        "hermes-no-name",
        '<tool_call>\n{"arguments": {"user_id": "mia_li_3668"}}\n</tool_call>',
        Error('has no "name"'),
        "malformed",
    ),
    (
        "hermes-name-not-string",
        '<tool_call>\n{"name": 42, "arguments": {}}\n</tool_call>',
        Error('"name" must be a non-empty string, not 42'),
        "malformed",
    ),
    (
        "hermes-arguments-list",
        '<tool_call>\n{"name": "get_user_details", "arguments": ["mia_li_3668"]}\n</tool_call>',
        Error('"arguments" must be a JSON object, not a list'),
        "malformed",
    ),
    (
        "hermes-arguments-string-not-json",
        '<tool_call>\n{"name": "get_order_details", "arguments": "order_id=#W2378156"}\n</tool_call>',
        Error('invalid JSON in the "arguments" string'),
        "malformed",
    ),
    (
        "hermes-extra-brace",
        f"<tool_call>\n{EMAIL_JSON}}}\n</tool_call>",
        Error("unexpected text after the JSON in the <tool_call> block: '}'"),
        "malformed",
    ),
    ("hermes-empty-block", "<tool_call>\n</tool_call>", Error("the <tool_call> block is empty"), "malformed"),
    (
        "hermes-not-an-object",
        '<tool_call>\n"get_user_details"\n</tool_call>',
        Error("holds a JSON string, not an object"),
        "malformed",
    ),
    (
        "hermes-respond-without-content",
        '<tool_call>{"name": "respond", "arguments": {"text": "Hi"}}</tool_call>',
        Error('"respond" needs "arguments": {"content": <text>}'),
        "malformed",
    ),
    # ---- reasoning blocks
    (
        "think-then-call",
        f"<think>\nThe user gave an email, so I look it up.\n</think>\n\n<tool_call>\n{EMAIL_JSON}\n</tool_call>",
        EMAIL,
        "hermes",
    ),
    (
        "call-only-inside-think",
        f"<think>Maybe <tool_call>{EMAIL_JSON}</tool_call>? No.</think>\nWhat is your email?",
        reply("What is your email?"),
        "text",
    ),
    ("only-think", "<think>\nI am not sure what to do.\n</think>", reply(""), "text"),
    (
        "unclosed-think-hides-the-rest",
        f"One moment please.\n<think>I should call <tool_call>{EMAIL_JSON}",
        reply("One moment please."),
        "text",
    ),
    (
        "prefilled-think-only-closing-tag",
        f"The email is given.\n</think>\n\n<tool_call>\n{EMAIL_JSON}\n</tool_call>",
        EMAIL,
        "hermes",
    ),
    (
        "thinking-tag",
        "<thinking>They want a refund.</thinking>I can help with your refund.",
        reply("I can help with your refund."),
        "text",
    ),
    # ---- plain text replies
    ("empty", "", reply(""), "text"),
    ("whitespace", " \n\t ", reply(""), "text"),
    (
        "reply",
        "Could you please provide your email address, or your name and zip code?\n",
        reply("Could you please provide your email address, or your name and zip code?"),
        "text",
    ),
    ("reply-with-end-token", "Thank you, have a nice day!<|im_end|>", reply("Thank you, have a nice day!"), "text"),
    (
        "reply-showing-json-data",
        'Here is your order:\n```json\n{"order_id": "#W2378156", "status": "pending"}\n```',
        reply('Here is your order:\n```json\n{"order_id": "#W2378156", "status": "pending"}\n```'),
        "text",
    ),
    (
        "reply-product-json-is-data",
        '{"name": "Desk Lamp", "type": "LED"}',
        reply('{"name": "Desk Lamp", "type": "LED"}'),
        "text",
    ),
    # ---- calls in code fences (GPT, Llama)
    ("fence-json", f"```json\n{EMAIL_JSON}\n```", EMAIL, "fence"),
    ("fence-plain-after-prose", f"Let me check that order.\n\n```\n{ORDER_JSON}\n```", ORDER, "fence"),
    # ---- bare JSON calls (Llama 3.1 / 3.2)
    ("json-llama-parameters", '{"name": "get_order_details", "parameters": {"order_id": "#W2378156"}}', ORDER, "json"),
    (
        "json-llama32-type-function",
        '{"type": "function", "name": "get_order_details", "parameters": {"order_id": "#W2378156"}}',
        ORDER,
        "json",
    ),
    ("json-after-prose", f"Sure, I will look up your user ID now. {EMAIL_JSON}", EMAIL, "json"),
    (
        "json-openai-wrapper",
        '{"id": "call_1", "type": "function", "function": {"name": "get_order_details", '
        '"arguments": "{\\"order_id\\": \\"#W2378156\\"}"}}',
        ORDER,
        "json",
    ),
    ("json-two-calls", f"{EMAIL_JSON}\n{ORDER_JSON}", EMAIL, "json"),
    (
        "json-trailing-comma",
        '{"name": "get_order_details", "arguments": {"order_id": "#W2378156",}}',
        Error("invalid JSON in the call"),
        "malformed",
    ),
    (
        "json-single-quotes",
        "{'name': 'get_order_details', 'arguments': {'order_id': '#W2378156'}}",
        Error("Expecting property name"),
        "malformed",
    ),
    # ---- ReAct (τ-bench's react agent, LangChain)
    ("react", f"Thought:\nI need the user id first.\nAction:\n{EMAIL_JSON}", EMAIL, "react"),
    (
        "react-respond",
        'Thought:\nI should ask for the email.\nAction:\n{"name": "respond", "arguments": {"content": "What is your email?"}}',
        reply("What is your email?"),
        "react",
    ),
    (
        "react-hallucinated-observation",
        f"Thought:\nLook up the user.\nAction:\n{EMAIL_JSON}\nObservation:\nyusuf_rossi_9620\nThought:\nNow the order.\nAction:\n{ORDER_JSON}",
        EMAIL,
        "react",
    ),
    ("react-fenced", f"Thought: look it up\nAction:\n```json\n{ORDER_JSON}\n```", ORDER, "react"),
    (
        "react-prose-is-a-reply",
        "Thought:\nI need details.\nAction: I will ask the user for their order id.",
        reply("I will ask the user for their order id."),
        "react",
    ),
    (
        "langchain",
        'Thought: I need the order.\nAction: get_order_details\nAction Input: {"order_id": "#W2378156"}',
        ORDER,
        "react",
    ),
    ("langchain-no-input", "Action: list_all_product_types", call("list_all_product_types"), "react"),
    (
        "react-truncated",
        'Thought:\nCancel it.\nAction:\n{"name": "cancel_pending_order", "arguments": {"order_id": "#W6',
        Error("ends before it is complete", REACT_HINT),
        "malformed",
    ),
    (
        "langchain-input-not-json",
        "Action: get_order_details\nAction Input: #W2378156",
        Error("invalid JSON in the Action Input", REACT_HINT),
        "malformed",
    ),
    ("react-empty-action", "Thought:\nHmm.\nAction:\n", Error("the Action is empty", REACT_HINT), "malformed"),
]


@pytest.mark.parametrize(("text", "expected", "fmt"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_real_output_shapes(text, expected, fmt):
    result = parse(text, tool_names={"find_user_id_by_email", "get_order_details"})
    assert result.format == fmt
    if isinstance(expected, Error):
        assert result.action.is_parse_error
        assert result.error == result.action.kwargs["error"]
        assert expected.phrase in result.error
        assert expected.hint in result.error  # the policy is told the format to use
        assert result.action.kwargs["raw"] == text
    else:
        assert result.error is None
        assert result.action == expected


def test_the_table_is_large_and_covers_every_format():
    assert len(CASES) >= 40
    assert {fmt for *_, fmt in CASES} == {"hermes", "react", "fence", "json", "text", "malformed"}


def test_pick_chooses_which_of_several_calls_runs_and_calls_lists_them_all():
    text = f"<tool_call>\n{EMAIL_JSON}\n</tool_call>\n<tool_call>\n{ORDER_JSON}\n</tool_call>"
    assert parse(text).action == EMAIL
    last = parse(text, pick="last")
    assert last.action == ORDER
    assert last.calls == (EMAIL, ORDER)
    assert parse("Hello!").calls == ()


def test_a_malformed_picked_call_is_an_error_even_when_another_call_is_fine():
    text = f"<tool_call>\n{EMAIL_JSON}\n</tool_call>\n<tool_call>\n{{'name': 'x'}}\n</tool_call>"
    assert parse(text).action == EMAIL
    last = parse(text, pick="last")
    assert last.action.is_parse_error and "<tool_call> block 2" in last.error
    assert last.calls == (EMAIL,)


def test_tool_names_make_an_argumentless_bare_object_a_call():
    text = '{"name": "list_all_product_types"}'
    assert parse(text).action == reply(text)
    assert parse(text, tool_names=["list_all_product_types"]).action == call("list_all_product_types")


# ---------------------------------------------------------------- never raises

FRAGMENTS = [
    "<tool_call>",
    "</tool_call>",
    "<think>",
    "</think>",
    "{",
    "}",
    "[",
    "]",
    '"name"',
    '"arguments"',
    '"parameters"',
    '"function"',
    '"respond"',
    '"content"',
    ":",
    ",",
    '"',
    "'",
    "\\",
    "\n",
    "Action:",
    "Action Input:",
    "Thought:",
    "```",
    "```json\n",
    "null",
    "1e999",
    "<|im_end|>",
]
fragment_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=40).map("".join)


def check_total(text: str) -> None:
    for pick in ("first", "last"):
        result = parse(text, pick=pick)
        assert isinstance(result.action, Action)
        assert (result.error is not None) == result.action.is_parse_error == (result.format == "malformed")
        if result.format == "text":
            assert result.action.is_respond and result.calls == ()


@settings(max_examples=400)
@given(st.text())
def test_never_raises_on_arbitrary_text(text):
    check_total(text)


@settings(max_examples=1000)
@given(fragment_text)
def test_never_raises_on_text_made_of_call_fragments(text):
    check_total(text)


def test_never_raises_on_pathological_json():
    for text in (
        "[" * 100_000,
        '<tool_call>{"name": "x", "arguments": ' + "[" * 100_000,
        "{" + "9" * 5000 + "}",
        '{"name": 1' + "0" * 5000,
    ):
        check_total(text)


# ---------------------------------------------------------------- round trip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
names = st.text(min_size=1).filter(lambda name: name.strip() and name != "respond")


@settings(max_examples=200)
@given(names, st.dictionaries(st.text(), json_values, max_size=6))
def test_format_tool_call_round_trips(name, kwargs):
    action = Action(name, kwargs)
    result = parse(format_tool_call(action))
    assert result.format == "hermes"
    assert result.action == action


@given(st.text())
def test_a_reply_rendered_as_a_call_round_trips(content):
    assert parse(format_tool_call(Action.respond(content))).action == Action.respond(content)


def test_format_tool_call_writes_qwens_format():
    assert format_tool_call(ORDER) == f"<tool_call>\n{ORDER_JSON}\n</tool_call>"
    assert (
        format_tool_call(call("x", note="<b>"))
        == '<tool_call>\n{"name": "x", "arguments": {"note": "\\u003cb>"}}\n</tool_call>'
    )


def test_record_data_that_starts_like_a_call_is_a_reply():
    """An agent quoting a user record ({"name": {"first_name": ...}}, cut short) is talking, not calling."""
    text = 'Here is what I found: {"name": {"first_name": "Tara", "last_name": "Ortiz"}, "email": "\nIs there anything else?'
    result = parse(text)
    assert result.action.is_respond and result.error is None


# ---------------------------------------------------------------- worst cases stay linear

MEGABYTE = 1_000_000
# (pattern repeated to 1 MB, expected format): a model stuck repeating the start of a call, and texts aimed
# at each of the parser's scans; each once took seconds (quadratic), now well under one
WORST_CASES = [
    ('{"name":', "text"),  # nested 125,000 deep, never closed: data, not a call
    ('```json\n{"name":', "text"),
    ("Action: {\n", "malformed"),
    ("Action: x\nAction Input: {\n", "malformed"),
    ("Action: ```json\n[]\n", "malformed"),
    ("<tool_call>", "malformed"),
    ("<tool_call>```json\n{}" + " " * 64, "malformed"),
    ('{"function": {', "malformed"),
    ('{"name": "x", "id": ', "malformed"),
    ('{"name": "\\', "malformed"),
    ('"\\', "text"),
    ("{", "text"),
    ("<think>{", "text"),
    ("<|im_end|>", "text"),
]


def repeated(pattern: str, size: int = MEGABYTE) -> str:
    return pattern * (size // len(pattern))


@pytest.mark.slow
@pytest.mark.parametrize(("pattern", "fmt"), WORST_CASES, ids=[repr(p) for p, _ in WORST_CASES])
def test_a_megabyte_of_a_worst_case_pattern_parses(pattern, fmt):
    text = repeated(pattern)
    result = parse(text)
    assert result.format == fmt
    assert result.calls == ()
    if fmt == "malformed":
        assert len(result.error) < 1000  # the message quotes an excerpt, never the text
        assert result.action.kwargs["raw"] == text
    assert parse(text, pick="last").format == fmt


def test_a_megabyte_of_calls_reads_every_call():
    text = repeated(f"```json\n{ORDER_JSON}\n```\n")
    result = parse(text, pick="last")
    assert result.format == "fence"
    assert result.action == ORDER
    assert len(result.calls) == text.count(ORDER_JSON)


def test_a_call_below_a_chain_deeper_than_json_can_read_is_found():
    """json's recursion limit fails every object holding the chain: the call at its bottom is the first
    object that decodes, as when each start was decoded on its own."""
    for depth in (2_000, 50_000):
        text = '{"id":' * depth + ORDER_JSON + "}" * depth
        assert parse(text).action == ORDER
        assert parse('{"name":' * depth + "1" + "}" * depth).format == "text"


# ---------------------------------------------------------------- the fast paths agree with plain decoding

json_fragment_text = st.lists(
    st.sampled_from([*FRAGMENTS, " ", "\t", "1.5", "-", "0", '"f"', "true", "\\u12", "\\ud800", "\x01", "é", '\\"'])
    | st.text(max_size=3),
    max_size=60,
).map("".join)


@pytest.mark.slow
@settings(max_examples=1000)
@given(json_fragment_text)
def test_shapes_tell_where_json_decodes_and_where_it_ends(text):
    shapes = parser._Shapes(text, capacity=10_000)
    for start, char in enumerate(text):
        if char not in "{[":
            continue
        try:
            end = json.JSONDecoder().raw_decode(text, start)[1]
        except ValueError:
            end = None
        shape = shapes.at(start) if char == "{" else parser._Shapes(text, 10_000).at(start)
        assert (shape.end if shape else None) == end


# the scan for unmarked calls as it was written first: decode at every start, keep the calls
NAIVE_OBJECT_START = re.compile(r'\{\s*"(?:arguments|function|id|name|parameters|type)"\s*:')


def naive_unmarked_calls(text, tool_names):
    found, resume = [], 0
    for start in NAIVE_OBJECT_START.finditer(text):
        if start.start() < resume:
            continue
        decoded = parser._decode(text, "the call", parser.HERMES_FORMAT, start.start())
        if isinstance(decoded, parser._Malformed) or not parser._is_call(decoded[0], tool_names):
            continue
        found.append(parser._to_action(decoded[0], "the call", parser.HERMES_FORMAT))
        resume = decoded[1]
    return found


@settings(max_examples=1000)
@given(json_fragment_text, st.sampled_from([None, {"x", "get_order_details"}]))
def test_unmarked_calls_are_those_a_decode_at_every_start_finds(text, tool_names):
    found = [attempt for _, attempt in parser._unmarked_calls(text, tool_names) if isinstance(attempt, Action)]
    assert found == naive_unmarked_calls(text, tool_names)


@settings(max_examples=300)
@given(
    st.lists(
        st.sampled_from(["Action:", "Action: x\nAction Input:", "\n", " ", "```json\n", ORDER_JSON, "{", "[", "]"])
        | json_fragment_text,
        max_size=12,
    ).map("".join)
)
def test_react_reads_each_action_as_if_the_text_ended_there(text):
    """JSON after one Action cannot reach the next, so a bound there changes nothing; and only the first
    and last attempt's errors are ever shown."""
    markers = list(parser._ACTION.finditer(text))
    unbounded = [a for marker in markers for a in parser._react_action(text, marker.end(), len(text))]
    found = [attempt for _, attempt in parser._react_calls(text)]
    assert [a for a in found if isinstance(a, Action)] == [a for a in unbounded if isinstance(a, Action)]
    if markers:
        assert (found[0], found[-1]) == (unbounded[0], unbounded[-1])
