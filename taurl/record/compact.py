"""Compaction: merge a recording's small episode segments into one, optionally export one DuckDB file."""

from __future__ import annotations

import contextlib
import json
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taurl.record.location import Location
from taurl.record.lock import RecordingLock
from taurl.record.store import KINDS, REPLACES_KEY, RecordingStore, SkippedSegmentWarning
from taurl.record.writer import remove_abandoned_temp_files, write_segment


@dataclass(frozen=True)
class CompactionResult:
    segments_before: int
    episodes: int
    merged: str | None


def compact(location: str | Path, unlocked: bool = False) -> CompactionResult:
    """Merge the readable segments of each kind (episodes, runs, rescores) into one per kind.

    Holds the recording's compaction lock (a second ``compact`` waits for the first, then finds
    nothing left to merge: idempotent). A merged segment names every file it replaces, including
    files an earlier, interrupted compaction had already replaced, so a reader that lists the
    directory at any moment counts each episode once; the replaced files are deleted afterwards."""
    store = RecordingStore(location)
    loc = store.locations[0]
    with RecordingLock(loc, "compact", "compacting", unlocked).acquire(wait=True):
        store = RecordingStore(location)  # what is there now that the lock is ours
        result = CompactionResult(0, 0, None)
        for kind, (prefix, schema) in KINDS.items():
            files = [path for _, path in store.files(kind)]
            leftovers = store.segments[0].replaced.get(kind, [])
            merged_path = None
            rows = sum(pq.read_metadata(path, filesystem=loc.fs).num_rows for path in files)
            if len(files) > 1 or (files and leftovers):
                tables, files = read_readable(loc, files, schema)
                merged = pa.concat_tables(tables).combine_chunks()
                rows = merged.num_rows
                names = sorted({path.rsplit("/", 1)[-1] for path in files} | set(leftovers))
                name = f"{prefix}compacted-{uuid.uuid4().hex[:12]}.parquet"
                merged_path = write_segment(loc, name, merged, {REPLACES_KEY.decode(): json.dumps(names)})
                for replaced in names:
                    with contextlib.suppress(FileNotFoundError):
                        loc.fs.delete_file(loc.path(replaced))
            if kind == "episodes":
                result = CompactionResult(len(files), rows, merged_path)
        remove_abandoned_temp_files(loc)
    return result


def read_readable(loc: Location, files: list[str], schema: pa.Schema) -> tuple[list[pa.Table], list[str]]:
    """The tables of the files that read whole, and those files; a segment with corrupt pages behind a
    valid footer is named in a warning and left in place, out of the merge."""
    tables, readable = [], []
    for path in files:
        try:
            tables.append(pq.read_table(path, filesystem=loc.fs, schema=schema))
            readable.append(path)
        except (OSError, pa.ArrowException) as exc:
            warnings.warn(
                f"skipping segment {path}: unreadable Parquet data ({exc})", SkippedSegmentWarning, stacklevel=3
            )
    return tables, readable


def export_duckdb(location: str | Path, database_file: Path) -> dict[str, int]:
    """One DuckDB database file with the store's tables, for users who want a single file."""
    store = RecordingStore(location)
    con = store.views_connection()
    database_file = Path(database_file)
    if database_file.exists():
        database_file.unlink()
    con.execute(f"ATTACH '{database_file.as_posix()}' AS export")
    counts = {}
    for table in ("episodes", "messages", "steps", "tool_calls", "model_calls", "runs", "rescores"):
        con.execute(f"CREATE TABLE export.{table} AS SELECT * FROM {table}")
        counts[table] = con.execute(f"SELECT count(*) FROM export.{table}").fetchone()[0]
    con.execute("DETACH export")
    con.close()
    return counts
