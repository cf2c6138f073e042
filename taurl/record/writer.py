"""Per-process buffered writer of immutable episode segments.

Writers never coordinate: each names its segments ``episodes-<host>-<pid>-<random>-<seq>.parquet``.
A local segment is written under a temporary name and renamed into place; on an object store the
object appears whole when its upload completes. A killed writer loses at most its unflushed buffer
(``flush_every`` episodes, 1 by default) and never leaves a segment that readers would take.
"""

from __future__ import annotations

import io
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from taurl.core.hashing import canonical_json
from taurl.record.location import resolve
from taurl.record.schema import (
    EPISODE_PREFIX,
    RESCORE_PREFIX,
    RESCORE_SCHEMA,
    RUN_PREFIX,
    RUN_SCHEMA,
    SCHEMA_VERSION,
    TEMP_PREFIX,
    rows_to_table,
)


def write_segment(location, name: str, table: pa.Table, metadata: dict[str, str] | None = None) -> str:
    """Write one immutable segment so that it becomes visible whole, or not at all."""
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    data = buffer.getvalue()
    final = location.path(name)
    if location.is_local:
        Path(location.root).mkdir(parents=True, exist_ok=True)
        temp = location.path(f"{TEMP_PREFIX}{name}")
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    else:
        with location.fs.open_output_stream(final) as stream:  # one object, visible when closed
            stream.write(data)
    return final


class RecordingWriter:
    def __init__(self, location: str | Path, flush_every: int = 1):
        self.location = resolve(location)
        self.flush_every = max(1, flush_every)
        self._lock = threading.Lock()
        self._pid = -1
        self._buffer: list[dict[str, Any]] = []
        self._seq = 0
        self._writer_id = ""
        self.episodes_written = 0

    def _ensure_process(self) -> None:
        """A writer inherited through fork() starts afresh: the parent owns what it had buffered."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._buffer = []
            self._seq = 0
            self._writer_id = f"{socket.gethostname()}-{self._pid}-{uuid.uuid4().hex[:8]}"

    def write_run(self, run_id: str, config: dict[str, Any]) -> None:
        from taurl import __version__

        table = pa.Table.from_pylist(
            [
                {
                    "run_id": run_id,
                    "schema_version": SCHEMA_VERSION,
                    "taurl_version": __version__,
                    "config_json": canonical_json(config),
                }
            ],
            schema=RUN_SCHEMA,
        )
        with self._lock:
            self._ensure_process()
            write_segment(self.location, f"{RUN_PREFIX}{run_id}-{self._writer_id}.parquet", table)

    def write_rescores(self, rows: list[dict[str, Any]], rescore_id: str) -> None:
        table = pa.Table.from_pylist(rows, schema=RESCORE_SCHEMA)
        with self._lock:
            self._ensure_process()
            write_segment(self.location, f"{RESCORE_PREFIX}{rescore_id}-{self._writer_id}.parquet", table)

    def add(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._ensure_process()
            self._buffer.append(row)
            if len(self._buffer) >= self.flush_every:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._ensure_process()
            self._flush_locked()

    def _flush_locked(self) -> None:
        if not self._buffer:
            return
        table = rows_to_table(self._buffer)
        name = f"{EPISODE_PREFIX}{self._writer_id}-{self._seq:06d}.parquet"
        write_segment(self.location, name, table)
        self._seq += 1
        self.episodes_written += len(self._buffer)
        self._buffer = []

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
