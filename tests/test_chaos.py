"""The record under real conditions: the real ``taurl`` CLI against serve-sim, killed, interrupted, out of
disk, run twice, compacted twice at once, over budget, and asked to write through SQL."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from taurl.record.store import RecordingStore
from taurl.sim.server import SimServer
from tests.conftest import REPO, SIM_CONCURRENCY, TAURL, query, sim_run, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def sim():
    with SimServer(timeout_delay=30.0) as server:
        yield server


def run_args(sim: SimServer, rec: Path, tmp_path: Path, *extra: str, trials: int = 2, split: str = "test") -> list[str]:
    """A live run: the simulator's tool-calling agent and LLM user over HTTP, recorded as jsonl."""
    options = ("--split", split, "--trials", str(trials), "--cache-mode", "off", "--format", "jsonl", *extra)
    return sim_run(sim.base_url, sim.base_url, rec, tmp_path / "cache", "chaos", *options)


class Run:
    """A ``taurl`` process whose jsonl lines (one per recorded episode) are collected as it runs."""

    def __init__(self, args: list[str], log: Path):
        self.log = log
        with open(log, "w") as stderr:
            self.process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.printed: list[dict] = []
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.strip():
                self.printed.append(json.loads(line))

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        """Wait for the process; its exit code and what it wrote on stderr."""
        code = self.process.wait(timeout)
        self._pump.join(10)
        return code, self.log.read_text()


def episodes_in_split(split: str = "test") -> int:
    from taurl.registry import get_domain

    return len(get_domain("airline").tasks(split))


def test_sigint_starts_no_episode_after_the_signal_and_records_every_one_that_ran(sim, tmp_path):
    rec = tmp_path / "rec"
    run = Run(run_args(sim, rec, tmp_path, "--commit-window", "0"), tmp_path / "log")
    wait_for(lambda: len(run.printed) >= 6)
    before = len(run.printed)
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish()
    assert code == 130, stderr
    assert "interrupted:" in stderr and "not run" in stderr and "--resume --run-id chaos" in stderr
    recorded = query(rec, "SELECT count(*), count(DISTINCT (task_id, trial)) FROM episodes")[0]
    assert recorded[0] == recorded[1] == len(run.printed)  # every episode that ended is recorded, once
    # only the episodes running at the signal (and those being written as it arrived) ended after it
    assert recorded[0] <= before + 2 * SIM_CONCURRENCY < 2 * episodes_in_split()
    # every request the simulator served belongs to a recorded episode: none was started and lost
    assert query(rec, "SELECT sum(attempts) FROM model_calls") == [(sim.stats()["requests"],)]
    assert query(rec, "SELECT count(*) FROM episodes WHERE terminated_by = 'interrupted'") == [(0,)]


