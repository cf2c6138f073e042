"""The judge: assertion verdicts as a recorded, replayable reward component, and failure attribution,
all against serve-sim's deterministic judge (sim-judge) with no network beyond the local server."""

import dataclasses
import json
import shutil

import pytest
from typer.testing import CliRunner

from taurl.cli import app
from taurl.core import reward_judge as core_judge
from taurl.core.reward_judge import parse_verdicts
from taurl.core.types import RewardBasis, Task
from taurl.episodes.config import Endpoint, RunConfig
from taurl.episodes.runner import execute
from taurl.llm.ledger import ledger_for
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.review.attribution import attribution_summary
from taurl.review.replay import Replayer
from taurl.sim.server import SimServer
from tests.test_live_path import block_network

MET = "The agent asks 'anything else'"  # sim-agent ends its replies with "Is there anything else?"
UNMET = "The agent says 'your refund was issued'"


@pytest.fixture(scope="module")
def sim():
    with SimServer() as server:
        yield server


def data_dir_with(tmp_path, assertions: list[tuple[str, ...]]):
    """The built-in retail data with its first test tasks given these assertions (one tuple per task)."""
    data = tmp_path / "data"
    shutil.copytree(get_domain("retail").builtin_data_dir, data)
    tasks = get_domain("retail").tasks("test")[: len(assertions)]
    tasks = [dataclasses.replace(t, nl_assertions=a) for t, a in zip(tasks, assertions, strict=True)]
    (data / "tasks_test.json").write_text(json.dumps([t.to_dict() for t in tasks]))
    return data, [t.id for t in tasks]


def sim_config(sim, tmp_path, data, task_ids, agent="sim-agent", user="sim-user", **judge) -> RunConfig:
    return RunConfig(
        domain="retail",
        task_ids=task_ids,
        agent="tool-calling",
        agent_endpoint=Endpoint(agent, sim.base_url),
        user="llm",
        user_endpoint=Endpoint(user, sim.base_url),
        cache_dir=tmp_path / "cache",
        data_dirs={"retail": str(data)},
        **judge,
    )


def judged(sim, tmp_path, assertions, **reward):
    data, ids = data_dir_with(tmp_path, assertions)
    config = sim_config(sim, tmp_path, data, ids, judge_endpoint=Endpoint("sim-judge", sim.base_url, temperature=0.0))
    for key, value in reward.items():
        setattr(config, key, value)
    summary = execute(config, tmp_path / "rec")
    assert not summary.errors
    return {r.task.id: r for r in summary.results}, ids


def test_task_assertions_serialise_only_when_present():
    task = get_domain("retail").tasks("test")[0]
    assert "nl_assertions" not in task.to_dict()  # old recordings' task_json unchanged
    with_assertions = dataclasses.replace(task, nl_assertions=(MET,))
    assert Task.from_dict(json.loads(json.dumps(with_assertions.to_dict()))) == with_assertions


@pytest.mark.parametrize(
    ("reply", "met", "flags"),
    [
        ('[{"assertion_index": 0, "met": true, "reason": "r"}, {"assertion_index": 1, "met": false}]', (1, 0), ()),
        ('```json\n[{"assertion_index": 1, "met": true}, {"assertion_index": 0, "met": true}]\n```', (1, 1), ()),
        ("", (0, 0), ("empty reply",)),
        ("Both hold.", (0, 0), ("unparseable reply",)),
        ('[{"assertion_index": 0, "met": true}]', (1, 0), ("assertion 1: missing",)),
        (
            '[{"assertion_index": 0, "met": true}, {"assertion_index": 0, "met": true}, {"assertion_index": 1, "met": true}]',
            (0, 1),
            ("assertion 0: duplicated",),
        ),
        (
            '[{"assertion_index": 0, "met": true}, {"assertion_index": 0, "met": false}, {"assertion_index": 1, "met": true}]',
            (0, 1),
            ("assertion 0: conflicting",),
        ),
        (
            '[{"assertion_index": 0, "met": true, "reason": "The refund is not met."}, {"assertion_index": 1, "met": "yes"}]',
            (0, 0),
            ("entry 1: malformed", "assertion 1: missing", "assertion 0: reason contradicts verdict"),
        ),
    ],
)
def test_a_verdict_in_doubt_is_not_met_and_flagged(reply, met, flags):
    got_met, _, got_flags = parse_verdicts(reply, 2)
    assert got_met == tuple(bool(m) for m in met)
    assert sorted(got_flags) == sorted(flags)


