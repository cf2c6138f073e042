import json
import warnings

import pytest

from taurl.agent.oracle import OracleAgent
from taurl.core.types import Action, Task
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.record.compact import compact, export_duckdb
from taurl.record.schema import episode_id, episode_row
from taurl.record.segments import SkippedSegmentWarning
from taurl.record.store import RecordingError, RecordingStore
from taurl.record.writer import RecordingWriter
from taurl.users.scripted import ScriptedUser


def episodes(domain, n=3):
    results = []
    for i in range(n):
        task = Task(
            id=f"t{i}",
            domain="counter",
            instruction="Add one.",
            actions=(Action("add", {"counter_id": "a", "amount": 1}),),
        )
        results.append(run_episode(EpisodeSpec(task, 0), OracleAgent(), ScriptedUser(), RolloutConfig(), domain=domain))
    return results


def test_episodes_round_trip_through_segments_and_sql(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    with RecordingWriter(rec) as writer:
        writer.write_run("run1", {"agent": "oracle"})
        for result in episodes(counter_domain):
            writer.add(episode_row(result, "run1", "oracle", "scripted"))
    files = sorted(p.name for p in rec.iterdir())
    assert len([f for f in files if f.startswith("episodes-")]) == 3 and not [f for f in files if f.startswith(".tmp")]
    store = RecordingStore(rec)
    cols, rows = store.query(
        "SELECT episode_id, run_id, domain, task_id, trial, reward, reward_basis, turns, terminated_by FROM episodes ORDER BY task_id"
    )
    assert [r[3] for r in rows] == ["t0", "t1", "t2"]
    assert rows[0][0] == episode_id("run1", "counter", "t0", 0)
    assert rows[0][5:] == (1.0, "db+outputs", 2, "user_stop")
    _, msgs = store.query("SELECT idx, role, content FROM messages WHERE task_id = 't0' ORDER BY idx")
    assert [m[1] for m in msgs] == ["system", "user", "assistant", "tool", "assistant", "user"]
    _, calls = store.query("SELECT name, kwargs_json, observation, error FROM tool_calls WHERE task_id = 't1'")
    assert calls == [("add", json.dumps({"amount": 1, "counter_id": "a"}), "2", None)]
    _, runs = store.query("SELECT run_id, config_json FROM runs")
    assert runs == [("run1", '{"agent":"oracle"}')]


def test_buffered_writer_flushes_batches_and_on_close(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    writer = RecordingWriter(rec, flush_every=2)
    for result in episodes(counter_domain):
        writer.add(episode_row(result, "r", "oracle", "scripted"))
    assert len(list(rec.glob("episodes-*"))) == 1
    writer.close()
    assert len(list(rec.glob("episodes-*"))) == 2
    assert RecordingStore(rec).query("SELECT count(*) FROM episodes")[1] == [(3,)]


def test_truncated_segment_is_named_and_skipped(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    with RecordingWriter(rec) as writer:
        for result in episodes(counter_domain, 2):
            writer.add(episode_row(result, "r", "oracle", "scripted"))
    victim = sorted(rec.glob("episodes-*"))[0]
    victim.write_bytes(victim.read_bytes()[:100])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = RecordingStore(rec)
    assert any(victim.name in str(w.message) and w.category is SkippedSegmentWarning for w in caught)
    assert store.query("SELECT count(*) FROM episodes")[1] == [(1,)]
    assert store.skipped and store.skipped[0][0].endswith(victim.name)


def test_missing_recording_and_bad_sql_give_clear_errors(tmp_path):
    with pytest.raises(RecordingError, match="no recording at"):
        RecordingStore(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    store = RecordingStore(tmp_path / "empty")
    assert store.query("SELECT count(*) FROM episodes")[1] == [(0,)]
    assert store.query("SELECT count(*) FROM messages")[1] == [(0,)]
    with pytest.raises(RecordingError, match="query failed"):
        store.query("SELECT nope FROM episodes")


def test_compaction_merges_segments_and_exports_duckdb(tmp_path, counter_domain):
    import duckdb

    rec = tmp_path / "rec"
    with RecordingWriter(rec) as writer:
        for result in episodes(counter_domain, 4):
            writer.add(episode_row(result, "r", "oracle", "scripted"))
    before = RecordingStore(rec).query("SELECT * FROM messages ORDER BY task_id, idx")[1]
    result = compact(rec)
    assert (result.segments_before, result.episodes) == (4, 4)
    assert len(list(rec.glob("episodes-*"))) == 1
    assert RecordingStore(rec).query("SELECT * FROM messages ORDER BY task_id, idx")[1] == before
    counts = export_duckdb(rec, tmp_path / "all.duckdb")
    assert counts["episodes"] == 4 and counts["messages"] == len(before)
    con = duckdb.connect(str(tmp_path / "all.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM episodes").fetchone() == (4,)


def test_a_compacted_segment_hides_the_segments_it_replaces(tmp_path, counter_domain):
    """A reader that lists the directory between the merge and the deletes sees each episode once."""
    import shutil

    rec = tmp_path / "rec"
    with RecordingWriter(rec) as writer:
        for result in episodes(counter_domain, 3):
            writer.add(episode_row(result, "r", "oracle", "scripted"))
    keep = tmp_path / "old"
    shutil.copytree(rec, keep)
    compact(rec)
    for old in keep.glob("episodes-*"):
        shutil.copy(old, rec / old.name)  # the old files, as if not yet deleted
    assert RecordingStore(rec).query("SELECT count(*) FROM episodes")[1] == [(3,)]
