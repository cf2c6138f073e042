"""Compaction: merge a recording's segments into one per kind, streamed; optionally export one DuckDB file."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from taurl.paths import OutputPathError, describe_os_error, temporary_sibling, writable_directory, writable_file
from taurl.record.location import Location
from taurl.record.lock import RecordingLock
from taurl.record.merge import COMPACTED, merge_segments, warn_damaged
from taurl.record.schema import TEMP_PREFIX
from taurl.record.store import KINDS, RecordingStore, first_line
from taurl.record.writer import RecordingWriteError, remove_abandoned_temp_files


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
    directory at any moment counts each episode once; the replaced files are deleted afterwards. The
    merge streams (:mod:`taurl.record.merge`): its memory is one row group's, whatever the recording's
    size. A compaction killed while writing leaves a temporary file, which the next one removes first; one
    that cannot write (a full disk) changes nothing and raises :class:`RecordingWriteError`."""
    store = RecordingStore(location)
    loc = store.locations[0]
    with RecordingLock(loc, "compact", "compacting", unlocked).acquire(wait=True):
        remove_orphaned_compaction_files(loc)
        store = RecordingStore(location)  # what is there now that the lock is ours
        result = CompactionResult(0, 0, None)
        for kind, (prefix, schema) in KINDS.items():
            files = [path for _, path in store.files(kind)]
            leftovers = store.segments[0].replaced.get(kind, [])
            merged_path = None
            rows = sum(pq.read_metadata(path, filesystem=loc.fs).num_rows for path in files)
            if len(files) > 1 or (files and leftovers):
                name = f"{prefix}{COMPACTED}{uuid.uuid4().hex[:12]}.parquet"
                try:
                    merged = merge_segments(loc, files, schema, name, leftovers, on_damaged=warn_damaged)
                except OSError as exc:
                    raise RecordingWriteError(
                        f"cannot write to the recording {loc.display}: {describe_os_error(exc)}; the {kind} "
                        "segments were left as they were"
                    ) from exc
                merged_path, rows, files = merged.path, merged.rows, merged.sources
                replaced = sorted({path.rsplit("/", 1)[-1] for path in merged.sources} | set(leftovers))
                for name in replaced if merged_path else ():
                    with contextlib.suppress(FileNotFoundError):
                        loc.fs.delete_file(loc.path(name))
            if kind == "episodes":
                result = CompactionResult(len(files), rows, merged_path)
        remove_abandoned_temp_files(loc)
    return result


def remove_orphaned_compaction_files(loc: Location) -> list[str]:
    """Delete the temporary files of compactions that died while writing: called with the compaction
    lock held, when no other compaction can be writing one. Returns what was removed."""
    if not loc.is_local:
        return []  # an object appears whole or not at all: no temporary objects
    orphans = [
        name
        for name in loc.list_files()
        if name.startswith(TEMP_PREFIX)
        and any(name[len(TEMP_PREFIX) :].startswith(p + COMPACTED) for p, _ in KINDS.values())
    ]
    for name in orphans:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(loc.path(name))
    return [loc.path(name) for name in orphans]


def export_duckdb(location: str | Path, database_file: Path) -> dict[str, int]:
    """One DuckDB database file with the store's tables, for users who want a single file. It appears
    whole, replacing an earlier file of that name, or not at all (:class:`OutputPathError`)."""
    store = RecordingStore(location)
    database_file = writable_file(Path(database_file))
    writable_directory(database_file.parent)
    temp = temporary_sibling(database_file)
    counts = {}
    con = store.views_connection()
    try:
        quoted = temp.as_posix().replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS export")
        for table in ("episodes", "messages", "steps", "tool_calls", "model_calls", "runs", "rescores"):
            con.execute(f"CREATE TABLE export.{table} AS SELECT * FROM {table}")
            counts[table] = con.execute(f"SELECT count(*) FROM export.{table}").fetchone()[0]
        con.execute("DETACH export")
        os.replace(temp, database_file)
    except (duckdb.Error, OSError) as exc:
        cause = describe_os_error(exc) if isinstance(exc, OSError) else first_line(exc)
        raise OutputPathError(f"cannot write {database_file}: {cause}") from exc
    finally:
        con.close()
        store.close()
        for leftover in (temp, temp.with_name(temp.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return counts
