"""The recorder cannot die silently and keeps no secret: a closed stdout ends a run like Ctrl-C with
every started episode recorded, a failing callback or row never hangs the writer, duplicate task ids
are refused before anything runs, and no file a killed run leaves holds a planted key."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from taurl.record.store import RecordingStore
from taurl.record.writer import RecordingCallbackError, RecordingWriteError, RecordingWriter
from taurl.sim.server import SimServer
from tests.conftest import REPO, TAURL, sim_run

KEY = "sk-planted-3b1f9e0c7d2a"


@pytest.fixture(scope="module")
def sim():
    with SimServer() as server:
        yield server


def live_run(sim: SimServer, rec: Path, tmp_path: Path, *extra: str, base_url: str | None = None) -> list[str]:
    return sim_run(base_url or sim.base_url, sim.base_url, rec, tmp_path / "cache", "guard", *extra)


def recorded(rec: Path) -> list[tuple]:
    store = RecordingStore(rec)
    try:
        return store.query("SELECT episode_id, terminated_by FROM attempts")[1]
    finally:
        store.close()


@pytest.mark.slow
def test_a_closed_stdout_ends_the_run_like_ctrl_c_with_every_started_episode_recorded(sim, tmp_path):
    rec = tmp_path / "rec"
    process = subprocess.Popen(
        live_run(sim, rec, tmp_path, "--format", "jsonl"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = [process.stdout.readline() for _ in range(2)]
    assert all(json.loads(line)["episode_id"] for line in lines)
    process.stdout.close()  # what `| head -n 2` does
    code = process.wait(timeout=120)
    stderr = process.stderr.read()
    assert code == 141, stderr
    assert "stdout was closed" in stderr and "--resume --run-id guard" in stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    rows = recorded(rec)
    assert len(rows) == len({episode for episode, _ in rows}) >= 2
    said = int(re.search(r"(\d+)\s+episode\(s\)\s+recorded", stderr).group(1))
    assert said == len(rows)  # every episode that started is in the recording, and the message says so
    assert all(ended != "interrupted" for _, ended in rows)  # running episodes finished, as after one Ctrl-C
    resumed = subprocess.run(
        live_run(sim, rec, tmp_path, "--resume", "--format", "json"), cwd=REPO, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    store = RecordingStore(rec)
    try:
        ((total, distinct),) = store.query("SELECT count(*), count(DISTINCT (task_id, trial)) FROM episodes")[1]
    finally:
        store.close()
    assert total == distinct == len(json.loads(resumed.stdout)) + len(rows)


def test_duplicate_task_ids_are_refused_before_anything_runs(tmp_path):
    from taurl.registry import get_domain

    domain = get_domain("airline")
    data = tmp_path / "airline"
    shutil.copytree(domain.builtin_data_dir, data)
    tasks = json.loads((domain.package_dir / "tasks" / "test.json").read_text())
    rows = tasks["tasks"] if isinstance(tasks, dict) else tasks
    (data / "tasks_test.json").write_text(json.dumps({"tasks": [rows[0], rows[1], rows[0]]}))
    rec = tmp_path / "rec"
    done = subprocess.run(
        [*TAURL, "run", "--domain", "airline", "--data-dir", f"airline={data}", "--recording", str(rec)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "tasks_test.json" in done.stderr and "share the id" in done.stderr
    assert "Traceback" not in done.stderr
    assert not list(rec.glob("*.parquet"))
    again = subprocess.run(
        [*TAURL, "run", "--domain", "airline", "--task-ids", f"{rows[0]['id']},{rows[0]['id']}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 2 and "selected twice" in again.stderr, again.stderr


def within(seconds: float, call) -> BaseException | None:
    """Run ``call`` in a thread; what it raised, failing the test if it has not returned in time."""
    outcome: list[BaseException | None] = []

    def target() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still blocked after {seconds} s"
    return outcome[0]


def test_a_row_the_writer_thread_cannot_write_fails_flush_instead_of_hanging_it(tmp_path):
    writer = RecordingWriter(tmp_path / "rec", group_commit=True, commit_window=0)
    writer.add({"episode_id": "x", "reward": "not a number"})
    raised = within(30, writer.flush)
    assert isinstance(raised, RecordingWriteError) and "rec" in str(raised)
    assert isinstance(within(30, writer.close), RecordingWriteError)


def test_a_failing_durability_callback_keeps_recording_and_fails_the_close(tmp_path, counter_domain):
    from taurl.record.schema import episode_row
    from tests.test_record_store import episodes

    told: list[int] = []

    def on_durable(rows: list[dict]) -> None:
        told.append(len(rows))
        raise BrokenPipeError("stdout closed")

    rows = [episode_row(result, "r", "oracle", "scripted") for result in episodes(counter_domain, n=3)]
    writer = RecordingWriter(tmp_path / "rec", group_commit=True, commit_window=0, on_durable=on_durable)
    for row in rows:
        writer.add(row)
        within(30, writer.flush)
    raised = within(30, writer.close)
    assert isinstance(raised, RecordingCallbackError) and "BrokenPipeError" in str(raised)
    assert sum(told) == 3 and len(recorded(tmp_path / "rec")) == 3


@pytest.mark.slow
def test_no_file_a_killed_run_leaves_holds_a_planted_key(tmp_path):
    with SimServer(timeout_delay=30.0) as sim:
        rec = tmp_path / "rec"
        secret_url = sim.base_url.replace("http://", f"http://user:{KEY}@")
        env = {"OPENAI_API_KEY": f"{KEY}-env", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
        args = live_run(sim, rec, tmp_path, "--format", "jsonl", base_url=secret_url)
        run = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert run.stdout.readline()  # an episode is recorded: the run is under way
        sim.set_faults(["timeout"] * 50)  # and now it hangs on its model calls, holding the run's lock
        second = subprocess.run([*args, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        run.send_signal(signal.SIGKILL)
        run.wait(30)
    assert second.returncode == 2 and "is busy" in second.stderr, second.stderr
    assert KEY not in second.stderr + second.stdout
    left = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.parent.name == ".locks" for p in left) and any(p.suffix == ".parquet" for p in left)
    for path in left:
        assert KEY.encode() not in path.read_bytes(), path
