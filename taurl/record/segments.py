"""One segment file: written whole or not at all, the footer keys that say what it holds and what it
replaces, and what makes one unreadable. Below the writer, the merge and the store, which all use it."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from taurl.record.location import Location
from taurl.record.schema import TEMP_PREFIX

REPLACES_KEY = "taurl.replaces"  # footer key of a merged segment: the names of the segments it replaces
RUN_IDS_KEY = "taurl.run_ids"  # footer key: the run ids a segment holds (JSON list)


class SkippedSegmentWarning(UserWarning):
    pass


def is_damage(problem: BaseException) -> bool:
    """Whether a failed read of a Parquet file says its bytes are bad, as opposed to the machine running
    short (memory, threads, open files) or the read being cut off: only damage makes a segment unreadable.
    pyarrow raises OSError without an errno for bytes it cannot decode, and with one when the system
    refused (ENOMEM, EAGAIN, EMFILE, EIO ...)."""
    if isinstance(problem, (MemoryError, pa.ArrowCapacityError, pa.ArrowCancelled)):
        return False
    if isinstance(problem, OSError):
        return problem.errno is None
    return isinstance(
        problem,
        (
            pa.ArrowInvalid,
            pa.ArrowNotImplementedError,
            pa.ArrowTypeError,
            pa.ArrowKeyError,
            pa.ArrowIndexError,
            pa.ArrowSerializationError,
        ),
    )


def run_ids_metadata(run_ids: Iterable[str | None]) -> dict[str, str]:
    """The footer entry naming the runs a segment holds."""
    return {RUN_IDS_KEY: json.dumps(sorted({r for r in run_ids if isinstance(r, str)}))}


@contextlib.contextmanager
def segment_file(location: Location, name: str, durable: bool = False) -> Iterator[BinaryIO]:
    """A new segment's file to write into: it becomes visible as ``name`` whole when the block ends, or
    not at all when the block raises (no temporary file stays behind). Locally a temporary file renamed
    into place (``durable``: fsynced with its directory); on an object store, spooled to a local
    temporary file and uploaded as one object."""
    final = location.path(name)
    if not location.is_local:
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            with location.fs.open_output_stream(final) as stream:  # one object, visible when closed
                shutil.copyfileobj(spool, stream, 1 << 20)
        return
    Path(location.root).mkdir(parents=True, exist_ok=True)
    temp = location.path(f"{TEMP_PREFIX}{name}")
    try:
        with open(temp, "wb") as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if durable:
        directory = os.open(location.root, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def write_segment(
    location: Location, name: str, table: pa.Table, metadata: dict[str, str] | None = None, durable: bool = False
) -> str:
    """Write one immutable segment so that it becomes visible whole, or not at all.

    The rename makes it survive the writer's death; ``durable`` also fsyncs the file and its
    directory so it survives the machine's (about 10 ms per segment on this disk). A failed write
    leaves no temporary file behind."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    with segment_file(location, name, durable) as handle:
        handle.write(buffer.getbuffer())
    return location.path(name)
