"""An endpoint is input: the real ``taurl run`` against serve-sim playing a hostile OpenAI-compatible server
on 127.0.0.1 (usage missing or negative, never answering, trickling a byte at a time) keeps its budget, ends
every call by its deadline, stops at once on SIGTERM, and checks its cache directory before any request."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from taurl.sim.server import SimServer
from tests.conftest import REPO, TAURL, query, sim_run, wait_for
from tests.test_chaos import Run, task_ids

pytestmark = pytest.mark.slow

BUDGET = 20000
CALL_TIMEOUT = 1.0  # seconds: small, so a test against a server that never answers takes seconds
# a deadline test's upper bound on one episode that ends at its first call: the deadline plus a loaded 2-core
# machine's worth of slack (before the deadline, a hung call took 618 s and a trickling one had no end)
EPISODE_BOUND_MS = 15_000
HOSTILE = ["no-usage", "negative-usage", "timeout", "trickle"]  # timeout: never answers (30 s, or until hung up)


@pytest.fixture
def sim():
    with SimServer(timeout_delay=30.0, trickle_interval=0.5) as server:
        yield server


def hostile_run(sim: SimServer, rec: Path, tmp_path: Path, *extra: str, tasks: int | None = None) -> list[str]:
    """``taurl run`` with a tool-calling agent and an LLM user, both served by ``sim``."""
    chosen = ["--task-ids", ",".join(task_ids(tasks))] if tasks else []
    return sim_run(
        sim.base_url, sim.base_url, rec, tmp_path / "cache", "hostile",
        *chosen, "--call-timeout", str(CALL_TIMEOUT), "--format", "jsonl", *extra,
    )  # fmt: skip


def run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def spent_tokens(stderr: str) -> int:
    """The run's own count of what it spent (its budget's ledger), from its last line."""
    found = re.search(rf"spent (\d+) of {BUDGET} tokens", " ".join(stderr.split()))
    assert found, stderr
    return int(found.group(1))


@pytest.mark.parametrize("fault", HOSTILE)
def test_spend_never_passes_the_budget_whatever_the_server_reports(sim, tmp_path, fault):
    rec = tmp_path / "rec"
    sim.set_faults([fault] * 5000)
    done = run(hostile_run(sim, rec, tmp_path, "--max-tokens-budget", str(BUDGET)))
    assert done.returncode == 1, done.stderr
    assert "spend limit reached" in done.stderr and "Traceback" not in done.stderr
    spent = spent_tokens(done.stderr)
    assert spent <= BUDGET
    # every call sent was charged: the budget stopped the run, not a server that reports nothing
    assert spent > BUDGET // 2
    recorded, attempts, flagged = query(
        rec, "SELECT sum(prompt_tokens + completion_tokens), sum(attempts), count(usage_flag) FROM model_calls"
    )[0]
    if fault in ("no-usage", "negative-usage"):
        # every request the server saw is a recorded call charged at its estimate, flagged so SQL finds it
        assert attempts == sim.stats()["requests"] and recorded == spent
        flag = {"no-usage": "missing", "negative-usage": "negative"}[fault]
        assert query(rec, "SELECT DISTINCT usage_flag FROM model_calls") == [(flag,)]
        assert query(rec, "SELECT min(prompt_tokens), min(completion_tokens) FROM model_calls")[0] > (0, 0)
        shown = run(
            [*TAURL, "sql", "--recording", str(rec), "SELECT count(*) FROM model_calls WHERE usage_flag IS NOT NULL"]
        )
        assert shown.returncode == 0 and str(flagged) in shown.stdout
    else:
        # no call was answered, so none is recorded; each attempt was charged its reservation all the same
        assert recorded is None and sim.stats()["requests"] > 1


@pytest.mark.parametrize("fault", ["timeout", "trickle"])
def test_a_hung_or_trickling_call_ends_its_episode_by_the_call_deadline(sim, tmp_path, fault):
    rec = tmp_path / "rec"
    sim.set_faults([fault] * 5000)
    done = run(hostile_run(sim, rec, tmp_path, tasks=4), timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    episodes = query(rec, "SELECT terminated_by, error, duration_ms FROM episodes")
    assert len(episodes) == 4
    for ended, error, duration_ms in episodes:
        assert ended == "error"
        assert f"not answered within the call timeout of {CALL_TIMEOUT:g} s (1 attempt(s))" in error
        assert "APITimeoutError" in error
        assert CALL_TIMEOUT * 1000 <= duration_ms < EPISODE_BOUND_MS


def test_sigterm_ends_a_blocked_run_at_once_recording_the_running_episodes_as_interrupted(sim, tmp_path):
    rec = tmp_path / "rec"
    sim.set_faults(["timeout"] * 5000)
    blocked = Run(hostile_run(sim, rec, tmp_path, "--call-timeout", "60", tasks=8), tmp_path / "log")
    wait_for(lambda: sim.stats()["requests"] >= 4)  # four episodes, each waiting on a call that never ends
    time.sleep(0.5)
    blocked.process.send_signal(signal.SIGTERM)
    code, stderr = blocked.finish(timeout=20)  # well before the server (30 s) or the call timeout (60 s)
    assert code == 130, stderr
    assert "stopping now" in stderr and "Traceback" not in stderr
    assert query(rec, "SELECT terminated_by, count(*) FROM episodes GROUP BY 1") == [("interrupted", 4)]
    assert len(blocked.printed) == 4


def test_an_unwritable_cache_directory_is_refused_before_any_request(sim, tmp_path):
    rec = tmp_path / "rec"
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    args = hostile_run(sim, rec, tmp_path, tasks=2)
    args[args.index("--cache-dir") + 1] = str(not_a_directory / "cache")
    done = run(args)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot write the response cache at") and "--cache-dir" in done.stderr
    assert "Traceback" not in done.stderr and "Nothing was run" in done.stderr
    assert sim.stats()["requests"] == 0 and not rec.exists()
