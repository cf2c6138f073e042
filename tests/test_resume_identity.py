"""A run's identity is its settings: ``taurl run --resume`` goes on only with the settings the run was recorded
with, refusing any other in one line that names them and adding nothing; how it runs may change; and its
summary covers the whole run, the episodes it kept and the ones it ran."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from taurl.sim.server import SimServer
from tests.conftest import REPO, TAURL, query

TASKS = "retail-test-000,retail-test-001"


def oracle_run(rec: Path, *extra: str) -> list[str]:
    return [*TAURL, "run", "--recording", str(rec), "--run-id", "r1", "--format", "json", *extra]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


def contents(rec: Path) -> dict[str, bytes]:
    return {str(p.relative_to(rec)): p.read_bytes() for p in sorted(rec.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """A retail run of two tasks, recorded as run r1."""
    rec = tmp_path_factory.mktemp("identity") / "rec"
    first = run(oracle_run(rec, "--domain", "retail", "--task-ids", TASKS))
    assert first.returncode == 0, first.stderr
    return rec


def test_resuming_with_another_domain_and_trials_is_refused_naming_them_and_adds_nothing(recorded):
    before = contents(recorded)
    again = run(oracle_run(recorded, "--domain", "airline", "--trials", "2", "--resume"))
    assert again.returncode == 2
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in again.stderr
    assert lines[0].startswith("error: run 'r1' in ") and "was recorded with other settings: " in lines[0]
    for named in ("domain: recorded 'retail', now 'airline'", "trials: recorded 1, now 2", "task_ids: recorded"):
        assert named in lines[0]
    assert "Nothing was run" in lines[0] and again.stdout == ""
    assert contents(recorded) == before  # no run record, no episode, no file
    assert query(recorded, "SELECT count(*), count(DISTINCT domain) FROM attempts") == [(2, 1)]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (["--task-ids", "retail-test-000"], "task_ids: recorded"),
        (["--agent", "silent"], "agent: recorded 'oracle', now 'silent'"),
        (["--user", "llm", "--user-model", "sim-user"], "user: recorded 'scripted', now 'llm'"),
        (["--basis", "actions"], "basis: recorded None, now 'actions'"),
        (["--seed", "7"], "seed: recorded 0, now 7"),
        (["--max-steps", "5"], "max_steps: recorded 30, now 5"),
        (["--judge-model", "sim-judge", "--judge-weight", "0.5"], "judge_model: recorded None, now 'sim-judge'"),
    ],
)
def test_every_setting_of_what_runs_is_part_of_the_run(recorded, change, named):
    args = oracle_run(recorded, "--domain", "retail", "--task-ids", TASKS, "--resume")
    if "--task-ids" in change:
        args = oracle_run(recorded, "--domain", "retail", "--resume")
    before = contents(recorded)
    again = run([*args, *change, "--cache-mode", "replay"])  # replay: no model is called, nor checked
    assert again.returncode == 2, again.stderr
    assert named in again.stderr and "recorded with other settings" in again.stderr
    assert contents(recorded) == before


def test_how_a_run_runs_may_change_on_resume(recorded, tmp_path):
    again = run(
        oracle_run(
            recorded,
            *("--domain", "retail", "--task-ids", TASKS, "--resume"),
            *("--concurrency", "1", "--cache-dir", str(tmp_path / "other-cache"), "--cache-mode", "off"),
            *("--max-tokens-budget", "100", "--max-cost-usd", "1", "--call-timeout", "5", "--durable"),
        )
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "[]"  # everything was kept: nothing ran


@pytest.mark.slow
def test_the_summary_after_a_resume_covers_the_whole_run(tmp_path):
    rec = tmp_path / "rec"
    with SimServer() as sim:
        args = [
            *TAURL,
            "run",
            *("--domain", "airline", "--task-ids", ",".join(f"airline-test-{i:03d}" for i in range(6))),
            *("--agent", "tool-calling", "--agent-model", "sim-agent", "--agent-base-url", sim.base_url),
            *("--user", "llm", "--user-model", "sim-user", "--user-base-url", sim.base_url),
            *("--cache-dir", str(tmp_path / "cache"), "--recording", str(rec), "--run-id", "whole"),
            *("--concurrency", "1"),
        ]
        stopped = run([*args, "--max-tokens-budget", "15000"])  # a spend limit stops it part-way
        assert stopped.returncode == 1 and "spend limit reached" in stopped.stderr, stopped.stderr
        kept = query(rec, "SELECT count(*) FROM episodes WHERE terminated_by <> 'error'")[0][0]
        assert 0 < kept < 6
        resumed = run([*args, "--resume"])  # spend limits may change: this time there is none
    assert resumed.returncode == 0, resumed.stderr
    out = resumed.stdout
    assert f"summary of the whole run ({kept} kept, {6 - kept} run now)" in out
    # 6 episodes, none unfinished: the kept ones and the new
    assert re.search(r"episodes +6\n", out) and re.search(r"did not finish +0\n", out), out
    assert f"{kept} finished episode(s) already recorded were kept" in out
    assert query(rec, "SELECT count(*), count(DISTINCT task_id) FROM episodes") == [(6, 6)]
