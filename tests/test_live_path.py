"""The live path against serve-sim through the real openai client: record, replay offline, faults, secrets."""

import socket

import pytest

from taurl.episodes.config import Endpoint, RunConfig
from taurl.episodes.rollout import RunControl
from taurl.episodes.runner import execute
from taurl.llm.cache import CacheMode, ReplayMissError
from taurl.llm.client import ChatClient, RetryPolicy
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.sim.server import SimServer

SENTINEL = "sk-SENTINEL-4f9c2e-never-on-disk"
FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.01, max_delay=0.05, timeout=1.0)


@pytest.fixture
def sim():
    with SimServer(timeout_delay=3.0) as server:
        yield server


def live_config(
    server, tmp_path, user="llm", agent="tool-calling", agent_model="sim-agent", mode=CacheMode.RECORD, n=3
):
    task_ids = [t.id for t in get_domain("retail").tasks("test")][:n]
    return RunConfig(
        domain="retail",
        split="test",
        task_ids=task_ids,
        agent=agent,
        agent_endpoint=Endpoint(agent_model, server.base_url if server else "http://127.0.0.1:9/v1"),
        user=user,
        user_endpoint=Endpoint("sim-user", server.base_url if server else "http://127.0.0.1:9/v1"),
        cache_mode=mode,
        cache_dir=tmp_path / "cache",
        retry=FAST_RETRY,
    )


def transcript(results):
    return {(r.task.id, r.trial): (r.messages, r.reward, str(r.terminated_by)) for r in results}


class NetworkBlocked(AssertionError):
    pass


def block_network(monkeypatch) -> list:
    """From now on any attempt to open a connection is logged and fails: replay must not even try."""
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise NetworkBlocked(f"network call attempted to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def test_record_then_replay_offline_with_no_key_gives_identical_episodes(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    with SimServer() as server:
        recorded = execute(live_config(server, tmp_path), tmp_path / "rec")
        assert not recorded.errors and len(recorded.results) == 3
        assert server.stats()["requests"] > 6
        base_url = server.base_url
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    attempts = block_network(monkeypatch)
    replay_config = live_config(None, tmp_path, mode=CacheMode.REPLAY)
    replay_config.agent_endpoint = Endpoint("sim-agent", base_url)
    replay_config.user_endpoint = Endpoint("sim-user", base_url)
    replayed = execute(replay_config, tmp_path / "replay")
    assert not replayed.errors
    assert transcript(replayed.results) == transcript(recorded.results)
    assert attempts == []
    calls = [c for r in replayed.results for c in r.model_calls]
    assert calls and all(c.cache_hit for c in calls)
    _, rows = RecordingStore(tmp_path / "replay").query("SELECT bool_and(cache_hit), count(*) FROM model_calls")
    assert rows == [(True, len(calls))]


def test_every_user_strategy_and_agent_runs_live(tmp_path, sim):
    for user in ("llm", "react", "verify", "reflection"):
        summary = execute(live_config(sim, tmp_path, user=user, n=1), tmp_path / f"rec-{user}")
        assert not summary.errors, summary.errors
        (result,) = summary.results
        namespaces = {c.namespace for c in result.model_calls}
        assert "user" in namespaces and "agent" in namespaces
        if user in ("verify", "reflection"):
            assert "user-verify" in namespaces
        assert result.messages[-1]["role"] == "user"


def test_injected_faults_are_retried_and_recorded(tmp_path, sim):
    faults = ["429", "500", "timeout", "malformed", "truncated", "503"]
    sim.set_faults([step for fault in faults for step in (fault, "ok")])  # each retry then succeeds
    summary = execute(live_config(sim, tmp_path, n=2), tmp_path / "rec")
    assert not summary.errors
    attempts = [c.attempts for r in summary.results for c in r.model_calls if not c.cache_hit]
    assert sum(sim.stats()["faults_injected"].values()) == 6
    assert sum(a - 1 for a in attempts) == 6  # each fault cost exactly one retry
    _, rows = RecordingStore(tmp_path / "rec").query("SELECT max(attempts) FROM model_calls")
    assert rows[0][0] >= 2


def test_a_model_that_keeps_failing_fails_its_episode_clearly_and_loses_nothing(tmp_path, sim):
    config = live_config(sim, tmp_path, n=5)
    control = RunControl()
    # stopped at the first episode recorded, as a Ctrl-C would: the rest are left to the resume
    first = execute(  # no commit window: the first episode is reported as soon as it is recorded
        config,
        tmp_path / "rec",
        run_id="r",
        control=control,
        on_episode=lambda _: control.stop(),
        concurrency=1,
        commit_window=0,
    )
    assert 1 <= len(first.results) < 5 and first.not_run >= 1 and not first.errors
    sim.set_faults(["500"] * 40)
    config.retry = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.01, timeout=1.0)
    second = execute(config, tmp_path / "rec", run_id="r", resume=True, concurrency=1)
    assert second.resumed == len(first.results) and second.errors
    assert "failed after 2 attempts" in second.errors[0].error and "InternalServerError" in second.errors[0].error
    _, rows = RecordingStore(tmp_path / "rec").query(
        "SELECT count(DISTINCT episode_id) FROM episodes WHERE run_id = 'r'"
    )
    assert rows[0][0] == 5 == second.resumed + len(second.results)


