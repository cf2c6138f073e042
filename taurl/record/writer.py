"""Per-process buffered writer of immutable episode segments.

Writers never coordinate: each names its segments ``episodes-<host>-<pid>-<random>-<seq>.parquet``.
A local segment is written under a temporary name and renamed into place; on an object store the
object appears whole when its upload completes. Readers never take a temporary file; a writer that
dies leaves at most one, which the next writer to open the recording removes. Each segment's footer
lists the run ids it holds (``taurl.run_ids``), so a reader that wants one run opens only its segments.

Durability: with group commit (what ``taurl run`` and the SkyRL env use), episodes are batched by age
and size: a batch is written once its oldest episode has waited the commit window
(:data:`DEFAULT_COMMIT_WINDOW`, ``--commit-window``) or it holds :data:`DEFAULT_BATCH_ROWS` episodes,
whichever comes first, then takes one segment write (a few ms): a SIGKILL loses at most the episodes
finished in that span, and ``on_durable`` hears of each episode only once it is in a renamed segment.
A rename survives the process's death; ``durable=True`` (``--durable``) also fsyncs each segment and
its directory, so it survives the machine's. When it closes, a group-commit writer that wrote several
segments merges them into one (:mod:`taurl.record.merge`): the merged segment names the ones it
replaces, so a reader counts each episode once whenever it looks, and a writer killed instead of
closed leaves its segments as they were. While it runs, it merges its newest segments by tiers
(:data:`MERGE_FAN_IN` of one tier make one of the next), so a process that records for days keeps a
few dozen segments, not one per commit window.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from taurl.core.hashing import canonical_json
from taurl.record.location import Location, resolve
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
from taurl.record.segments import run_ids_metadata, write_segment

DEFAULT_COMMIT_WINDOW = 1.0  # seconds an episode may wait for its batch: bigger batches, fewer files
DEFAULT_BATCH_ROWS = 1000  # episodes that make a batch without waiting out the window
MERGE_AT = 4  # a group-commit writer that wrote this many segments merges them when it closes
MERGE_FAN_IN = 8  # while it runs, a group-commit writer merges its newest 8 segments of one tier into one
STALE_TEMP_SECONDS = 3600.0  # a temp file of another host is taken as abandoned after this long
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
NOT_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9._-]")


class RecordingWriteError(RuntimeError):
    """The recording could not be written (disk full, permissions, object store): names it and the cause."""


class RecordingCallbackError(RuntimeError):
    """``on_durable`` raised: every row was still written; ``close`` raises this once it has."""


def check_run_id(run_id: str) -> str:
    """A run id someone chose (``--run-id``), refused in one line unless it is 1 to 200 ASCII letters,
    digits, '.', '_', '-' and ':', starting with a letter or digit: it is typed into SQL and shell
    commands, and a segment's file name is made from it."""
    if not RUN_ID.fullmatch(run_id):
        raise ValueError(
            f"run id {run_id!r} is not allowed: use 1 to 200 letters (a-z, A-Z), digits, '.', '_', '-' and ':', "
            "starting with a letter or digit"
        )
    return run_id


def remove_abandoned_temp_files(location: Location) -> list[str]:
    """Delete temporary segment files whose writer is gone: on this host, its process no longer
    exists; from another host, older than :data:`STALE_TEMP_SECONDS`. Returns what was removed."""
    if not location.is_local:
        return []  # an object appears whole or not at all: no temporary objects
    removed = []
    host = socket.gethostname()
    for name in location.list_files():
        if not name.startswith(TEMP_PREFIX):
            continue
        path = Path(location.path(name))
        pid = _writer_pid(name, host)
        if pid is not None:
            abandoned = not _process_exists(pid)
        else:
            try:
                abandoned = time.time() - path.stat().st_mtime > STALE_TEMP_SECONDS
            except FileNotFoundError:
                continue
        if abandoned:
            path.unlink(missing_ok=True)
            removed.append(str(path))
    return removed


def _writer_pid(temp_name: str, host: str) -> int | None:
    """The pid in a temp name written by a writer of ``host`` (``...-<host>-<pid>-<random>...``), else None."""
    at = temp_name.rfind(f"-{host}-")
    if at < 0:
        return None
    pid = temp_name[at + len(host) + 2 :].split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_WRITERS: weakref.WeakSet[RecordingWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_WRITERS):
        writer._forget_parent()


os.register_at_fork(after_in_child=_after_fork_in_child)


