"""An OpenAI-compatible HTTP server for the deterministic simulation models, with fault injection.

It exists so that taurl's live path (user simulator and agent talking through the official openai
client) runs offline, byte-for-byte reproducibly, and so that tests can make that client meet rate
limits, server errors, timeouts and broken bodies on demand. Nothing in a response depends on the
clock: ids derive from a hash of the request and ``created`` is a constant.

Faults form a FIFO queue; every chat-completion request takes the next one (or none):

- ``429``, ``500``, ``503``: that status with an OpenAI error body (429 adds ``retry-after: 0`` and
  ``retry-after-ms: 1``, so a retrying client tries again at once);
- ``timeout``: wait ``timeout_delay`` seconds (less if the client hangs up), then answer normally;
- ``malformed``: status 200 with a body (or, streaming, an event) that is not JSON;
- ``truncated``: drop the connection half-way through the body, or after some stream chunks;
- ``surrogate``: a valid answer whose text ends in a lone UTF-16 surrogate (``\\ud800``), which JSON
  allows and Python decodes but UTF-8 cannot hold: a reply that breaks careless code downstream;
- ``no-usage``: a valid answer without ``usage`` (a stream: without its usage chunk);
- ``negative-usage``: a valid answer whose usage counts are negative;
- ``trickle``: a valid answer sent one byte every ``trickle_interval`` seconds, until the client hangs
  up or ``timeout_delay`` seconds have passed (then the connection is dropped);
- ``ok``: no fault (a placeholder, to fault a later request).

A hostile endpoint is a queue of one fault over and over: ``["no-usage"] * 1000``, or ``["timeout"]``
with a long ``timeout_delay`` for a server that never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from taurl.sim.models import MODELS, Reply, canonical_json

FAULTS = (
    "ok",
    "429",
    "500",
    "503",
    "timeout",
    "malformed",
    "truncated",
    "surrogate",
    "no-usage",
    "negative-usage",
    "trickle",
)
CREATED = 1_700_000_000  # fixed "creation time": responses must not depend on the clock
LOOPBACK = "127.0.0.1"
_CHUNK_CHARS = 16
_DISCONNECT_POLL = 0.05
# openai ignores ``retry-after: 0`` (it falls back to its 0.5 s+ jittered backoff) but honours the millisecond header.
_RETRY_NOW = {"retry-after": "0", "retry-after-ms": "1"}
# what a server with broken accounting reports (the magnitude a real one was seen to)
NEGATIVE_USAGE = {"prompt_tokens": -104_000_000_000, "completion_tokens": 59, "total_tokens": -103_999_999_941}
_ERRORS = {
    429: ("Rate limit reached for simulated requests.", "rate_limit_error", "rate_limit_exceeded"),
    500: ("The simulated server had an error while processing your request.", "server_error", None),
    503: ("The simulated server is overloaded.", "server_error", "service_unavailable"),
}


def check_faults(faults: list[str]) -> list[str]:
    unknown = [fault for fault in faults if fault not in FAULTS]
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    return list(faults)


class SimState:
    """The fault queue and request counters, shared by the server's event loop and the test thread."""

    def __init__(
        self, faults: list[str] | None = None, timeout_delay: float = 5.0, trickle_interval: float = 1.0
    ) -> None:
        self.timeout_delay = timeout_delay
        self.trickle_interval = trickle_interval
        self._lock = threading.Lock()
        self._faults: deque[str] = deque(check_faults(faults or []))
        self._by_model: Counter[str] = Counter()
        self._injected: Counter[str] = Counter()

    def set_faults(self, faults: list[str]) -> None:
        """Replace the pending faults."""
        checked = check_faults(faults)
        with self._lock:
            self._faults = deque(checked)

    def take(self, model: str) -> str:
        """Count a completion request for ``model`` and hand it the next fault (``ok`` when none is queued)."""
        with self._lock:
            self._by_model[model] += 1
            fault = self._faults.popleft() if self._faults else "ok"
            if fault != "ok":
                self._injected[fault] += 1
            return fault

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self._by_model.values()),
                "by_model": dict(sorted(self._by_model.items())),
                "faults_injected": dict(sorted(self._injected.items())),
                "faults_pending": list(self._faults),
            }


# ---------------------------------------------------------------- the OpenAI wire format


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def _tokens(chars: int) -> int:
    return math.ceil(chars / 4)


