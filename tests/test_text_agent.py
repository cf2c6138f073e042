"""The text agent end to end against serve-sim: Qwen2.5's tools prompt, calls parsed from text, tool
observations sent back, and a malformed call answered with a parse error the episode survives."""

from __future__ import annotations

import json

import pytest

from taurl.agent.prompts import TURN_RULES, system_prompt
from taurl.agent.text import TextAgent
from taurl.core.types import Action, ModelCall
from taurl.episodes.config import Endpoint, RunConfig
from taurl.episodes.runner import execute
from taurl.llm.cache import CacheMode
from taurl.llm.client import Completion, RetryPolicy
from taurl.registry import get_domain
from taurl.sim import models as sim_models
from taurl.sim.server import SimServer
from taurl.skyrl.tokenizer import CHAT_TEMPLATE

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05, timeout=2.0)
DEAD_URL = "http://127.0.0.1:9/v1"


def render_qwen25_system(system: str, tools: list[dict]) -> str:
    """Render as transformers does: sandboxed jinja2, ``tojson`` = json.dumps keeping order and non-ASCII."""
    sandbox = pytest.importorskip("jinja2.sandbox")
    env = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    # the whole published template: given only the system message, it renders just the system turn
    return env.from_string(CHAT_TEMPLATE).render(messages=[{"role": "system", "content": system}], tools=tools)


@pytest.fixture
def sim():
    with SimServer() as server:
        yield server


def text_config(base_url: str, tmp_path, agent_model: str, n: int = 2, mode=CacheMode.RECORD) -> RunConfig:
    return RunConfig(
        domain="retail",
        split="test",
        task_ids=[t.id for t in get_domain("retail").tasks("test")][:n],
        agent="text",
        agent_endpoint=Endpoint(agent_model, base_url),
        user="llm",
        user_endpoint=Endpoint("sim-user", base_url),
        cache_mode=mode,
        cache_dir=tmp_path / "cache",
        retry=FAST_RETRY,
    )


# ---------------------------------------------------------------- the prompt


def test_system_prompt_is_qwen25s_own_tools_rendering():
    domain = get_domain("retail")
    prompt = system_prompt(domain.policy, domain.tools)
    system, _, _ = prompt.rpartition("\n\n# Tools\n\n")
    assert system == f"{domain.policy.strip()}\n\n{TURN_RULES}"
    rendered = render_qwen25_system(system, domain.tools.openai_schemas())
    assert rendered == f"<|im_start|>system\n{prompt}<|im_end|>\n"


def test_system_prompt_lists_tools_in_registration_order_and_is_deterministic():
    domain = get_domain("retail")
    prompt = system_prompt(domain.policy, domain.tools)
    block = prompt.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    assert [json.loads(line) for line in block.split("\n")] == domain.tools.openai_schemas()
    assert system_prompt(domain.policy, domain.tools) == prompt
    assert "sent to the user" in prompt and "Only one tool call per turn is executed" in prompt
    assert prompt.endswith('<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>')


def test_serve_sim_reads_the_tools_of_the_prompt():
    domain = get_domain("retail")
    request = {"messages": [{"role": "system", "content": system_prompt(domain.policy, domain.tools)}]}
    assert [t.name for t in sim_models.AgentView.of(request).tools] == domain.tools.names


# ---------------------------------------------------------------- live episodes


