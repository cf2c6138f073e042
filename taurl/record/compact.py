"""Compaction: merge a recording's small episode segments into one, optionally export one DuckDB file."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taurl.record.store import KINDS, REPLACES_KEY, RecordingStore
from taurl.record.writer import write_segment


@dataclass(frozen=True)
class CompactionResult:
    segments_before: int
    episodes: int
    merged: str | None


def compact(location: str | Path) -> CompactionResult:
    """Merge the readable segments of each kind (episodes, runs, rescores) into one per kind. A merged
    segment names the ones it replaces, so a reader that lists the directory mid-compaction never
    counts an episode twice; the old files are deleted afterwards."""
    store = RecordingStore(location)
    result = CompactionResult(0, 0, None)
    for kind, (prefix, schema) in KINDS.items():
        files = store.files(kind)
        rows = sum(pq.read_metadata(path, filesystem=loc.fs).num_rows for loc, path in files)
        merged_path = None
        if len(files) > 1:
            loc = store.locations[0]
            merged = pa.concat_tables(
                [pq.read_table(path, filesystem=loc.fs, schema=schema) for _, path in files]
            ).combine_chunks()
            names = [path.rsplit("/", 1)[-1] for _, path in files]
            name = f"{prefix}compacted-{uuid.uuid4().hex[:12]}.parquet"
            merged_path = write_segment(loc, name, merged, {REPLACES_KEY.decode(): json.dumps(names)})
            for _, path in files:
                loc.fs.delete_file(path)
        if kind == "episodes":
            result = CompactionResult(len(files), rows, merged_path)
    return result


def export_duckdb(location: str | Path, database_file: Path) -> dict[str, int]:
    """One DuckDB database file with the store's tables, for users who want a single file."""
    store = RecordingStore(location)
    con = store.connect()
    database_file = Path(database_file)
    if database_file.exists():
        database_file.unlink()
    con.execute(f"ATTACH '{database_file.as_posix()}' AS export")
    counts = {}
    for table in ("episodes", "messages", "steps", "tool_calls", "model_calls", "runs", "rescores"):
        con.execute(f"CREATE TABLE export.{table} AS SELECT * FROM {table}")
        counts[table] = con.execute(f"SELECT count(*) FROM export.{table}").fetchone()[0]
    con.execute("DETACH export")
    return counts
