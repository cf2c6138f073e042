"""The store at scale: writers batch episodes by age and size and merge their own segments when they close,
segments say which runs they hold, segments of an older schema are read without re-reading every file,
the nested views take the latest attempts once each, and compaction streams."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from taurl.record import merge
from taurl.record.compact import compact
from taurl.record.location import resolve
from taurl.record.lock import RecordingLock
from taurl.record.merge import merge_segments
from taurl.record.schema import EPISODE_SCHEMA, episode_row, rows_to_table
from taurl.record.segments import REPLACES_KEY, RUN_IDS_KEY, write_segment
from taurl.record.store import RecordingStore
from taurl.record.writer import MERGE_FAN_IN, RecordingWriter
from tests.conftest import query, wait_for
from tests.test_record_store import episodes


def rows(domain, run_id="r", n=3, attempt=1):
    return [episode_row(result, run_id, "oracle", "scripted", attempt=attempt) for result in episodes(domain, n)]


def segments(rec):
    return sorted(p.name for p in rec.glob("episodes-*.parquet"))


def count(rec, sql="SELECT count(*) FROM episodes", **store):
    return query(rec, sql, **store)


def test_a_batch_is_written_once_it_is_big_enough_or_old_enough(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    by_size = RecordingWriter(rec, group_commit=True, commit_window=3600, batch_rows=3)
    for row in rows(counter_domain, "size"):
        by_size.add(row)
    wait_for(lambda: segments(rec))  # three rows: written without waiting out the hour
    assert count(rec) == [(3,)]
    by_age = RecordingWriter(rec, group_commit=True, commit_window=0.2, batch_rows=1000)
    by_age.add(rows(counter_domain, "age", n=1)[0])
    wait_for(lambda: len(segments(rec)) == 2)  # one row: written once it waited the window
    assert count(rec) == [(4,)]
    by_size.close()
    by_age.close()


def test_a_closing_writer_merges_its_segments_into_one_that_names_them(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    writer = RecordingWriter(rec, group_commit=True, commit_window=0)
    for row in rows(counter_domain, n=5):
        writer.add(row)
        writer.flush()  # a segment each
    written = segments(rec)
    assert len(written) == 5 and count(rec) == [(5,)]
    writer.close()
    (merged,) = segments(rec)
    footer = pq.read_metadata(rec / merged).metadata
    assert json.loads(footer[REPLACES_KEY.encode()]) == written
    assert json.loads(footer[RUN_IDS_KEY.encode()]) == ["r"]
    assert count(rec, "SELECT count(*), count(DISTINCT episode_id) FROM attempts") == [(5, 5)]


def test_a_long_lived_writer_merges_by_tiers_while_it_runs(tmp_path, counter_domain):
    """A SkyRL process records for days: its segments stay few before it ever closes."""
    rec = tmp_path / "rec"
    writer = RecordingWriter(rec, group_commit=True, commit_window=0)
    written = rows(counter_domain, n=70)
    for index, row in enumerate(written, 1):
        writer.add(row)
        writer.flush()  # a segment each, then the merges it completes
        assert len(segments(rec)) <= (MERGE_FAN_IN - 1) * 3, index
    # 70 = 1 * 8**2 + 6: one segment of the second tier and six written since
    assert len(segments(rec)) == 7
    assert count(rec, "SELECT count(*), count(DISTINCT episode_id) FROM episodes") == [(70, 70)]
    assert count(rec, "SELECT count(*) FROM attempts") == [(70,)]  # each episode once, not once a tier
    writer.close()
    assert len(segments(rec)) == 1 and count(rec) == [(70,)]


def test_a_writer_leaves_its_segments_alone_while_a_compaction_runs(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    writer = RecordingWriter(rec, group_commit=True, commit_window=0)
    for row in rows(counter_domain, n=4):
        writer.add(row)
        writer.flush()
    with RecordingLock(resolve(rec), "compact", "compacting").acquire():
        writer.close()
    assert len(segments(rec)) == 4 and count(rec) == [(4,)]


def test_a_writer_does_not_merge_what_a_killed_compaction_already_merged(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    writer = RecordingWriter(rec, group_commit=True, commit_window=0)
    for row in rows(counter_domain, n=4):
        writer.add(row)
        writer.flush()
    first_two = [str(rec / name) for name in segments(rec)[:2]]
    # a compaction that wrote its merged segment and died before deleting what it replaces
    merge_segments(resolve(rec), first_two, EPISODE_SCHEMA, "episodes-compacted-000000000000.parquet")
    assert count(rec) == [(4,)]
    writer.close()
    assert count(rec, "SELECT count(*), count(DISTINCT episode_id) FROM attempts") == [(4, 4)]
    compact(rec)
    assert len(segments(rec)) == 1 and count(rec) == [(4,)]


def test_a_store_for_one_run_reads_only_the_segments_that_may_hold_it(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    for run_id in ("a", "b"):
        with RecordingWriter(rec) as writer:
            writer.write_run(run_id, {})
            for row in rows(counter_domain, run_id):
                writer.add(row)
    # a segment from before footers named their runs: it may hold any run
    write_segment(resolve(rec), "episodes-older-000000.parquet", rows_to_table(rows(counter_domain, "c", n=1)))
    store = RecordingStore(rec, run_ids=["a"])
    names = sorted(path.rsplit("/", 1)[-1] for _, path in store.files("episodes"))
    assert len(names) == 4 and "episodes-older-000000.parquet" in names
    assert [path.rsplit("/", 1)[-1].split("-")[1] for _, path in store.files("runs")] == ["a"]
    assert store.query("SELECT run_id, count(*) FROM episodes GROUP BY ALL ORDER BY ALL")[1] == [("a", 3), ("c", 1)]
    store.close()
    assert count(rec, run_ids=["nobody"]) == [(1,)]  # only the older segment
    compact(rec)
    assert count(rec, "SELECT count(*) FROM episodes WHERE run_id = 'b'", run_ids=["b"]) == [(3,)]


def older(table: pa.Table) -> pa.Table:
    """The table as an older taurl wrote it: no training columns, and steps without their requestor."""
    table = table.drop_columns(["train_step", "train_group", "sampler_version", "advantage"])
    step = pa.struct([f for f in table.schema.field("trace").type.value_type if f.name != "requestor"])
    trace = pa.array(
        [[{k: v for k, v in s.items() if k != "requestor"} for s in steps] for steps in table["trace"].to_pylist()],
        pa.list_(step),
    )
    return table.set_column(table.schema.get_field_index("trace"), "trace", trace)


def test_segments_of_an_older_schema_read_and_compact_beside_current_ones(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    loc = resolve(rec)
    new, old = rows(counter_domain, "new"), rows(counter_domain, "old")
    write_segment(loc, "episodes-new-000000.parquet", rows_to_table(new))
    write_segment(loc, "episodes-old-000000.parquet", older(rows_to_table(old)))
    store = RecordingStore(rec)
    assert store.segments[0].layouts.keys() == {str(rec / "episodes-old-000000.parquet")}
    query = (
        "SELECT run_id, count(*), count(requestor), count(*) FILTER (WHERE observation IS NULL) FROM steps GROUP BY 1"
    )
    before = sorted(store.query(query)[1])
    assert [r[0] for r in before] == ["new", "old"] and all(r[1] > 0 and r[3] == 0 for r in before)
    _, messages = store.query("SELECT * FROM messages ORDER BY run_id, task_id, idx")
    store.close()
    compact(rec)
    assert len(segments(rec)) == 1
    after = RecordingStore(rec)
    assert sorted(after.query(query)[1]) == before
    assert after.query("SELECT * FROM messages ORDER BY run_id, task_id, idx")[1] == messages
    assert after.query("SELECT count(train_step) FROM trajectories")[1] == [(0,)]


def test_the_nested_views_show_the_latest_attempt_of_each_episode_once(tmp_path, counter_domain):
    rec = tmp_path / "rec"
    loc = resolve(rec)
    first, second = rows(counter_domain, n=2), rows(counter_domain, n=2, attempt=2)
    write_segment(loc, "episodes-a-000000.parquet", rows_to_table(first))
    write_segment(loc, "episodes-a-000001.parquet", rows_to_table(first))  # a copy of the first attempts
    write_segment(loc, "episodes-b-000000.parquet", rows_to_table(second[:1]))  # one episode's second attempt
    store = RecordingStore(rec)
    assert store.query("SELECT task_id, attempt FROM episodes ORDER BY 1")[1] == [("t0", 2), ("t1", 1)]
    latest = [second[0], first[1]]  # t1's first attempt is there twice: it counts once
    _, counted = store.query("SELECT task_id, count(*), count(DISTINCT step) FROM steps GROUP BY 1 ORDER BY 1")
    assert counted == [(row["task_id"], len(row["trace"]), len(row["trace"])) for row in latest]
    _, counted = store.query("SELECT count(*) FROM messages")
    assert counted == [(sum(len(row["messages"]) for row in latest),)]
    assert store.query("SELECT count(*) FROM attempts")[1] == [(5,)]
    assert [row["attempt"] for row in store.episode_rows()] == [2, 1]
    streamed = [row for batch in store.episode_batches(rows=1) for row in batch.to_pylist()]  # superseded left out
    assert sorted(streamed, key=lambda row: row["task_id"]) == store.episode_rows()
    store.close()


def test_compaction_writes_a_row_group_per_batch_not_the_recording_at_once(tmp_path, counter_domain, monkeypatch):
    rec = tmp_path / "rec"
    with RecordingWriter(rec) as writer:
        for row in rows(counter_domain, n=5):
            writer.add(row)
    monkeypatch.setattr(merge, "ROW_GROUP_ROWS", 2)
    monkeypatch.setattr(merge, "READ_BATCH_ROWS", 1)
    result = compact(rec)
    merged = pq.ParquetFile(result.merged)
    assert [merged.metadata.row_group(i).num_rows for i in range(merged.num_row_groups)] == [2, 2, 1]
    assert count(rec) == [(5,)]
