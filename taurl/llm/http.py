"""HTTP for model calls, with deadlines: every socket operation of a call ends by the call's deadline.

httpx's timeouts bound each read on its own, so a server that sends a byte now and then keeps a call
open for as long as it likes. The client here runs the openai SDK's HTTP stack over a network backend
that caps every connect, read and write at the time left before the deadline the calling thread set
with :func:`deadline`; past it, the operation fails as a timeout (``openai.APITimeoutError`` to the
caller), whatever the server does.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from typing import Any

import httpcore2
import openai

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("taurl_http_deadline", default=None)


@contextlib.contextmanager
def deadline(at: float) -> Iterator[None]:
    """Within the block, this thread's HTTP ends by ``at`` (``time.monotonic()`` seconds)."""
    token = _DEADLINE.set(at)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _bounded(timeout: float | None, timed_out: type[Exception]) -> float | None:
    """``timeout`` cut to the time left before this thread's deadline; raise ``timed_out`` once it passed."""
    at = _DEADLINE.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise timed_out("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    def __init__(self, stream: httpcore2.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> httpcore2.NetworkStream:
        bounded = _bounded(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore2.NetworkBackend):
    def __init__(self, backend: httpcore2.NetworkBackend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        bounded = _bounded(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        bounded = _bounded(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


class DeadlineHttpClient(openai.DefaultHttpxClient):
    """The SDK's default HTTP client (its limits, redirects and proxies from the environment) whose
    connections, direct or through a proxy, all use the deadline backend."""

    def _init_transport(self, *args: Any, **kwargs: Any):
        return _with_deadlines(super()._init_transport(*args, **kwargs))

    def _init_proxy_transport(self, *args: Any, **kwargs: Any):
        return _with_deadlines(super()._init_proxy_transport(*args, **kwargs))


def _with_deadlines(transport: Any) -> Any:
    # httpx builds its connection pool with no way to choose the network backend: swap it in place
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if not isinstance(backend, httpcore2.NetworkBackend):
        raise RuntimeError(f"cannot bound model calls by a deadline: unexpected HTTP transport {transport!r}")
    if not isinstance(backend, _DeadlineBackend):
        pool._network_backend = _DeadlineBackend(backend)
    return transport