def test_no_api_key_is_written_anywhere(tmp_path, sim, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SENTINEL)
    config = live_config(sim, tmp_path, n=2)
    execute(config, tmp_path / "rec")
    for path in [*tmp_path.rglob("*")]:
        if path.is_file():
            assert SENTINEL.encode() not in path.read_bytes(), path


def test_replay_miss_names_the_request_and_its_difference(tmp_path, sim):
    from taurl.llm.cache import ResponseCache

    cache = ResponseCache(tmp_path / "cache")
    live = ChatClient("sim-user", sim.base_url, cache=cache, mode=CacheMode.RECORD, retry=FAST_RETRY)
    messages = [
        {"role": "system", "content": "<instruction>\nYour user id is ab_cd_1.\n</instruction>"},
        {"role": "user", "content": "Hi"},
    ]
    live.complete(messages, namespace="user")
    offline = ChatClient("sim-user", "http://127.0.0.1:9/v1", cache=cache, mode=CacheMode.REPLAY)
    assert offline.complete(messages, namespace="user").call.cache_hit
    changed = [messages[0], {"role": "user", "content": "Hello there"}]
    with pytest.raises(ReplayMissError) as info:
        offline.complete(changed, namespace="user")
    text = str(info.value)
    assert "replay miss" in text and "message 1 (user) field 'content' differs" in text
    assert "'Hello there'" in text and "'Hi'" in text
    assert offline._sdk is None  # never even built an HTTP client


def test_budget_stops_calls_before_they_are_sent(tmp_path, sim, monkeypatch):
    from taurl.llm import ledger
    from taurl.llm.client import BudgetExceededError, ClientLimits, reservation

    monkeypatch.setattr(ledger, "_LEDGERS", {})  # a fresh process ledger: earlier tests spent from it
    first = [{"role": "user", "content": "hello"}]
    probe = ChatClient("sim-user", sim.base_url, mode=CacheMode.OFF, params={"max_tokens": 16})
    limits = ClientLimits(max_total_tokens=reservation(probe.request(first))[0])  # room for the first call only
    client = ChatClient(
        "sim-user", sim.base_url, mode=CacheMode.OFF, limits=limits, retry=FAST_RETRY, params={"max_tokens": 16}
    )
    client.complete(first)
    before = sim.stats()["requests"]
    with pytest.raises(BudgetExceededError, match="token budget"):
        client.complete([{"role": "user", "content": "hello again"}])
    assert sim.stats()["requests"] == before
