"""The request-keyed response cache (diskcache, JSON values, no eviction, no size cap).

It is a cache, not the record: recordings are the segments the recorder writes, and a replay can
be served from a recording's own model calls when the cache directory is gone.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import diskcache_community as diskcache

from taurl.llm.request import ChatRequest, common_prefix, describe_difference


class CacheMode(StrEnum):
    LIVE = "live"  # always call the model; store the answer
    RECORD = "record"  # serve hits; call and store misses
    REPLAY = "replay"  # serve hits; a miss is an error; never touch the network
    OFF = "off"  # no cache at all


class ReplayMissError(LookupError):
    """A request that replay mode has no recorded answer for; says which and how it differs.
    ``namespace`` is the request's (``judge``: the judge's verdict was never recorded for this transcript)."""

    def __init__(self, message: str, namespace: str = ""):
        super().__init__(message)
        self.namespace = namespace

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickled whole (a Ray worker's error crosses processes)
        return type(self), (str(self), self.namespace)


class ResponseCache:
    """``directory`` None keeps entries in memory only (e.g. a replay served from a recording)."""

    def __init__(self, directory: Path | str | None):
        self.directory = Path(directory) if directory is not None else None
        # JSONDisk: values are JSON, never pickles; eviction "none": a recording cache never forgets
        self._cache = (
            diskcache.Cache(str(self.directory), disk=diskcache.JSONDisk, eviction_policy="none")
            if self.directory
            else None
        )
        self._memory: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        entry = self._memory.get(key)
        if entry is None and self._cache is not None:
            entry = self._cache.get(key)
        with self._lock:
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
        return entry

    def set(self, key: str, entry: dict[str, Any]) -> None:
        if self._cache is None:
            self._memory[key] = entry
        else:
            self._cache.set(key, entry)

    def preload(self, entries: dict[str, dict[str, Any]]) -> None:
        """Serve these entries (e.g. a recording's model calls) without writing them to disk."""
        self._memory.update(entries)

    def replace_preloaded(self, entries: dict[str, dict[str, Any]]) -> None:
        """Serve these entries instead of every one held in memory before (a streamed replay's next batch)."""
        self._memory = dict(entries)

    def keys(self) -> list[str]:
        stored = set(self._cache.iterkeys()) if self._cache is not None else set()
        return sorted(stored | set(self._memory))

    def __len__(self) -> int:
        return len(self.keys())

    def miss_error(self, request: ChatRequest) -> ReplayMissError:
        wanted = request.canonical()
        best, best_score = None, -1
        for key in self.keys():
            entry = self._memory.get(key) or (self._cache.get(key) if self._cache is not None else None) or {}
            recorded = entry.get("request") or {}
            score = common_prefix(wanted, recorded)
            if score > best_score:
                best, best_score = (key, recorded), score
        head = (
            f"replay miss: no recorded answer for {request.namespace} request {request.key()[:16]} "
            f"(model {request.model}, {len(request.messages)} messages, sample {request.sample_index})"
        )
        if best is None:
            return ReplayMissError(f"{head}; the cache ({self.directory or 'in memory'}) is empty", request.namespace)
        return ReplayMissError(
            f"{head}; closest recorded request {best[0][:16]}: {describe_difference(wanted, best[1])}",
            request.namespace,
        )

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()


_SHARED: dict[Path, ResponseCache] = {}
_SHARED_LOCK = threading.Lock()


def response_cache(directory: Path | str) -> ResponseCache:
    """One cache object per directory per process (diskcache is safe across threads and processes)."""
    path = Path(directory).expanduser().resolve()
    with _SHARED_LOCK:
        if path not in _SHARED:
            _SHARED[path] = ResponseCache(path)
        return _SHARED[path]