def test_judge_verdicts_are_recorded_and_replay_offline_identically(sim, tmp_path, monkeypatch):
    spent_before = ledger_for(None).spent()[0]
    results, ids = judged(sim, tmp_path, [(MET,), (MET, UNMET)], judge_weight=1.0)
    first, second = results[ids[0]], results[ids[1]]
    assert first.breakdown.judge.met == (True,) and first.reward == 1.0  # weight 1: the judge alone decides
    assert second.breakdown.judge.met == (True, False) and second.reward == 0.5
    for result in (first, second):  # each episode's judge call is recorded with the episode's own calls
        (call,) = [c for c in result.model_calls if c.namespace == "judge"]
        assert call.model == "sim-judge" and result.breakdown.judge.call_keys == (call.key,)
    judge_calls = [c for r in results.values() for c in r.model_calls if c.namespace == "judge"]
    # the judge spends from the run's one ledger: every call's tokens, the judge's included
    all_calls = [c for r in results.values() for c in r.model_calls]
    assert ledger_for(None).spent()[0] - spent_before == sum(c.prompt_tokens + c.completion_tokens for c in all_calls)
    assert sum(c.prompt_tokens for c in judge_calls) > 0
    store = RecordingStore(tmp_path / "rec")
    _, rows = store.query("SELECT count(*) FROM model_calls WHERE namespace = 'judge'")
    assert rows == [(2,)]

    attempts = block_network(monkeypatch)
    replays = list(Replayer(store).replay_all())
    assert [r.status for r in replays] == ["identical", "identical"]
    assert attempts == []

    # a judge prompt that changed since the recording: replay names the judge
    monkeypatch.setattr(core_judge, "ASSERTIONS_SYSTEM", core_judge.ASSERTIONS_SYSTEM + " Be strict.")
    changed = list(Replayer(store).replay_all())
    assert [r.first.kind for r in changed] == ["reward: judge", "reward: judge"]


def test_an_empty_or_inconsistent_judge_reply_counts_as_not_met_and_is_flagged(sim, tmp_path):
    faults = ["empty", "prose", "omit", "duplicate", "conflict"]
    results, ids = judged(
        sim, tmp_path, [(f"{MET} [sim-judge: {fault}]", MET) for fault in faults], basis=RewardBasis.DB_OUTPUTS_JUDGE
    )
    flags = {fault: results[i].breakdown.judge.flags for fault, i in zip(faults, ids, strict=True)}
    assert flags == {
        "empty": ("empty reply",),
        "prose": ("unparseable reply",),
        "omit": ("assertion 0: missing",),
        "duplicate": ("assertion 0: duplicated",),
        "conflict": ("assertion 0: conflicting",),
    }
    for task_id in ids:
        breakdown = results[task_id].breakdown
        assert breakdown.judge.met[0] is False and breakdown.reward == 0.0
        assert json.loads(json.dumps(breakdown.to_dict()))["judge"]["flags"] == list(breakdown.judge.flags)