def test_a_second_sigint_records_the_running_episodes_as_interrupted_with_their_calls(sim, tmp_path):
    rec = tmp_path / "rec"
    subset = ["--task-ids", ",".join(task_ids(12))]
    run = Run(run_args(sim, rec, tmp_path, *subset, "--commit-window", "0"), tmp_path / "log")
    wait_for(lambda: len(run.printed) >= 3)
    sim.set_faults(["timeout"] * 500)  # every request from now on hangs for 30 s
    time.sleep(1.0)
    run.process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish(timeout=20)  # well before the hanging requests would answer
    assert code == 130, stderr
    assert "stopping now" in stderr
    interrupted = query(
        rec,
        "SELECT count(*), max((SELECT count(*) FROM model_calls m WHERE m.episode_id = e.episode_id)), max(reward), "
        "count(error) FROM episodes e WHERE terminated_by = 'interrupted'",
    )[0]
    assert 1 <= interrupted[0] <= SIM_CONCURRENCY and interrupted[2] == 0.0 and interrupted[3] == 0
    assert interrupted[1] >= 1  # they keep the calls they had made so far (hanging ones have none to keep)
    total = query(rec, "SELECT count(*), count(DISTINCT (task_id, trial)) FROM episodes")[0]
    assert total[0] == total[1] == len(run.printed)
    # resuming re-runs the interrupted episodes as their second attempt and keeps the finished ones
    sim.set_faults([])
    resumed = subprocess.run(
        run_args(sim, rec, tmp_path, *subset, "--resume"), cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr
    assert query(rec, "SELECT count(*), count(*) FILTER (WHERE terminated_by = 'interrupted') FROM episodes") == [
        (24, 0)
    ]
    assert query(rec, "SELECT count(*) FROM attempts WHERE attempt = 2") == [(interrupted[0],)]
    # the raw rows keep every attempt: 24 episodes plus the interrupted first attempts
    assert query(rec, "SELECT count(*) FROM attempts") == [(24 + interrupted[0],)]


def task_ids(n: int, split: str = "test") -> list[str]:
    from taurl.registry import get_domain

    return [t.id for t in get_domain("airline").tasks(split)][:n]


def test_sigkill_at_ten_random_points_then_resume_records_each_episode_exactly_once(sim, tmp_path):
    rec = tmp_path / "rec"
    rng = random.Random(20261129)
    subset = ["--task-ids", ",".join(task_ids(30))]
    for kill in range(10):
        run = Run(run_args(sim, rec, tmp_path, *subset, *(["--resume"] if kill else [])), tmp_path / "log")
        time.sleep(rng.uniform(1.0, 3.0))  # start-up takes about a second: kill before, during and after it
        run.process.kill()
        run.finish()
        on_disk = {row[0] for row in query(rec, "SELECT episode_id FROM episodes")} if rec.exists() else set()
        # every episode reported as recorded before the kill survived it
        assert {p["episode_id"] for p in run.printed} <= on_disk
    finished = subprocess.run(
        run_args(sim, rec, tmp_path, *subset, "--resume"), cwd=REPO, capture_output=True, text=True, timeout=900
    )
    assert finished.returncode == 0, finished.stderr
    assert query(rec, "SELECT count(*), count(DISTINCT (task_id, trial)) FROM episodes") == [(60, 60)]
    # no copy of any attempt either: a killed episode was never written, so it reruns as attempt 1
    assert query(rec, "SELECT count(*), max(attempt) FROM attempts") == [(60, 1)]
    assert not list(rec.glob(".tmp-*"))


def test_a_reply_that_breaks_an_episode_is_recorded_as_error_and_the_run_goes_on(sim, tmp_path):
    rec = tmp_path / "rec"
    sim.set_faults(["ok", "surrogate"])  # the second request gets a reply with a lone surrogate
    args = run_args(sim, rec, tmp_path, "--task-ids", ",".join(task_ids(6)), trials=1)
    args[args.index("--concurrency") + 1] = "1"
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "errored:" in done.stderr and "Traceback" not in done.stderr
    rows = query(
        rec,
        "SELECT task_id, terminated_by, error, reward, (SELECT count(*) FROM model_calls m WHERE m.episode_id = "
        "e.episode_id) FROM episodes e ORDER BY 1",
    )
    assert len(rows) == 6
    errored = [r for r in rows if r[1] == "error"]
    assert len(errored) == 1 and errored[0][3] == 0.0 and errored[0][4] >= 2  # its calls, the bad reply too
    assert "UnicodeEncodeError" in errored[0][2] and errored[0][0] in done.stderr  # the console names it
    assert query(rec, "SELECT DISTINCT agent_model, user_model FROM episodes") == [("sim-agent", "sim-user")]
    # replay is clean: the errored episode replays as far as it got
    replay = subprocess.run([*TAURL, "replay", str(rec)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    # resume re-runs the errored episode (attempt 2) and keeps the others
    resumed = subprocess.run([*args, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert query(rec, "SELECT count(*), count(*) FILTER (WHERE terminated_by = 'error') FROM episodes") == [(6, 0)]
    history = query(rec, f"SELECT attempt, terminated_by FROM attempts WHERE task_id = '{errored[0][0]}' ORDER BY 1")
    assert [h[0] for h in history] == [1, 2] and history[0][1] == "error" and history[1][1] != "error"


@pytest.fixture
def small_disk(tmp_path):
    """A 400 KB file system (tmpfs, needs root): the recording fills it."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_run_with_one_message_and_keeps_a_readable_recording(sim, tmp_path, small_disk):
    rec = small_disk / "rec"
    done = subprocess.run(run_args(sim, rec, tmp_path, trials=4), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    message = " ".join(done.stderr.split())
    assert f"cannot write to the recording {rec}: No space left on device" in message
    kept = query(rec, "SELECT count(*), count(DISTINCT (task_id, trial)) FROM episodes")[0]
    assert 0 < kept[0] == kept[1] < episodes_in_split() * 4
    # it stopped spending: far fewer requests than the whole run would have made
    assert sim.stats()["requests"] < kept[0] * 40 + 200
    assert not list(rec.glob(".tmp-*"))


def test_a_rerun_without_resume_is_refused_and_two_resumes_cannot_overlap(sim, tmp_path):
    rec = tmp_path / "rec"
    args = run_args(sim, rec, tmp_path, "--task-ids", ",".join(task_ids(2)), trials=1)
    # a budget too small for any call: both episodes end errored at once, left for a resume to run
    first = subprocess.run([*args, "--max-tokens-budget", "100"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 1 and "spend limit reached" in first.stderr, first.stderr
    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 2
    assert "already holds run 'chaos'" in again.stderr and "--resume" in again.stderr and "--run-id" in again.stderr
    assert query(rec, "SELECT count(*) FROM attempts") == [(2,)]
    # a long resume holds the run: a second one is refused, naming the holder
    sim.set_faults(["timeout"] * 50)
    holder = Run([*args, "--resume"], tmp_path / "log")
    wait_for(lambda: any(p.read_text().startswith("pid ") for p in rec.joinpath(".locks").glob("run-*.lock")))
    second = subprocess.run([*args, "--resume"], cwd=REPO, capture_output=True, text=True, timeout=60)
    holder.process.kill()
    holder.finish()
    assert second.returncode == 2
    pid = holder.process.pid
    assert "is busy" in second.stderr and f"pid {pid}" in second.stderr and "running chaos" in second.stderr


def write_segments(rec: Path, count: int) -> None:
    from taurl.agent.oracle import OracleAgent
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter
    from taurl.registry import get_domain
    from taurl.users.scripted import ScriptedUser

    tasks = get_domain("retail").tasks("train")
    with RecordingWriter(rec) as writer:
        for i in range(count):
            result = run_episode(
                EpisodeSpec(tasks[i % len(tasks)], i // len(tasks)), OracleAgent(), ScriptedUser(), RolloutConfig()
            )
            writer.add(episode_row(result, "many", "oracle", "scripted"))


def test_two_compactions_at_once_keep_every_episode_once(tmp_path):
    rec = tmp_path / "rec"
    write_segments(rec, 300)
    compactions = [
        subprocess.Popen([*TAURL, "compact", "--recording", str(rec)], cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    seen = []
    while any(p.poll() is None for p in compactions):  # readers during compaction never see an episode twice
        seen.append(query(rec, "SELECT count(*), count(DISTINCT episode_id) FROM attempts")[0])
    outputs = [p.communicate()[0] for p in compactions]
    assert [p.returncode for p in compactions] == [0, 0], outputs
    assert seen and all(n == distinct == 300 for n, distinct in seen)
    assert query(rec, "SELECT count(*), count(DISTINCT episode_id) FROM attempts") == [(300, 300)]
    assert len(list(rec.glob("episodes-*.parquet"))) == 1
    assert any("nothing to merge" in out for out in outputs)


def test_spend_limits_hold_across_the_agent_and_the_user(sim, tmp_path):
    rec = tmp_path / "rec"
    done = subprocess.run(
        run_args(sim, rec, tmp_path, "--max-tokens-budget", "20000", trials=1),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr
    assert "spend limit reached" in done.stderr and "not run" in done.stderr
    spent = query(rec, "SELECT sum(prompt_tokens + completion_tokens), count(DISTINCT model) FROM model_calls")[0]
    assert spent[1] == 2  # the agent's model and the user's drew on one budget
    assert 0 < spent[0] <= 20000  # reservations are upper bounds here: no overrun at all
    assert query(rec, "SELECT count(*) FROM episodes WHERE error LIKE 'BudgetExceededError%'")[0][0] >= 1


REFUSED = [
    "COPY (SELECT 1) TO '{tmp}/x.csv'",
    "ATTACH '{tmp}/x.duckdb' AS x",
    "CREATE TABLE t AS SELECT 1",
    "SELECT * FROM read_csv('/etc/passwd')",
    "INSTALL httpfs",
    "LOAD httpfs",
    "COPY (SELECT * FROM episodes) TO '{rec}/episodes-evil.parquet'",
    "SELECT 1; COPY (SELECT 1) TO '{tmp}/x.csv'",
    "SET enable_external_access = true",
    "SELECT * FROM read_parquet('{tmp}/*.parquet')",
]


@pytest.fixture(scope="module")
def small_recording(tmp_path_factory):
    rec = tmp_path_factory.mktemp("sql") / "rec"
    write_segments(rec, 3)
    return rec


@pytest.mark.parametrize("statement", REFUSED)
def test_sql_reads_the_recording_and_nothing_else(small_recording, tmp_path, statement):
    rec = small_recording
    (tmp_path / "outside.parquet").write_bytes((next(rec.glob("episodes-*.parquet"))).read_bytes())
    sql = statement.format(tmp=tmp_path, rec=rec)
    done = subprocess.run([*TAURL, "sql", "--recording", str(rec), sql], cwd=REPO, capture_output=True, text=True)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and "error:" in done.stderr
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "x.duckdb").exists()
    assert not (rec / "episodes-evil.parquet").exists()
    assert query(rec, "SELECT count(*) FROM episodes") == [(3,)]


def test_replay_where_is_an_expression_not_statements(small_recording, tmp_path):
    done = subprocess.run(
        [*TAURL, "replay", str(small_recording), "--where", f"TRUE; COPY (SELECT 1) TO '{tmp_path}/x.csv'"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert not (tmp_path / "x.csv").exists()


def test_sql_still_reads_and_rejects_invalid_unicode_clearly(small_recording):
    from taurl.record.store import QueryRefusedError

    assert query(small_recording, "SELECT count(*) FROM steps")[0][0] > 0
    store = RecordingStore(small_recording)
    with pytest.raises(QueryRefusedError, match="not valid Unicode"):
        store.query("SELECT '\ud800'")
    store.close()


def corrupt_pages(path: Path) -> None:
    """Damage the data pages of a Parquet file and leave its footer readable."""
    data = bytearray(path.read_bytes())
    footer = pq.read_metadata(path).serialized_size + 8
    for i in range(8, len(data) - footer - 8, 7):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    pq.read_metadata(path)  # the footer still reads


def test_a_segment_with_corrupt_pages_is_named_and_skipped_everywhere(tmp_path):
    rec = tmp_path / "rec"
    write_segments(rec, 4)
    victim = sorted(rec.glob("episodes-*.parquet"))[0]
    corrupt_pages(victim)
    for command in (
        ["sql", "--recording", str(rec), "SELECT count(*) AS n FROM messages"],
        ["replay", str(rec)],
        ["compact", "--recording", str(rec)],
    ):
        done = subprocess.run([*TAURL, *command], cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert victim.name in done.stderr, command
    assert query(rec, "SELECT count(*) FROM episodes") == [(3,)]


def test_a_new_writer_removes_temp_files_left_by_dead_writers(tmp_path):
    from taurl.record.writer import RecordingWriter

    rec = tmp_path / "rec"
    write_segments(rec, 1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = rec / f".tmp-episodes-{socket.gethostname()}-{dead.stdout.strip()}-abcdef12-000000.parquet"
    orphan.write_bytes(b"half a segment")
    alive = rec / f".tmp-episodes-{socket.gethostname()}-{os.getpid()}-abcdef12-000000.parquet"
    alive.write_bytes(b"a live writer's")
    with RecordingWriter(rec) as writer:
        writer.write_run("r", {})
    assert not orphan.exists() and alive.exists()


def test_a_writer_forked_while_its_lock_is_held_works_in_the_child(tmp_path):
    from taurl.record.writer import RecordingWriter

    rec = tmp_path / "rec"
    writer = RecordingWriter(rec, group_commit=True)
    writer.write_run("parent", {})
    held = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with writer._lock:
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: the thread holding the lock does not exist here
        code = 1
        try:
            write_segments_with(writer, 2)
            code = 0
        finally:
            os._exit(code)
    release.set()
    holder.join()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the forked writer hung")
    assert os.waitstatus_to_exitcode(status) == 0
    writer.close()
    assert query(rec, "SELECT count(*) FROM episodes") == [(2,)]


def write_segments_with(writer, count: int) -> None:
    from taurl.agent.oracle import OracleAgent
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.record.schema import episode_row
    from taurl.registry import get_domain
    from taurl.users.scripted import ScriptedUser

    for task in get_domain("retail").tasks("train")[:count]:
        result = run_episode(EpisodeSpec(task, 0), OracleAgent(), ScriptedUser(), RolloutConfig())
        writer.add(episode_row(result, "child", "oracle", "scripted"))
    writer.close()


def test_a_recording_that_is_a_file_gets_a_clear_error(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("x")
    for command in (
        ["sql", "--recording", str(path), "SELECT 1"],
        ["replay", str(path)],
        ["compact", "--recording", str(path)],
        ["run", "--domain", "retail", "--task-ids", "retail-test-000", "--recording", str(path)],
    ):
        done = subprocess.run([*TAURL, *command], cwd=REPO, capture_output=True, text=True)
        assert done.returncode != 0 and "Traceback" not in done.stderr
        assert "is a file, not a recording" in done.stderr