class Completion:
    """One answer to one request, rendered as a ``chat.completion`` object or as stream chunks."""

    def __init__(self, request: dict[str, Any], reply: Reply, usage: dict[str, int] | None = None) -> None:
        """``usage``: what to report instead of the true count (``{}``: report none)."""
        self.request = request
        self.reported_usage = usage
        self.model = str(request.get("model"))
        self.key = _digest(canonical_json(request))
        self.content, self.finish_reason = self._limited(reply)
        self.tool_calls = [
            {
                "id": f"call_{_digest(self.key, str(index))[:24]}",
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for index, call in enumerate(reply.tool_calls)
        ]
        if self.tool_calls:
            self.finish_reason = "tool_calls"

    @property
    def id(self) -> str:
        return f"chatcmpl-{self.key[:29]}"

    def _limited(self, reply: Reply) -> tuple[str | None, str]:
        """The content cut to ``max_tokens`` (4 characters a token), with OpenAI's finish reason."""
        limit = self.request.get("max_completion_tokens") or self.request.get("max_tokens")
        if isinstance(limit, int) and reply.content and _tokens(len(reply.content)) > limit:
            return reply.content[: limit * 4], "length"
        return reply.content, "stop"

    def usage(self) -> dict[str, int] | None:
        if self.reported_usage is not None:
            return self.reported_usage or None
        prompt = _tokens(len(canonical_json([self.request.get("messages"), self.request.get("tools")])))
        written = len(self.content or "") + sum(len(canonical_json(call["function"])) for call in self.tool_calls)
        completion = _tokens(written)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _envelope(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": CREATED, "model": self.model, "system_fingerprint": "fp_sim"}

    def body(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content, "refusal": None}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason}
        usage = self.usage()
        return {**self._envelope("chat.completion"), "choices": [choice], **({"usage": usage} if usage else {})}

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**self._envelope("chat.completion.chunk"), "choices": [choice]}

    def _deltas(self) -> Iterator[dict[str, Any]]:
        yield {"role": "assistant", "content": "" if self.content is not None else None}
        for piece in _pieces(self.content or ""):
            yield {"content": piece}
        for index, call in enumerate(self.tool_calls):
            function = call["function"]
            head = {**call, "function": {"name": function["name"], "arguments": ""}}
            yield {"tool_calls": [{"index": index, **head}]}
            for piece in _pieces(function["arguments"]):
                yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}

    def chunks(self) -> list[dict[str, Any]]:
        """The stream as OpenAI sends it: role, content pieces, tool-call pieces, finish, optional usage."""
        with_usage = bool((self.request.get("stream_options") or {}).get("include_usage"))
        extra = {"usage": None} if with_usage else {}
        chunks = [{**self._chunk(delta), **extra} for delta in self._deltas()]
        chunks.append({**self._chunk({}, self.finish_reason), **extra})
        if with_usage and self.usage():
            chunks.append({**self._envelope("chat.completion.chunk"), "choices": [], "usage": self.usage()})
        return chunks


def _pieces(text: str) -> Iterator[str]:
    for start in range(0, len(text), _CHUNK_CHARS):
        yield text[start : start + _CHUNK_CHARS]


def _sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


