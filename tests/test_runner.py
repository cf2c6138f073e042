"""taurl run end to end: recording, resume after SIGKILL, concurrent writers."""

import json
import multiprocessing
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from taurl.episodes.config import RunConfig
from taurl.episodes.runner import execute
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from tests.conftest import REPO, TAUBENCH, TAURL, require


def test_run_records_every_episode_and_resume_skips_them(tmp_path):
    rec = tmp_path / "rec"
    task_ids = [t.id for t in get_domain("retail").tasks("test")][:3]
    config = RunConfig(domain="retail", split="test", trials=2, task_ids=task_ids)
    first = execute(config, rec, concurrency=2)
    assert len(first.results) == 6 and not first.errors
    again = execute(config, rec, resume=True)
    assert again.resumed == 6 and again.results == []
    _, rows = RecordingStore(rec).query("SELECT count(*), count(DISTINCT episode_id), min(reward) FROM episodes")
    assert rows == [(6, 6, 1.0)]


@pytest.mark.slow
@pytest.mark.shared_data
def test_sigkill_mid_run_then_resume_records_each_episode_exactly_once(tmp_path):
    data_dir = require(TAUBENCH / "retail")
    rec = tmp_path / "rec"
    args = [
        *TAURL,
        "run",
        "--domain",
        "retail",
        "--split",
        "train",
        "--data-dir",
        f"retail={data_dir}",
        "--recording",
        str(rec),
        "--run-id",
        "killed",
        "--trials",
        "3",
        "--concurrency",
        "2",
        "--format",
        "json",
    ]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    # the first segment: a batch (the commit window's worth) is on disk and the run goes on
    while time.time() < deadline and not list(rec.glob("episodes-*")):
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    recorded = RecordingStore(rec).query("SELECT count(*) FROM episodes")[1][0][0]
    assert 0 < recorded < 1500, "the run must be killed mid-way for this test to mean anything"
    resumed = subprocess.run(
        [*args[:-2], "--resume", "--format", "json"], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert len(json.loads(resumed.stdout)) == 1500 - recorded
    _, rows = RecordingStore(rec).query("SELECT count(*), count(DISTINCT (task_id, trial)) FROM episodes")
    assert rows == [(1500, 1500)]


def _write_from_threads(rec: str, process_index: int, threads: int, per_thread: int) -> None:
    from taurl.agent.oracle import OracleAgent
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter
    from taurl.registry import get_domain
    from taurl.users.scripted import ScriptedUser

    tasks = get_domain("retail").tasks("train")
    writer = RecordingWriter(rec)

    def work(thread_index: int) -> None:
        for i in range(per_thread):
            task = tasks[(thread_index * per_thread + i) % len(tasks)]
            trial = process_index * 1000 + thread_index * 100 + i
            result = run_episode(EpisodeSpec(task, trial), OracleAgent(), ScriptedUser(), RolloutConfig())
            writer.add(episode_row(result, "many", "oracle", "scripted"))

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    writer.close()


def test_eight_threads_in_two_processes_write_one_recording(tmp_path):
    rec = str(tmp_path / "rec")
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_from_threads, args=(rec, p, 8, 5)) for p in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    _, rows = RecordingStore(rec).query("SELECT count(*), count(DISTINCT episode_id) FROM episodes")
    assert rows == [(80, 80)]
    assert not list(Path(rec).glob(".tmp-*"))


def test_views_name_the_models_say_passed_and_time_each_episode_and_run(tmp_path):
    rec = tmp_path / "rec"
    task_ids = [t.id for t in get_domain("retail").tasks("test")][:2]
    execute(RunConfig(domain="retail", split="test", trials=2, task_ids=task_ids), rec, run_id="r")
    execute(RunConfig(domain="retail", split="test", trials=2, task_ids=task_ids), rec, run_id="r", resume=True)
    store = RecordingStore(rec)
    _, rows = store.query(
        "SELECT count(*), bool_and(passed), count(agent_model), count(user_model), "
        "bool_and(started_at <= finished_at), bool_and(duration_ms >= 0) FROM episodes"
    )
    assert rows == [(4, True, 0, 0, True, True)]  # the oracle and the scripted user use no model
    _, runs = store.query("SELECT run_id, domain, agent, user_strategy, episodes, duration_ms >= 0 FROM runs")
    assert runs == [("r", "retail", "oracle", "scripted", 4, True)]  # one row, though the resume wrote another
