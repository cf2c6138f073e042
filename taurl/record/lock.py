"""Advisory locks on a recording: one process at a time runs (or resumes) a run id, or compacts.

A lock is an ``flock`` on ``<recording>/.locks/<name>.lock``, which holds the holder's host, pid and
purpose (``running RUN_ID``, ``compacting``) for the message a second process gets: never its command
line, which may carry a key (``--agent-base-url http://user:key@host``). The kernel releases it when
its holder dies (even by SIGKILL), so a lock is never stale. Object stores have no such primitive
that pyarrow can use (no conditional create), so locking an object-store recording is refused with a message saying
so; pass ``unlocked=True`` (``--unlocked``) to go ahead, taking the responsibility of running one
process at a time. The store's views keep (run, task, trial) unique either way.

A lock taken ``shared`` excludes only the exclusive holders of the same lock: writers merging their own
segments hold the compaction lock shared, so they merge side by side but never while a compaction runs.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from taurl.paths import blocked
from taurl.record.location import Location, RecordingLocationError

LOCK_DIR = ".locks"


class RecordingLockedError(RuntimeError):
    """Another process holds the lock: says who and what to do."""


class RecordingLock:
    def __init__(self, location: Location, name: str, purpose: str, unlocked: bool = False):
        self.location = location
        self.name = name
        self.purpose = purpose
        self.unlocked = unlocked
        self._handle: int | None = None
        self._shared = False

    @property
    def path(self) -> Path:
        return Path(self.location.root) / LOCK_DIR / f"{self.name}.lock"

    def acquire(self, wait: bool = False, shared: bool = False) -> RecordingLock:
        """Take the lock, or raise :class:`RecordingLockedError` naming its holder (``wait``: block until free;
        ``shared``: alongside other shared holders, which leave the holder's line to the exclusive ones)."""
        if not self.location.is_local:
            if self.unlocked:
                return self
            raise RecordingLockedError(
                f"cannot lock the object-store recording {self.location.display} for {self.purpose}: object stores "
                "offer taurl no atomic lock. Make sure no other process does the same, then pass --unlocked"
            )
        root = Path(self.location.root)
        if root.exists() and not root.is_dir():
            raise RecordingLocationError(
                f"{self.location.display} is a file, not a recording: a recording is a directory"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RecordingLocationError(
                f"cannot use the recording {self.location.display}: {blocked(self.path.parent, exc)}"
            ) from exc
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = _read(handle) or f"another process is {self.purpose}"
            os.close(handle)
            raise RecordingLockedError(
                f"{self.location.display} is busy: {holder} (lock {self.path}); wait for it to finish, or stop it"
            ) from None
        self._shared = shared
        if shared:
            self._handle = handle
            return self
        try:
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"pid {os.getpid()} on {socket.gethostname()} is {self.purpose}".encode(), 0)
        except OSError as exc:  # a full disk: nothing could be recorded anyway
            os.close(handle)  # releases the lock
            raise RecordingLocationError(f"cannot use the recording {self.location.display}: {exc.strerror}") from exc
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            if not self._shared:
                os.ftruncate(self._handle, 0)
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            os.close(self._handle)
            self._handle = None

    def __enter__(self) -> RecordingLock:
        return self if self._handle is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(handle: int) -> str:
    try:
        return os.pread(handle, 400, 0).decode(errors="replace").strip()
    except OSError:
        return ""