def test_rescore_with_a_judge_model_stores_the_new_calls_beside_the_old_ones(sim, tmp_path):
    data, ids = data_dir_with(tmp_path, [(MET,), (UNMET,)])
    assert not execute(sim_config(sim, tmp_path, data, ids), tmp_path / "rec").errors  # recorded without a judge
    result = CliRunner().invoke(
        app,
        ["rescore", str(tmp_path / "rec"), "--basis", "db+outputs+judge", "--judge-model", "sim-judge"]
        + ["--judge-base-url", sim.base_url],
    )
    assert result.exit_code == 0, result.output
    store = RecordingStore(tmp_path / "rec")
    _, rows = store.query("SELECT e.task_id, r.breakdown_json FROM rescores r JOIN episodes e USING (episode_id)")
    stored = {task: json.loads(breakdown) for task, breakdown in rows}
    assert stored[ids[0]]["judge"]["met"] == [True] and stored[ids[1]]["judge"]["met"] == [False]
    for breakdown in stored.values():
        (call,) = breakdown["model_calls"]
        assert call["namespace"] == "judge" and call["model"] == "sim-judge"
        assert breakdown["judge"]["call_keys"] == [call["key"]]
    _, recorded = store.query("SELECT count(*) FROM model_calls WHERE namespace = 'judge'")
    assert recorded == [(0,)]  # the episodes' own calls are as recorded


@pytest.mark.slow
def test_failures_are_attributed_to_the_planted_cause_and_replay_offline(sim, tmp_path, monkeypatch):
    data, ids = data_dir_with(tmp_path, [()] * 4)
    planted = {"badargs": ("sim-agent-badargs", "sim-user"), "quitter": ("sim-agent", "sim-user-quitter")}
    for run_id, (agent, user) in planted.items():
        summary = execute(sim_config(sim, tmp_path, data, ids, agent, user), tmp_path / "rec", run_id)
        assert summary.results and not summary.errors

    runner = CliRunner()
    args = ["judge", str(tmp_path / "rec"), "--rubric", "faults", "--judge-model", "sim-judge"]
    result = runner.invoke(app, [*args, "--judge-base-url", sim.base_url, "--cache-dir", str(tmp_path / "jc")])
    assert result.exit_code == 0, result.output
    store = RecordingStore(tmp_path / "rec")
    summary = {(run, category, kind): n for run, category, kind, n in attribution_summary(store)}
    _, failed = store.query("SELECT run_id, count(*) FROM episodes WHERE NOT passed GROUP BY 1")
    failed = dict(failed)
    assert summary == {
        ("badargs", "agent_error", "bad_arguments"): failed["badargs"],
        ("quitter", "user_error", "ended_early"): failed["quitter"],
    }
    assert failed["badargs"] > 0 and failed["quitter"] > 0
    # the report summarises it: the planted causes, the simulated user's among them
    from taurl.review.report import build_report

    page = build_report([tmp_path / "rec"])
    assert (
        f'data-metric="faults" data-run="quitter" data-category="user_error" data-kind="ended_early">'
        f"{failed['quitter']}<" in page
    )
    assert f'data-run="badargs" data-category="agent_error" data-kind="bad_arguments">{failed["badargs"]}<' in page

    # judged once: a second run asks nothing and stores nothing new
    before = sim.stats()["by_model"].get("sim-judge", 0)
    assert runner.invoke(app, [*args, "--judge-base-url", sim.base_url]).exit_code == 0
    assert sim.stats()["by_model"].get("sim-judge", 0) == before
    assert store.query("SELECT count(*) FROM rescores")[1] == [(sum(failed.values()),)]

    attempts = block_network(monkeypatch)
    replayed = runner.invoke(app, [*args, "--replay", "--format", "json"])
    assert replayed.exit_code == 0, replayed.output
    assert {row["status"] for row in json.loads(replayed.output)} == {"identical"}
    assert attempts == []


def test_a_judged_reward_without_a_judge_model_is_refused_before_any_episode():
    from taurl.episodes.config import ConfigError

    for config in (RunConfig(basis=RewardBasis.DB_OUTPUTS_JUDGE), RunConfig(judge_weight=0.2)):
        with pytest.raises(ConfigError, match="--judge-model"):
            config.validate()
    assert "judge_endpoint" not in RunConfig().to_record()  # records and run ids without a judge as before