def test_text_agent_episodes_call_tools_written_as_text(tmp_path, sim):
    summary = execute(text_config(sim.base_url, tmp_path, "sim-agent-text"), tmp_path / "rec")
    assert not summary.errors and len(summary.results) == 2
    tools = get_domain("retail").tools
    for result in summary.results:
        assert result.messages[0]["content"].startswith(get_domain("retail").policy.strip()[:40])
        tool_steps = [s for s in result.trace if not s.action.is_respond]
        assert tool_steps, "the agent looked something up"
        for step in tool_steps:
            assert step.action.name in tools and step.source == step.action.name
            assert step.error is None and not step.observation.startswith("Error")
        responses = [i for i, m in enumerate(result.messages) if m["content"].startswith("<tool_response>")]
        assert len(responses) == len(tool_steps)
        assert all(m["role"] != "tool" for m in result.messages)  # text-only endpoints take no tool role
        for index in responses:
            message, call = result.messages[index], result.messages[index - 1]
            assert message["role"] == "user" and message["content"].endswith("\n</tool_response>")
            assert call["role"] == "assistant" and "tool_calls" not in call
            assert call["content"].startswith("<tool_call>\n")  # the raw text, as the model wrote it
        agent_calls = [c for c in result.model_calls if c.namespace == "agent"]
        assert agent_calls and all(c.request["tools"] == [] for c in agent_calls)  # tools only in the prompt


def test_a_malformed_call_gets_a_parse_error_and_the_episode_goes_on(tmp_path, sim):
    summary = execute(text_config(sim.base_url, tmp_path, "sim-agent-malformed", n=1), tmp_path / "rec")
    assert not summary.errors
    (result,) = summary.results
    first, *rest = result.trace
    assert first.action.is_parse_error and first.source == "parser" and first.error == "parse_error"
    assert first.observation.startswith("Error: could not read your tool call")
    assert "ends before it is complete" in first.observation
    assert '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>' in first.observation
    assert result.messages[2]["content"] == first.action.kwargs["raw"]  # the malformed text stays as written
    assert result.messages[3] == {"role": "user", "content": f"<tool_response>\n{first.observation}\n</tool_response>"}
    assert any(not s.action.is_respond and s.error is None for s in rest), "a valid call followed"
    assert result.messages[-1]["role"] == "user" and result.terminated_by == "user_stop"


def test_text_episodes_replay_offline_identically(tmp_path, sim):
    recorded = execute(text_config(sim.base_url, tmp_path, "sim-agent-malformed"), None)
    replayed = execute(text_config(DEAD_URL, tmp_path, "sim-agent-malformed", mode=CacheMode.REPLAY), None)
    assert not recorded.errors and not replayed.errors
    assert [(r.messages, r.reward) for r in replayed.results] == [(r.messages, r.reward) for r in recorded.results]
    assert all(c.cache_hit for r in replayed.results for c in r.model_calls)


# ---------------------------------------------------------------- the agent alone


class ScriptedClient:
    """A ChatClient stand-in that answers with fixed texts and keeps the arguments of each call."""

    def __init__(self, *contents: str | None):
        self.contents = list(contents)
        self.requests: list[dict] = []

    def complete(self, messages, tools=None, namespace="default", sample_index=0):
        self.requests.append({"tools": tools, "namespace": namespace, "sample_index": sample_index})
        call = ModelCall("key", namespace, "scripted", sample_index, {}, {}, cache_hit=False)
        return Completion({"role": "assistant", "content": self.contents.pop(0)}, call)


def test_text_agent_keeps_the_raw_text_and_executes_the_picked_call():
    domain = get_domain("retail")
    two_calls = (
        '<tool_call>\n{"name": "list_all_product_types", "arguments": {}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_user_details", "arguments": {"user_id": "a_b_1234"}}\n</tool_call>'
    )
    client = ScriptedClient(two_calls, None)
    agent = TextAgent(client, sample_index=3, pick="last")
    system = agent.start(domain.tasks("test")[0], domain.tools, domain.policy)
    assert system == {"role": "system", "content": system_prompt(domain.policy, domain.tools)}
    turn = agent.next_turn([system])
    assert turn.message == {"role": "assistant", "content": two_calls}
    assert turn.action == Action("get_user_details", {"user_id": "a_b_1234"}) and turn.call_id is None
    empty = agent.next_turn([system])
    assert empty.message == {"role": "assistant", "content": ""} and empty.action == Action.respond("")
    assert client.requests == [{"tools": None, "namespace": "agent", "sample_index": 3}] * 2
    assert len(agent.calls) == 2
