"""Queries answer right or fail: past the time or memory limit a read stops with one line and a non-zero
exit, never a partial answer; a resource error is never taken for a damaged segment; `taurl sql` tells
the query from the recordings by position alone; now() prints."""

from __future__ import annotations

import errno
import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from taurl.agent.oracle import OracleAgent
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.record.schema import episode_row
from taurl.record.segments import is_damage
from taurl.record.store import QueryLimitError, RecordingStore
from taurl.record.writer import RecordingWriter
from taurl.registry import get_domain
from taurl.users.scripted import ScriptedUser
from tests.conftest import taurl
from tests.test_chaos import corrupt_pages

# a list aggregate cannot spill to disk: 26 messages x 300,000 strings need far more than 50MB
HEAVY = "SELECT sum(len(s)) AS n FROM (SELECT list(m.content || r.range) AS s FROM messages m, range(300000) r)"
ENDLESS = "SELECT count(*) AS n FROM range(10000000000000)"


def one_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    rec = tmp_path_factory.mktemp("limits") / "rec"
    with RecordingWriter(rec) as writer:
        for task in get_domain("retail").tasks("test")[:3]:
            result = run_episode(EpisodeSpec(task), OracleAgent(), ScriptedUser(), RolloutConfig())
            writer.add(episode_row(result, "r", "oracle", "scripted"))
    return rec


def count(rec: Path) -> int:
    done = taurl("sql", str(rec), "--format", "json", "SELECT count(*) AS n FROM episodes")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)[0]["n"]


def test_a_query_over_its_memory_limit_fails_instead_of_answering_and_skips_no_segment(recording):
    done = taurl("sql", str(recording), "--query-memory", "50MB", HEAVY)
    assert done.returncode != 0 and done.stdout == ""
    line = one_line(done)
    assert "ran out of memory (limit 50MB)" in line and "--query-memory" in line
    assert "skipping segment" not in done.stderr
    assert count(recording) == 3  # every segment still read


def test_a_scan_past_the_time_limit_ends_with_one_line(recording):
    done = taurl("sql", str(recording), "--query-timeout", "1", ENDLESS)
    assert done.returncode != 0 and done.stdout == ""
    assert "stopped at its time limit of 1 s" in one_line(done)


@pytest.mark.slow
def test_every_where_has_the_limits_too(recording):
    where = f"({ENDLESS.replace('AS n ', '')}) > 0"
    for command in (["replay", str(recording)], ["export", "tau-bench", str(recording), "--out", "/dev/null"]):
        done = taurl(*command, "--query-timeout", "1", "--where", where)
        assert done.returncode != 0, (command, done.stdout)
        assert "stopped at its time limit" in one_line(done), command


@pytest.mark.parametrize(
    "command",
    [["sql"], ["replay"], ["rescore"], ["report"], ["show"], ["export", "tau-bench"], ["judge"]],
    ids=" ".join,
)
def test_help_states_the_default_limits(command):
    done = taurl(*command, "--help")
    text = " ".join(done.stdout.split())
    assert "--query-timeout" in text and "--query-memory" in text
    assert "300" in text and "4GB" in text


def test_a_bad_limit_is_one_line(recording):
    assert "is not a size" in one_line(taurl("sql", str(recording), "--query-memory", "lots", "SELECT 1"))


@pytest.mark.parametrize(
    "problem, damage",
    [
        (OSError("Couldn't deserialize thrift: TProtocolException: Invalid data"), True),
        (pa.ArrowInvalid("Parquet magic bytes not found in footer"), True),
        (OSError(errno.ENOMEM, "Cannot allocate memory"), False),
        (OSError(errno.EAGAIN, "Resource temporarily unavailable"), False),
        (MemoryError(), False),
        (pa.ArrowMemoryError("malloc of size 1048576 failed"), False),
        (pa.ArrowException("Unknown error: Failed to launch worker thread: Resource temporarily unavailable"), False),
    ],
)
def test_only_undecodable_bytes_count_as_damage(problem, damage):
    assert is_damage(problem) is damage


@pytest.mark.parametrize("shortage", [MemoryError(), OSError(errno.EAGAIN, "Resource temporarily unavailable")])
def test_a_check_the_machine_cannot_finish_fails_the_read_and_marks_nothing(tmp_path, recording, monkeypatch, shortage):
    """The reported case: a read fails, the check of the segments runs short of memory too; before,
    the healthy segments were marked unreadable and the query answered over none of them."""
    import shutil

    import taurl.record.store as store_module

    rec = tmp_path / "rec"
    shutil.copytree(recording, rec)
    victim = sorted(rec.glob("episodes-*.parquet"))[0]
    corrupt_pages(victim)  # the read fails for real

    def short(location, path):
        raise shortage

    monkeypatch.setattr(store_module, "check_pages", short)
    store = RecordingStore(rec)
    with pytest.raises(QueryLimitError, match="could not finish.*no segment was skipped"):
        store.query("SELECT count(*) FROM messages")
    assert store.skipped == [] and len(store.files("episodes")) == 3
    store.close()
    monkeypatch.undo()  # with a check that can finish, the damaged segment (and only it) is skipped
    store = RecordingStore(rec)
    with pytest.warns(UserWarning, match=victim.name):
        _, rows = store.query("SELECT count(*) FROM episodes")
    assert rows == [(2,)]
    store.close()


def test_now_prints(recording):
    done = taurl("sql", str(recording), "--format", "json", "SELECT now() IS NOT NULL AS ok, now() AS t")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["ok"] is True


def test_sql_text_is_never_taken_for_a_recording(recording, tmp_path):
    for args in (
        [str(recording), "SELECT 'http://example.com/x' AS u"],
        ["--recording", str(recording), "SELECT 's3://bucket/key' AS u"],
        [str(recording), str(recording), "SELECT 'a://b' AS u"],  # two recordings, then the query
    ):
        done = taurl("sql", "--format", "json", *args)
        assert done.returncode == 0, (args, done.stderr)
        assert "://" in json.loads(done.stdout)[0]["u"]


def test_a_missing_recording_is_named_as_missing(tmp_path):
    missing = tmp_path / "runs" / "nope"
    line = one_line(taurl("sql", str(missing), "SELECT 1"))
    assert line == f"error: no recording at {missing}: the directory does not exist"
    hint = one_line(taurl("sql", "SELECT count(*) FROM episodes"))  # the recording forgotten
    assert 'name the recording first: taurl sql RECORDING "SELECT ..."' in hint


def test_a_command_leaves_no_spill_directory_behind(recording, tmp_path):
    """The store's private spill directory goes when the process ends, closed or not."""
    for args in (["sql", str(recording), "SELECT 1"], ["sql", str(recording), "--query-timeout", "1", ENDLESS]):
        taurl(*args, env={"TMPDIR": str(tmp_path)}, timeout=120)
    assert not list(tmp_path.glob("taurl-query-*"))
