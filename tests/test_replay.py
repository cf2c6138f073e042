"""Replay as regression testing: golden recordings replay clean; a changed tool or parser is named."""

import json
import subprocess
import sys

import pytest

from taurl.domains import DOMAIN_NAMES
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.review.replay import Replayer
from tests.conftest import REPO, TAUBENCH, require

GOLDEN = REPO / "recordings"


@pytest.fixture(scope="module")
def golden():
    return RecordingStore(GOLDEN)


def test_golden_recordings_replay_identically_offline(golden, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    results = list(Replayer(golden).replay_all())
    assert results and all(r.identical and not r.divergences for r in results), [
        r.first.describe() for r in results if r.first
    ][:3]


def test_golden_recordings_cover_domains_strategies_agents_and_error_paths(golden):
    _, rows = golden.query("SELECT DISTINCT domain FROM episodes")
    assert {r[0] for r in rows} == set(DOMAIN_NAMES)
    _, rows = golden.query("SELECT DISTINCT user_strategy FROM episodes")
    assert {r[0] for r in rows} == {"scripted", "llm", "react", "verify", "reflection"}
    _, rows = golden.query("SELECT DISTINCT agent FROM episodes")
    assert {r[0] for r in rows} == {"oracle", "tool-calling", "text"}
    _, rows = golden.query("SELECT DISTINCT error FROM steps WHERE error IS NOT NULL")
    assert {"unknown_tool", "bad_arguments", "parse_error"} <= {r[0] for r in rows}
    _, rows = golden.query("SELECT DISTINCT terminated_by FROM episodes")
    assert {r[0] for r in rows} == {"user_stop", "transfer", "max_steps"}


def test_a_changed_tool_fails_exactly_the_episodes_that_call_it(golden):
    tool = get_domain("retail").tools["get_order_details"]
    original = tool.function

    def changed(db, order_id):
        return original(db, order_id).replace('"status": "', '"status": "CHANGED-')

    object.__setattr__(tool, "function", changed)  # tools are frozen: swap the function for this test only
    try:
        results = list(Replayer(golden).replay_all())
    finally:
        object.__setattr__(tool, "function", original)
    _, rows = golden.query(
        "SELECT DISTINCT episode_id FROM tool_calls WHERE domain = 'retail' AND name = 'get_order_details' AND error IS NULL"
    )
    callers = {r[0] for r in rows}
    assert callers, "the golden recordings must call the tool for this test to mean anything"
    diverged = {r.episode_id: r.first for r in results if not r.identical}
    assert set(diverged) == callers
    for first in diverged.values():
        assert first.kind == "observation" and "CHANGED-" in first.current and "CHANGED-" not in first.recorded


def test_a_changed_parser_fails_the_text_agent_episodes(golden, monkeypatch):
    import taurl.agent.replay as replay_agent
    from taurl.core.types import Action

    real = replay_agent.parse

    def lenient(text, pick="first", tool_names=None):
        result = real(text, pick, tool_names)
        if result.action.is_parse_error:  # a "parser change": malformed calls silently become replies
            return type(result)(Action.respond(text), (), None, "text")
        return result

    monkeypatch.setattr(replay_agent, "parse", lenient)
    results = list(Replayer(golden).replay_all())
    diverged = {r.run_id: r.first for r in results if not r.identical}
    assert diverged and all(run.startswith("golden-parse-error") for run in diverged)
    for first in diverged.values():
        assert first.kind == "parsed action" and first.turn == 0
        assert first.recorded["name"] == "__parse_error__" and first.current["name"] == "respond"


def test_a_missing_model_call_is_a_replay_miss_that_names_the_request(golden):
    replayer = Replayer(golden, use_recorded_calls=False)  # no cache either: every user call misses
    (row,) = [r for r in replayer.episodes("run_id = 'golden-llm-user-retail'")]
    first = replayer.replay(row).first
    assert first.kind == "user message" and "replay miss" in first.current and "sim-user" in first.current


@pytest.mark.shared_data
def test_tau_bench_runs_import_with_equal_rewards_and_replay_from_the_cache_alone(tmp_path):
    results = require(TAUBENCH / "airline" / "historical_gpt-4o_sample.json")
    rec, cache = tmp_path / "imported", tmp_path / "cache"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "taurl.cli",
            "import",
            "tau-bench",
            str(results),
            "--domain",
            "airline",
            "--data-dir",
            str(TAUBENCH / "airline"),
            "--out",
            str(rec),
            "--cache-dir",
            str(cache),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "40/40 rewards agree" in out.stdout.replace("\n", " ")
    store = RecordingStore(rec)
    _, rows = store.query("SELECT count(*), sum(CASE WHEN reward = source_reward THEN 1 ELSE 0 END) FROM episodes")
    assert rows == [(40, 40)]
    replayed = list(Replayer(store, cache_dir=cache, use_recorded_calls=False).replay_all())
    assert all(r.identical for r in replayed), [r.first.describe() for r in replayed if r.first][:2]
    stale = [r for r in replayed if r.divergences]
    assert len(stale) == 28 and all(
        d.kind == "stale observation" and not d.failing for r in stale for d in r.divergences
    )


def test_rescore_stores_new_scores_beside_the_old_ones(tmp_path):
    import shutil

    rec = tmp_path / "rec"
    shutil.copytree(GOLDEN, rec)
    out = subprocess.run(
        [sys.executable, "-m", "taurl.cli", "rescore", str(rec), "--basis", "actions"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    store = RecordingStore(rec)
    _, rows = store.query(
        "SELECT count(*), count(DISTINCT r.rescore_id), bool_and(r.reward_basis = 'actions') FROM rescores r JOIN episodes e USING (episode_id)"
    )
    assert rows == [(store.query("SELECT count(*) FROM episodes")[1][0][0], 1, True)]
    _, config = store.query("SELECT DISTINCT config_json FROM rescores")
    assert json.loads(config[0][0])["basis"] == "actions"


def test_pytest_plugin_makes_one_item_per_episode_and_prints_the_first_divergence(pytester):
    pytester.makeconftest(
        """
from taurl.registry import get_domain
tool = get_domain("retail").tools["get_order_details"]
original = tool.function
object.__setattr__(tool, "function", lambda db, order_id: original(db, order_id) + " ")
"""
    )
    result = pytester.runpytest_subprocess("--taurl-recordings", str(GOLDEN), "-q")
    outcomes = result.parseoutcomes()
    store = RecordingStore(GOLDEN)
    total = store.query("SELECT count(*) FROM episodes")[1][0][0]
    callers = store.query(
        "SELECT count(DISTINCT episode_id) FROM tool_calls WHERE name = 'get_order_details' AND domain = 'retail'"
    )[1][0][0]
    assert outcomes.get("failed") == callers and outcomes.get("passed") == total - callers
    result.stdout.fnmatch_lines(["*replay[[]retail/*", "*diverged at turn * observation differs*"])
