"""The simulation server through the real openai client: deterministic models, streaming, injected faults."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from taurl.core.types import STOP_TOKEN
from taurl.sim import MODELS, SimServer

AIRLINE = "Your user id is mia_li_3668. You want to fly from New York to Seattle on May 20. Your reservation is ABC123."
RETAIL = "Your name is Omar Lopez and your zip code is 80218. You've received #W7273336 and #W1234567."
HELLO = "Hi! How can I help you today?"


def _function(name: str, *params: str) -> dict[str, Any]:
    properties = {p: {"type": "string", "description": p} for p in params}
    parameters = {"type": "object", "properties": properties, "required": list(params)}
    return {"type": "function", "function": {"name": name, "description": name, "parameters": parameters}}


TOOLS = [
    _function("find_user_id_by_name_zip", "first_name", "last_name", "zip"),
    _function("get_order_details", "order_id"),
    _function("get_user_details", "user_id"),
    _function("cancel_pending_order", "order_id", "reason"),
    _function("transfer_to_human_agents", "summary"),
]


@pytest.fixture(scope="module")
def sim():
    with SimServer(timeout_delay=1.0) as server:
        yield server


@pytest.fixture
def client(sim):
    sim.set_faults([])
    return openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0, timeout=5.0)


def customer(instruction: str, *turns: str, react: bool = False) -> list[dict[str, Any]]:
    """The user simulator's conversation: agent turns have role "user", the customer's own "assistant"."""
    fmt = "\nAnswer as:\nThought:\n<thought>\nUser Response:\n<reply>" if react else ""
    messages = [{"role": "system", "content": f"Play the customer.\n<instruction>\n{instruction}\n</instruction>{fmt}"}]
    for index, text in enumerate((HELLO, *turns)):
        messages.append({"role": "user" if index % 2 == 0 else "assistant", "content": text})
    return messages


def ask_user(client: openai.OpenAI, messages: list[dict[str, Any]]) -> str | None:
    return client.chat.completions.create(model="sim-user", messages=messages).choices[0].message.content


def ask_agent(client: openai.OpenAI, model: str, messages: list[dict[str, Any]], **kwargs: Any):
    return client.chat.completions.create(model=model, messages=messages, tools=TOOLS, **kwargs).choices[0]


def agent_conversation(said: str, *calls: tuple[str, dict[str, Any], str]) -> list[dict[str, Any]]:
    """An agent's conversation: the customer said ``said``, then each (tool, arguments, result) happened."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": "policy"}, {"role": "user", "content": said}]
    for index, (name, arguments, result) in enumerate(calls):
        function = {"name": name, "arguments": json.dumps(arguments)}
        call = {"id": f"call_{index}", "type": "function", "function": function}
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{index}", "content": result},
        ]
    return messages


def sim_http(sim: SimServer, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    """A plain HTTP call to the server's control endpoints."""
    url = sim.base_url.removesuffix("/v1") + path
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------- endpoints and wire format


def test_listens_on_loopback_only_and_lists_models(sim, client):
    assert sim.base_url.startswith("http://127.0.0.1:")
    assert [model.id for model in client.models.list()] == list(MODELS)


def test_same_request_gives_identical_bytes(client):
    def raw() -> bytes:
        response = client.chat.completions.with_raw_response.create(model="sim-user", messages=customer(AIRLINE))
        return response.http_response.content

    first = raw()
    assert first == raw()
    body = json.loads(first)
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["created"] == 1_700_000_000
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]