class RecordingWriter:
    """Buffers episode rows and writes them as segments.

    Synchronous (default): the caller's ``add`` writes a segment every ``flush_every`` rows.
    ``group_commit=True``: a background thread writes what has been added as one segment once the
    oldest row has waited ``commit_window`` seconds or ``batch_rows`` rows are waiting, so the episode
    loop never waits on Parquet and segments hold many episodes; ``on_durable`` is called (from that
    thread) with each batch's rows once their segment is in place; ``flush``/``close`` wait for
    everything added, and ``close`` merges the writer's segments into one once it wrote ``merge_at``.

    A failed write (disk full, permissions, object store) is kept: every later ``add``, ``flush``
    and ``close`` raises :class:`RecordingWriteError` naming the recording and the cause, and
    nothing more is written.
    """

    def __init__(
        self,
        location: str | Path,
        flush_every: int = 1,
        durable: bool = False,
        group_commit: bool = False,
        commit_window: float = DEFAULT_COMMIT_WINDOW,
        on_durable: Callable[[list[dict[str, Any]]], None] | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        merge_at: int | None = MERGE_AT,
    ):
        self.location = resolve(location)
        self.flush_every = max(1, flush_every)
        self.durable = durable
        self.group_commit = group_commit
        self.commit_window = max(0.0, commit_window)
        self.batch_rows = max(1, batch_rows)
        self.merge_at = merge_at if group_commit else None  # None: never merge
        self.on_durable = on_durable
        self._error: RecordingWriteError | None = None
        self._callback_error: RecordingCallbackError | None = None
        self.episodes_written = 0
        self._pid = -1
        self._forget_parent()
        _WRITERS.add(self)

    def _forget_parent(self) -> None:
        """Fresh state for this process. Runs in a forked child before anything else: the parent's
        lock may have been held by one of its threads, which do not exist here, and what the parent
        buffered and wrote is the parent's."""
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._buffer: list[dict[str, Any]] = []
        self._oldest = 0.0  # time.monotonic() when the oldest buffered row was added
        self._seq = 0
        self._segments: list[tuple[str, int]] = []  # the episode segments this writer wrote, with their tiers
        self._writing = False
        self._closed = False
        self._urgent = False  # a flush is waiting: write without waiting out the commit window
        self._thread: threading.Thread | None = None
        self._writer_id = ""
        self._pid = -1

    def _ensure_process(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._writer_id = f"{socket.gethostname()}-{self._pid}-{uuid.uuid4().hex[:8]}"
            remove_abandoned_temp_files(self.location)
        if self.group_commit and self._thread is None:
            self._thread = threading.Thread(target=self._commit_loop, name="taurl-recorder", daemon=True)
            self._thread.start()

    @property
    def error(self) -> RecordingWriteError | None:
        """The write failure, once one happened."""
        return self._error

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def _failed(self, exc: BaseException) -> RecordingWriteError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        error = RecordingWriteError(f"cannot write to the recording {self.location.display}: {reason}")
        error.__cause__ = exc
        return error

    def _write_now(self, name: str, table: pa.Table, metadata: dict[str, str] | None = None) -> None:
        try:
            write_segment(self.location, name, table, metadata, durable=self.durable)
        except Exception as exc:
            raise self._failed(exc) from exc

    def write_run(self, run_id: str, config: dict[str, Any]) -> None:
        from taurl import __version__

        row = {
            "run_id": run_id,
            "schema_version": SCHEMA_VERSION,
            "taurl_version": __version__,
            "config_json": canonical_json(config),
        }
        with self._lock:
            self._ensure_process()
            self._raise_pending()
            # the id as a plain file name: whatever the id, the segment stays inside the recording
            name = f"{RUN_PREFIX}{NOT_IN_FILE_NAMES.sub('_', run_id)[:100]}-{self._writer_id}.parquet"
        self._write_now(name, pa.Table.from_pylist([row], schema=RUN_SCHEMA), run_ids_metadata([run_id]))

    def write_rescores(self, rows: list[dict[str, Any]], rescore_id: str) -> None:
        with self._lock:
            self._ensure_process()
            self._raise_pending()
            name = f"{RESCORE_PREFIX}{rescore_id}-{self._writer_id}.parquet"
        self._write_now(name, pa.Table.from_pylist(rows, schema=RESCORE_SCHEMA))

    def add(self, row: dict[str, Any]) -> None:
        with self._lock:
            self._ensure_process()
            self._raise_pending()
            self._buffer.append(row)
            if self.group_commit:
                # wake the commit thread only when it has something new to decide
                if len(self._buffer) == 1:
                    self._oldest = time.monotonic()
                    self._changed.notify_all()
                elif len(self._buffer) == self.batch_rows:
                    self._changed.notify_all()
                return
            if len(self._buffer) < self.flush_every:
                return
            batch = self._take()
        self._write(batch)

    def _take(self) -> tuple[list[dict[str, Any]], str]:
        """Claim the buffered rows and the next segment name (lock held)."""
        rows, self._buffer = self._buffer, []
        name = self._next_name()
        return rows, name

    def _next_name(self) -> str:
        name = f"{EPISODE_PREFIX}{self._writer_id}-{self._seq:06d}.parquet"
        self._seq += 1
        return name

    def _write(self, batch: tuple[list[dict[str, Any]], str]) -> None:
        rows, name = batch
        try:
            metadata = run_ids_metadata(row.get("run_id") for row in rows)
            write_segment(self.location, name, rows_to_table(rows), metadata, durable=self.durable)
        except Exception as exc:
            self._error = self._failed(exc)
            raise self._error from exc
        self._segments.append((name, 0))
        self.episodes_written += len(rows)
        if self.on_durable is not None:
            try:
                self.on_durable(rows)
            except Exception as exc:  # the rows are durable: keep recording, fail the close
                if self._callback_error is None:
                    self._callback_error = RecordingCallbackError(
                        f"the recorder's on_durable callback failed: {type(exc).__name__}: {exc}"
                    )
                    self._callback_error.__cause__ = exc

    def _merge_tiers(self) -> None:
        """Keep a long-lived writer's segments few (a SkyRL process records for days): whenever its newest
        :data:`MERGE_FAN_IN` segments are of one tier, they become one segment of the next tier. A writer
        that wrote N segments holds at most about ``(MERGE_FAN_IN - 1) * log(N, MERGE_FAN_IN)`` of them,
        and each episode is rewritten about ``log(N, MERGE_FAN_IN)`` times. Runs on the commit thread,
        between batches; a merge that cannot be done now (a compaction holds them) is left for later."""
        while len(self._segments) >= MERGE_FAN_IN:
            newest = self._segments[-MERGE_FAN_IN:]
            tier = newest[0][1]
            if any(t != tier for _, t in newest):
                return
            with self._lock:
                merged = self._next_name()
            kept = self._merge([name for name, _ in newest], merged)
            if kept is None:
                self.merge_at = None  # stop trying: the close will not merge either
                return
            if not kept or kept[0] != merged:
                return  # not merged now (a compaction has them): tried again after a later batch
            self._segments[-MERGE_FAN_IN:] = [(merged, tier + 1)] + [(name, tier) for name in kept[1:]]

    def _batch_ready(self) -> bool:
        return (
            self._closed
            or self._urgent
            or len(self._buffer) >= self.batch_rows
            or time.monotonic() - self._oldest >= self.commit_window
        )

    def _commit_loop(self) -> None:
        while True:
            with self._lock:
                while not self._buffer and not self._closed:
                    self._changed.wait()
                if not self._buffer:
                    return
                while not self._batch_ready():
                    self._changed.wait(max(0.0, self._oldest + self.commit_window - time.monotonic()))
                self._urgent = False
                batch = self._take()
                self._writing = True
            try:
                self._write(batch)
                if self.merge_at is not None and self._pid == os.getpid():
                    self._merge_tiers()
            except RecordingWriteError:
                pass  # kept in self._error, raised to the caller on its next add/flush/close
            except BaseException as exc:  # a row that cannot become a segment: the thread must not die silently
                self._error = self._failed(exc)
            with self._lock:
                self._writing = False
                if self._error is not None:
                    self._closed = True
                    self._buffer = []
                self._changed.notify_all()
                if self._error is not None:
                    return

    def flush(self) -> None:
        """Return once every row added so far is in a segment."""
        with self._lock:
            self._ensure_process()
            if self.group_commit:
                while (self._buffer or self._writing) and self._error is None:
                    self._urgent = True
                    self._changed.notify_all()
                    self._changed.wait()
                self._raise_pending()
                return
            self._raise_pending()
            if not self._buffer:
                return
            batch = self._take()
        self._write(batch)

    def close(self) -> None:
        """Write what is buffered, stop the commit thread and merge this writer's segments; raises if any
        write, or ``on_durable``, failed."""
        try:
            self.flush()
            if self._callback_error is not None:
                raise self._callback_error
        finally:
            with self._lock:
                self._closed = True
                self._changed.notify_all()
                thread = self._thread if self._pid == os.getpid() else None
            if thread is not None:
                thread.join()
        self._merge_segments()

    def _merge_segments(self) -> None:
        """Merge this writer's segments into one, when it wrote ``merge_at`` or more. The rows are durable
        already: a merge that cannot be done leaves them where they are, with a warning."""
        with self._lock:
            if self.merge_at is None or len(self._segments) < max(2, self.merge_at) or self._pid != os.getpid():
                return
            names, self._segments = [name for name, _ in self._segments], []
            merged = self._next_name()
        kept = self._merge(names, merged)
        self._segments = [(name, 0) for name in (names if kept is None else kept)]

    def _merge(self, names: list[str], merged: str) -> list[str] | None:
        """``names`` merged into ``merged``: the writer's segments that stand for them after it, or None
        (with a warning) when the merge failed and they stay as they are."""
        from taurl.record.merge import merge_own_segments

        try:
            return merge_own_segments(self.location, names, merged, durable=self.durable)
        except Exception as exc:
            warnings.warn(
                f"could not merge {len(names)} of this writer's segments in {self.location.display} ({exc}): "
                "they stay as they are, and `taurl compact` merges them",
                stacklevel=3,
            )
            return None

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