def error_response(
    status: int, message: str, kind: str, code: str | None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


class BodyResponse(Response):
    """Sends bytes as given; with ``cut`` it stops after them and returns, so the server drops the connection
    before the body it announced is complete (the client sees a broken transfer, not a short valid one)."""

    def __init__(self, parts: list[bytes], media_type: str, length: int | None = None, cut: bool = False) -> None:
        super().__init__(media_type=media_type)
        self.parts = parts
        self.cut = cut
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        if length is not None:
            self.raw_headers.append((b"content-length", str(length).encode()))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        for part in self.parts:
            await send({"type": "http.response.body", "body": part, "more_body": True})
        if not self.cut:
            await send({"type": "http.response.body", "body": b"", "more_body": False})


class TrickleResponse(Response):
    """Sends its body one byte every ``interval`` seconds; stops when the client hangs up, and drops the
    connection once ``limit`` seconds have passed, so a client that never gives up cannot hold the server."""

    def __init__(self, body: bytes, media_type: str, interval: float, limit: float) -> None:
        super().__init__(media_type=media_type)
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self.raw_headers.append((b"content-length", str(len(body)).encode()))
        self.trickled, self.interval, self.limit = body, interval, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        loop = asyncio.get_running_loop()
        ends = loop.time() + self.limit
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            for index in range(len(self.trickled)):
                if gone.is_set() or loop.time() >= ends:
                    return  # dropped half-way
                await send({"type": "http.response.body", "body": self.trickled[index : index + 1], "more_body": True})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(gone.wait(), self.interval)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            watcher.cancel()


def render(completion: Completion, stream: bool, fault: str, state: SimState) -> Response:
    """The response for a model's answer, damaged as ``fault`` says (``malformed``, ``truncated``,
    ``trickle``) or not."""
    if stream:
        events = [_sse(json.dumps(chunk)) for chunk in completion.chunks()]
        if fault == "malformed":
            events[1:] = [_sse("{this is not json")]
        if fault == "truncated":
            return BodyResponse(events[: max(1, len(events) // 2)], "text/event-stream", cut=True)
        if fault == "trickle":
            body = b"".join([*events, _sse("[DONE]")])
            return TrickleResponse(body, "text/event-stream", state.trickle_interval, state.timeout_delay)
        return BodyResponse([*events, _sse("[DONE]")], "text/event-stream")
    payload = completion.body()
    if fault == "surrogate":
        message = payload["choices"][0]["message"]
        message["content"] = (message.get("content") or "") + "\ud800"
    body = json.dumps(payload).encode()
    if fault == "malformed":
        return BodyResponse([b"<html>upstream returned garbage</html>"], "application/json")
    if fault == "truncated":
        return BodyResponse([body[: len(body) // 2]], "application/json", length=len(body), cut=True)
    if fault == "trickle":
        return TrickleResponse(body, "application/json", state.trickle_interval, state.timeout_delay)
    return BodyResponse([body], "application/json", length=len(body))


# ---------------------------------------------------------------- routes


async def _wait_unless_gone(request: Request, delay: float) -> None:
    """Sleep ``delay`` seconds, but stop early when the client hangs up (so shutdown need not wait)."""
    deadline = asyncio.get_running_loop().time() + delay
    while asyncio.get_running_loop().time() < deadline and not await request.is_disconnected():
        await asyncio.sleep(min(_DISCONNECT_POLL, max(0.0, deadline - asyncio.get_running_loop().time())))


def build_app(state: SimState) -> Starlette:
    async def chat_completions(request: Request) -> Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return error_response(400, "The request body is not valid JSON.", "invalid_request_error", None)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_response(400, "'messages' is a required list.", "invalid_request_error", None)
        model = str(body.get("model"))
        fault = state.take(model)
        if fault in ("429", "500", "503"):
            status = int(fault)
            return error_response(status, *_ERRORS[status], headers=_RETRY_NOW if status == 429 else None)
        if fault == "timeout":
            await _wait_unless_gone(request, state.timeout_delay)
        if model not in MODELS:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return error_response(404, message, "invalid_request_error", "model_not_found")
        usage = {"no-usage": {}, "negative-usage": NEGATIVE_USAGE}.get(fault)
        completion = Completion(body, MODELS[model](body), usage)
        return render(completion, bool(body.get("stream")), fault, state)

    async def list_models(request: Request) -> Response:
        data = [{"id": name, "object": "model", "created": CREATED, "owned_by": "taurl-sim"} for name in MODELS]
        return JSONResponse({"object": "list", "data": data})

    async def set_faults(request: Request) -> Response:
        try:
            faults = (await request.json()).get("faults")
            state.set_faults([str(f) for f in faults])
        except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
            message = f'Expected {{"faults": [...]}} with faults among {", ".join(FAULTS)}: {exc}'
            return error_response(400, message, "invalid_request_error", None)
        return JSONResponse(state.stats())

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats())

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/_sim/faults", set_faults, methods=["POST"]),
            Route("/_sim/stats", stats, methods=["GET"]),
        ]
    )


def serve(host: str, port: int, faults: list[str], timeout_delay: float, access_log: bool = False) -> None:
    """Run the server in the foreground until interrupted (the ``taurl serve-sim`` command). Quiet but
    for warnings unless ``access_log``: a run makes thousands of requests, often from a shell's background."""
    uvicorn.run(
        build_app(SimState(faults, timeout_delay)),
        host=host,
        port=port,
        lifespan="off",
        access_log=access_log,
        log_level="info" if access_log else "warning",
    )


class SimServer:
    """The server on a free 127.0.0.1 port in a background thread, for tests: inside
    ``with SimServer(faults=["429"]) as sim:`` point ``openai.OpenAI(base_url=sim.base_url, ...)`` at it."""

    def __init__(
        self, faults: list[str] | None = None, timeout_delay: float = 5.0, trickle_interval: float = 1.0
    ) -> None:
        self.state = SimState(faults, timeout_delay, trickle_interval)
        config = uvicorn.Config(build_app(self.state), lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/v1"

    def set_faults(self, faults: list[str]) -> None:
        self.state.set_faults(faults)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def __enter__(self) -> SimServer:
        self._socket.bind((LOOPBACK, 0))
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulation server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()
