"""Merging segments into one, streamed: compaction, and a writer merging its own segments as it closes.

A merge reads its sources a batch at a time and writes them with a ParquetWriter, a row group whenever
:data:`ROW_GROUP_ROWS` rows or :data:`ROW_GROUP_BYTES` are waiting, so its memory is bounded by one row
group whatever the size of the recording. The merged segment appears whole (renamed into place), its
footer names every segment it replaces (``taurl.replaces``) and the run ids it holds; the replaced
segments are deleted only after it appeared, so a reader that lists the recording at any moment counts
each row once. Merges take the recording's compaction lock: exclusive for a compaction, shared for a
writer, which merges only segments it wrote itself and never while a compaction runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from taurl.record.location import Location
from taurl.record.lock import RecordingLock, RecordingLockedError
from taurl.record.schema import EPISODE_PREFIX, EPISODE_SCHEMA
from taurl.record.segments import REPLACES_KEY, SkippedSegmentWarning, is_damage, run_ids_metadata, segment_file

COMPACTED = "compacted-"  # in a compaction's merged segment's name, after its kind's prefix
ROW_GROUP_ROWS = 4096
ROW_GROUP_BYTES = 16 << 20  # in Arrow memory (about 1,300 oracle episodes): a merge's peak is a few groups, decoded
READ_BATCH_ROWS = 1024


class DamagedSegment(Exception):
    """A source whose pages cannot be decoded (a valid footer over bad data)."""

    def __init__(self, path: str, cause: BaseException):
        super().__init__(f"{path}: {cause}")
        self.path = path
        self.cause = cause


@dataclass
class Merged:
    path: str | None  # the merged segment, None when no source could be read
    rows: int = 0
    sources: list[str] = field(default_factory=list)  # the paths merged into it
    skipped: list[str] = field(default_factory=list)  # damaged sources, left out and in place


def merge_segments(
    location: Location,
    sources: list[str],
    schema: pa.Schema,
    name: str,
    replaces: Iterable[str] = (),
    durable: bool = False,
    on_damaged: Callable[[str, BaseException], None] | None = None,
) -> Merged:
    """Stream ``sources`` (paths, read as ``schema``) into the new segment ``name``, which replaces their
    file names and ``replaces``. A source with damaged pages is left out (``on_damaged`` hears of it) and
    the merge starts over without it; any other failure raises and leaves no merged segment."""
    sources = list(sources)
    skipped: list[str] = []
    while sources:
        try:
            merged = _merge(location, sources, schema, name, sorted(replaces), durable)
        except DamagedSegment as damaged:
            sources.remove(damaged.path)
            skipped.append(damaged.path)
            if on_damaged is not None:
                on_damaged(damaged.path, damaged.cause)
            continue
        merged.skipped = skipped
        return merged
    return Merged(None, skipped=skipped)


def _merge(
    location: Location, sources: list[str], schema: pa.Schema, name: str, replaces: list[str], durable: bool
) -> Merged:
    names = sorted({path.rsplit("/", 1)[-1] for path in sources} | set(replaces))
    target = schema.with_metadata({**(schema.metadata or {}), REPLACES_KEY.encode(): json.dumps(names).encode()})
    run_ids: set[str] = set()
    rows = 0
    with segment_file(location, name, durable) as handle:
        writer = pq.ParquetWriter(handle, target, compression="zstd")
        try:
            for group in _row_groups(location, sources, target):
                if "run_id" in target.names:
                    run_ids.update(pc.unique(group.column("run_id")).drop_null().to_pylist())
                writer.write_table(group, row_group_size=group.num_rows)
                rows += group.num_rows
            if run_ids:
                writer.add_key_value_metadata(run_ids_metadata(run_ids))
        finally:
            writer.close()
    return Merged(location.path(name), rows, list(sources))


def _row_groups(location: Location, sources: list[str], schema: pa.Schema) -> Iterator[pa.Table]:
    """The sources' rows as tables of about a row group each."""
    waiting: list[pa.RecordBatch] = []
    waiting_rows = waiting_bytes = 0
    for path in sources:
        for batch in _batches(location, path, schema):
            waiting.append(batch)
            waiting_rows += batch.num_rows
            waiting_bytes += batch.nbytes
            if waiting_rows >= ROW_GROUP_ROWS or waiting_bytes >= ROW_GROUP_BYTES:
                yield pa.Table.from_batches(waiting, schema)
                waiting, waiting_rows, waiting_bytes = [], 0, 0
    if waiting:
        yield pa.Table.from_batches(waiting, schema)


def _batches(location: Location, path: str, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """One segment's rows a batch at a time, as ``schema`` (an older segment's missing columns and fields null)."""
    try:
        with pq.ParquetFile(path, filesystem=location.fs, pre_buffer=False) as segment:
            current = segment.schema_arrow.equals(schema, check_metadata=False)
            for batch in segment.iter_batches(batch_size=READ_BATCH_ROWS, use_threads=False):
                yield batch.replace_schema_metadata(schema.metadata) if current else conform(batch, schema)
    except Exception as exc:
        if is_damage(exc):
            raise DamagedSegment(path, exc) from exc
        raise


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch of an older segment as ``schema``: missing columns null, types (and struct fields) cast."""
    columns = []
    for column_field in schema:
        index = batch.schema.get_field_index(column_field.name)
        column = pa.nulls(batch.num_rows, column_field.type) if index < 0 else batch.column(index)
        columns.append(column if column.type == column_field.type else column.cast(column_field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def replaced_names(location: Location, names: Iterable[str]) -> set[str]:
    """The file names that the merged segments among ``names`` replace."""
    replaced: set[str] = set()
    for name in names:
        if not name.endswith(".parquet"):
            continue
        try:
            metadata = pq.read_metadata(location.path(name), filesystem=location.fs).metadata or {}
        except FileNotFoundError:
            continue
        if REPLACES_KEY.encode() in metadata:
            replaced.update(json.loads(metadata[REPLACES_KEY.encode()]))
    return replaced


def merge_own_segments(location: Location, names: list[str], merged_name: str, durable: bool = False) -> list[str]:
    """Merge episode segments one writer wrote (``names``) into ``merged_name``; returns the writer's
    segments as they are after it. Only on a local recording, under the compaction lock held shared: a
    compaction running (or one that died after merging some of them) has them, and they are left alone."""
    if not location.is_local:
        return names  # an object store has no lock: `taurl compact --unlocked` merges them
    lock = RecordingLock(location, "compact", "merging a writer's segments")
    try:
        lock.acquire(shared=True)
    except RecordingLockedError:
        return names  # a compaction is merging them
    try:
        present = set(location.list_files())
        compacted = [n for n in present if n.startswith(EPISODE_PREFIX + COMPACTED)]
        taken = replaced_names(location, compacted)
        sources = [n for n in names if n in present and n not in taken]
        if len(sources) < 2:
            return sources
        merged = merge_segments(
            location,
            [location.path(n) for n in sources],
            EPISODE_SCHEMA,
            merged_name,
            durable=durable,
            on_damaged=warn_damaged,
        )
        if merged.path is None:
            return sources
        for path in merged.sources:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        return [merged_name] + [path.rsplit("/", 1)[-1] for path in merged.skipped]
    finally:
        lock.release()


def warn_damaged(path: str, cause: BaseException) -> None:
    """Name a source left out of a merge, as the store names a segment it skips."""

    warnings.warn(f"skipping segment {path}: unreadable Parquet data ({cause})", SkippedSegmentWarning, stacklevel=4)