def test_unknown_model_is_not_found(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"


def test_max_tokens_cuts_the_reply(client):
    choice = client.chat.completions.create(model="sim-user", messages=customer(AIRLINE), max_tokens=2).choices[0]
    assert choice.finish_reason == "length"
    assert choice.message.content == "My user "  # 2 tokens of 4 characters


# ---------------------------------------------------------------- sim-user


@pytest.mark.parametrize(
    ("instruction", "agent_says", "expected"),
    [
        (AIRLINE, "Could you give me your user id?", "My user id is mia_li_3668."),
        (AIRLINE, "Which reservation is it?", "My reservation id is ABC123."),
        (RETAIL, "What is your order id?", "My order ids are #W7273336, #W1234567."),
        (RETAIL, "Please tell me your name and zip code.", "My name is Omar Lopez and my zip code is 80218."),
        (RETAIL, "What is your email address?", "I'm sorry, I don't remember that."),
        (AIRLINE, "Shall I book the 3pm flight?", "Yes, please go ahead."),
        (AIRLINE, "Your booking is completed.", STOP_TOKEN),
        (AIRLINE, "Is there anything else I can help with?", STOP_TOKEN),
        (AIRLINE, "Hmm.", "Could you please help me with that?"),
    ],
)
def test_sim_user_answers_the_agent(client, instruction, agent_says, expected):
    assert ask_user(client, customer(instruction, "My opening.", agent_says)) == expected


def test_sim_user_opens_with_its_goal_in_first_person(client):
    assert ask_user(client, customer(AIRLINE)) == "My user id is mia_li_3668."
    assert ask_user(client, customer(RETAIL)) == "My name is Omar Lopez and my zip code is 80218."
    typo = customer("You name is Yara Silva and your zip code is 77159. You want a refund.")
    assert ask_user(client, typo) == "My name is Yara Silva and my zip code is 77159."
    taubench_layout = (
        "You are a user.\n\nInstruction: Your user id is mia_li_3668. You want to fly.\n\nRules:\n- Be brief."
    )
    assert ask_user(client, [{"role": "system", "content": taubench_layout}]) == "My user id is mia_li_3668."


def test_sim_user_stops_after_six_turns(client):
    turns = [text for _ in range(5) for text in ("Hmm.", "Could you please help me with that?")]
    assert ask_user(client, customer(AIRLINE, "Opening.", *turns[:-2])) != STOP_TOKEN
    assert ask_user(client, customer(AIRLINE, "Opening.", *turns)) == STOP_TOKEN


def test_sim_user_react_format(client):
    reply = ask_user(client, customer(AIRLINE, "Opening.", "What is your user id?", react=True))
    thought, response = reply.split("\nUser Response:\n")
    assert thought.startswith("Thought:\n") and response == "My user id is mia_li_3668."


# ---------------------------------------------------------------- agents


def test_sim_agent_looks_up_each_identifier_then_summarises(client):
    said = "My user id is mia_li_3668 and my order is #W7273336."
    first = ask_agent(client, "sim-agent", agent_conversation(said))
    assert first.finish_reason == "tool_calls"
    call = first.message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == ("get_user_details", {"user_id": "mia_li_3668"})

    looked_up = ("get_user_details", {"user_id": "mia_li_3668"}, '{"name": "Mia"}')
    second = ask_agent(client, "sim-agent", agent_conversation(said, looked_up)).message.tool_calls[0]
    assert (second.function.name, json.loads(second.function.arguments)) == (
        "get_order_details",
        {"order_id": "#W7273336"},
    )

    order = ("get_order_details", {"order_id": "#W7273336"}, '{"status": "delivered"}')
    final = ask_agent(client, "sim-agent", agent_conversation(said, looked_up, order))
    assert final.finish_reason == "stop" and not final.message.tool_calls
    assert final.message.content == 'Here is what I found: {"status": "delivered"}\nIs there anything else?'


def test_sim_agent_uses_name_and_zip_and_asks_when_it_has_nothing(client):
    call = ask_agent(client, "sim-agent", agent_conversation("My name is Omar Lopez and my zip code is 80218."))
    assert json.loads(call.message.tool_calls[0].function.arguments) == {
        "first_name": "Omar",
        "last_name": "Lopez",
        "zip": "80218",
    }
    question = ask_agent(client, "sim-agent", agent_conversation("I want to cancel something.")).message.content
    assert question == "Could you please provide your name and zip code, order id, user id?"


def test_sim_agent_text_writes_hermes_tool_calls(client):
    content = ask_agent(client, "sim-agent-text", agent_conversation("My user id is mia_li_3668.")).message.content
    assert content.startswith("<tool_call>\n") and content.endswith("\n</tool_call>")
    call = json.loads(content.removeprefix("<tool_call>\n").removesuffix("\n</tool_call>"))
    assert call == {"name": "get_user_details", "arguments": {"user_id": "mia_li_3668"}}

    conversation = agent_conversation("My user id is mia_li_3668.")
    conversation += [
        {"role": "assistant", "content": content},
        {"role": "user", "content": '<tool_response>\n{"name": "Mia"}\n</tool_response>'},
    ]
    summary = ask_agent(client, "sim-agent-text", conversation).message.content
    assert summary == 'Here is what I found: {"name": "Mia"}\nIs there anything else?'


def test_sim_agent_without_tools_replies_in_text(client):
    messages = agent_conversation("My user id is mia_li_3668.")
    reply = client.chat.completions.create(model="sim-agent", messages=messages).choices[0].message
    assert reply.tool_calls is None and reply.content.endswith("Is there anything else?")


def _first_call(client: openai.OpenAI, model: str, messages: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    call = ask_agent(client, model, messages).message.tool_calls[0].function
    return call.name, json.loads(call.arguments)


def test_error_path_agents(client):
    said = "My user id is mia_li_3668."
    opening = agent_conversation(said)
    assert _first_call(client, "sim-agent-badtool", opening) == ("nonexistent_tool", {})
    assert _first_call(client, "sim-agent-badargs", opening) == ("find_user_id_by_name_zip", {})
    assert _first_call(client, "sim-agent-transfer", opening) == (
        "transfer_to_human_agents",
        {"summary": f"The customer needs help: {said}"},
    )
    malformed = ask_agent(client, "sim-agent-malformed", opening).message.content
    assert malformed.startswith("<tool_call>") and "</tool_call>" not in malformed

    after_bad_tool = agent_conversation(said, ("nonexistent_tool", {}, "Error: unknown tool"))
    assert _first_call(client, "sim-agent-badtool", after_bad_tool) == ("get_user_details", {"user_id": "mia_li_3668"})
    after_malformed = opening + [{"role": "assistant", "content": malformed}, {"role": "user", "content": said}]
    assert json.loads(ask_agent(client, "sim-agent-malformed", after_malformed).message.content.split("\n")[1]) == {
        "name": "get_user_details",
        "arguments": {"user_id": "mia_li_3668"},
    }

    looked_up = ("get_user_details", {"user_id": "mia_li_3668"}, '{"name": "Mia"}')
    chatty = agent_conversation(said, looked_up, looked_up, looked_up)
    assert _first_call(client, "sim-agent-chatty", chatty) == looked_up[:2]


# ---------------------------------------------------------------- streaming


def test_stream_matches_the_plain_answer(client):
    messages = customer(AIRLINE)
    plain = ask_user(client, messages)
    chunks = list(client.chat.completions.create(model="sim-user", messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1


def test_stream_assembles_a_tool_call_and_usage(client):
    messages = agent_conversation("My user id is mia_li_3668.")
    stream = client.chat.completions.create(
        model="sim-agent", messages=messages, tools=TOOLS, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    deltas = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert deltas[0].function.name == "get_user_details" and deltas[0].id.startswith("call_")
    assert json.loads("".join(d.function.arguments for d in deltas)) == {"user_id": "mia_li_3668"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


# ---------------------------------------------------------------- faults


def _complete(client: openai.OpenAI, stream: bool = False) -> Any:
    result = client.chat.completions.create(model="sim-user", messages=customer(AIRLINE), stream=stream)
    return list(result) if stream else result


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("fault", "error", "status"),
    [
        ("429", openai.RateLimitError, 429),
        ("500", openai.InternalServerError, 500),
        ("503", openai.InternalServerError, 503),
    ],
)
def test_status_faults(sim, client, fault, error, status, stream):
    sim.set_faults([fault])
    with pytest.raises(error) as caught:
        _complete(client, stream)
    assert caught.value.status_code == status
    assert caught.value.type in ("rate_limit_error", "server_error")
    if fault == "429":
        assert caught.value.response.headers["retry-after"] == "0"
        assert caught.value.response.headers["retry-after-ms"] == "1"
    assert _complete(client).choices[0].message.content == "My user id is mia_li_3668."


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_fault(sim, client, stream):
    sim.set_faults(["timeout"])
    with pytest.raises(openai.APITimeoutError):
        _complete(client.with_options(timeout=0.2), stream)
    assert _complete(client).choices[0].message.content == "My user id is mia_li_3668."


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_fault_is_a_json_error(sim, client, stream):
    """openai parses a 200 application/json body (or an SSE event) with ``json.loads`` and does not wrap the error."""
    sim.set_faults(["malformed"])
    with pytest.raises(json.JSONDecodeError):
        _complete(client, stream)


@pytest.mark.parametrize("stream", [False, True])
def test_truncated_fault_is_a_connection_error(sim, client, stream):
    """The server drops the connection mid-body, so httpx2 raises RemoteProtocolError and openai wraps it."""
    sim.set_faults(["truncated"])
    with pytest.raises(openai.APIConnectionError) as caught:
        _complete(client, stream)
    assert not isinstance(caught.value, openai.APITimeoutError)


def test_faults_are_a_fifo_queue_with_retries_taking_them(sim, client):
    sim.set_faults(["ok", "500"])
    _complete(client)
    with pytest.raises(openai.InternalServerError):
        _complete(client)
    sim.set_faults(["429", "429"])  # the client's own retries use up the queue (at once: retry-after-ms), then succeed
    assert _complete(client.with_options(max_retries=2)).choices[0].message.content == "My user id is mia_li_3668."


def test_control_endpoints_and_stats():
    with SimServer(faults=["500"]) as sim:
        client = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
        with pytest.raises(openai.InternalServerError):
            _complete(client)
        assert sim_http(sim, "/_sim/faults", {"faults": ["429", "malformed"]}) == (
            200,
            {
                "requests": 1,
                "by_model": {"sim-user": 1},
                "faults_injected": {"500": 1},
                "faults_pending": ["429", "malformed"],
            },
        )
        status, body = sim_http(sim, "/_sim/faults", {"faults": ["explode"]})
        assert status == 400 and "explode" in body["error"]["message"]
        with pytest.raises(openai.RateLimitError):
            _complete(client)
        sim.set_faults([])
        ask_agent(client, "sim-agent", agent_conversation("hello"))
        assert sim_http(sim, "/_sim/stats") == (200, sim.stats())
        assert sim.stats() == {
            "requests": 3,
            "by_model": {"sim-agent": 1, "sim-user": 2},
            "faults_injected": {"429": 1, "500": 1},
            "faults_pending": [],
        }


def test_unknown_startup_fault_is_refused():
    with pytest.raises(ValueError, match="explode"):
        SimServer(faults=["explode"])
