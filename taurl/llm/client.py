"""ChatClient: the only way taurl talks to a model, through the official ``openai`` SDK.

Any OpenAI-compatible endpoint (``base_url``); the API key is read from the environment at call
time and never stored anywhere else. Each call: request key → cache (by mode) → limits
(concurrency and calls per minute per endpoint and model; token and dollar budget for the whole
process, or Ray run) → retries with backoff on 429, 5xx, timeouts, connection errors and malformed
responses → a :class:`ModelCall` record with tokens, cost, latency and whether it was a cache hit.

An endpoint is input, not trusted. Time: from its first attempt a call ends within
``RetryPolicy.call_timeout`` (every attempt, wait and retry included), each attempt within
``RetryPolicy.timeout``, and the whole answer must have arrived by then, not just some byte of it
(:mod:`taurl.llm.http`), so a server that hangs or trickles fails the call, never blocks it.
Usage: an answer whose usage is missing, negative or implausible (see :func:`checked_usage`) is
charged, and recorded, at the reservation's estimate, with ``ModelCall.usage_flag`` saying why.

Budgets hold across models: every client of a process (agent, user, judge) spends from one ledger
(:func:`~taurl.llm.ledger.ledger_for`, keyed by ``ClientLimits.ledger``), and each attempt reserves
its worst case (:func:`reservation`) before it is sent. An attempt is sent only if spent + reserved
by calls in flight + its own reservation fits the calling client's budgets; if only the calls in
flight stand in the way it waits for them to settle (at most the call timeout), else it is refused
with :class:`BudgetExceededError`. When it ends, its reservation is released and its usage charged.
So total spend ≤ budget + what calls spend beyond their reservations, and when every reservation is
an upper bound (``max_tokens`` set, prompt estimate ≥ the server's count) total spend ≤ budget;
a server that reports no usage, or a count no call could produce, spends exactly its reservation.
Clients with different limits share the spent and reserved amounts; each checks its own budgets.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from taurl.core.types import ModelCall
from taurl.llm.cache import CacheMode, ResponseCache
from taurl.llm.ledger import SpendLedger, ledger_for
from taurl.llm.request import ChatRequest
from taurl.llm.url import redact_url

# USD per million tokens (input, output). Unknown models cost 0 unless a dollar budget is set;
# a model listed here is priced even if its name marks it free.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-08-06": (2.50, 10.00),
    "gpt-4o-2024-11-20": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}
FREE_MODEL_PREFIXES = ("sim-",)


class ModelCallError(RuntimeError):
    """A model call that failed for good: names the endpoint, the request key and the last error."""


class BudgetExceededError(ModelCallError):
    pass


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible model: ``base_url`` None is OpenAI's API; the key comes from ``api_key_env``."""

    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float | None = None


@dataclass(frozen=True)
class ClientLimits:
    max_concurrency: int | None = None
    calls_per_minute: int | None = None
    max_total_tokens: int | None = None
    max_cost_usd: float | None = None
    # Where the budgets' spend is counted, shared by every client naming it whatever its model:
    # None: this process (every run in it); "ray:<name>": every worker of a Ray run.
    ledger: str | None = None


DEFAULT_CALL_TIMEOUT = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """Retries with exponential backoff. ``timeout``: seconds one attempt may take, its whole answer
    read; ``call_timeout``: seconds the call may take from its first attempt, every retry and wait
    between them included."""

    attempts: int = 5
    initial_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 120.0
    call_timeout: float = DEFAULT_CALL_TIMEOUT


# A call's reservation: its prompt at this many bytes of JSON a token (BPE tokenisers count about 4
# for English, code and JSON, and about one token a CJK character, 3 bytes), plus its completion
# limit, or this many tokens when the request sets none (an estimate, not a bound).
PROMPT_BYTES_PER_TOKEN = 3
DEFAULT_COMPLETION_RESERVE = 1024
# What a server may plausibly count: a prompt token covers at least one byte of what was sent, and a chat
# template adds some tokens around it; a completion stays within the request's limit; no call is larger than
# the largest context window served.
TEMPLATE_TOKENS = 2048
MAX_CALL_TOKENS = 1 << 24


def price_of(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    prices = PRICES.get(model)
    if prices is None:
        return 0.0 if model.startswith(FREE_MODEL_PREFIXES) else None
    return (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1_000_000


def _prompt_bytes(request: ChatRequest) -> int:
    """The UTF-8 bytes of the JSON of a request's messages and tools as sent."""
    sent = request.api_kwargs()
    body = json.dumps([sent["messages"], sent.get("tools")], separators=(",", ":"), ensure_ascii=False, default=str)
    return len(body.encode("utf-8"))


def _completion_limit(request: ChatRequest) -> int | None:
    """The request's completion limit over all its choices, if it sets one."""
    limit = request.params.get("max_completion_tokens") or request.params.get("max_tokens")
    return limit * (request.params.get("n") or 1) if limit else None


def estimate(request: ChatRequest) -> tuple[int, int]:
    """(prompt, completion) tokens a request is reserved, and charged when its usage cannot be taken.

    Prompt: :func:`_prompt_bytes` over ``PROMPT_BYTES_PER_TOKEN``, rounded up. Completion:
    ``max_completion_tokens`` or ``max_tokens`` (per choice, times ``n``), else
    ``DEFAULT_COMPLETION_RESERVE`` per choice. Deterministic: the same request, the same estimate."""
    prompt = math.ceil(_prompt_bytes(request) / PROMPT_BYTES_PER_TOKEN)
    completion = _completion_limit(request) or DEFAULT_COMPLETION_RESERVE * (request.params.get("n") or 1)
    return prompt, completion


def reservation(request: ChatRequest) -> tuple[int, float]:
    """What an attempt holds in the ledger while in flight: (tokens, dollars) of its :func:`estimate`."""
    prompt, completion = estimate(request)
    return prompt + completion, price_of(request.model, prompt, completion) or 0.0


def checked_usage(usage: Any, request: ChatRequest) -> tuple[int, int, str | None]:
    """The (prompt, completion) tokens to charge for an answer, and why the server's count was not
    taken (None when it was): ``missing`` (no usage, or no prompt or completion count), ``negative``,
    or ``implausible`` (not whole numbers; a prompt of 0 tokens or of more than its bytes plus
    ``TEMPLATE_TOKENS``; a completion over the request's limit; a total that is not their sum; more
    than ``MAX_CALL_TOKENS``). A count not taken is replaced by the request's :func:`estimate`."""
    prompt, completion = (getattr(usage, name, None) for name in ("prompt_tokens", "completion_tokens"))
    total = getattr(usage, "total_tokens", None)
    counts = [count for count in (prompt, completion, total) if count is not None]
    if prompt is None or completion is None:
        flag = "missing"
    elif not all(isinstance(count, int) and not isinstance(count, bool) for count in counts):
        flag = "implausible"
    elif any(count < 0 for count in counts):
        flag = "negative"
    elif (
        prompt == 0
        or prompt > _prompt_bytes(request) + TEMPLATE_TOKENS
        or completion > (_completion_limit(request) or MAX_CALL_TOKENS)
        or (total is not None and total != prompt + completion)
        or prompt + completion > MAX_CALL_TOKENS
    ):
        flag = "implausible"
    else:
        return prompt, completion, None
    return *estimate(request), flag


class _EndpointLimiter:
    """Per-process state shared by every client of one (endpoint, model): concurrency and rate."""

    def __init__(self, limits: ClientLimits):
        self.limits = limits
        self.semaphore = threading.BoundedSemaphore(limits.max_concurrency) if limits.max_concurrency else None
        self.lock = threading.Lock()
        self.recent: deque[float] = deque()

    def slot(self) -> contextlib.AbstractContextManager:
        return self.semaphore or contextlib.nullcontext()

    def wait_for_rate(self) -> None:
        per_minute = self.limits.calls_per_minute
        if not per_minute:
            return
        while True:
            with self.lock:
                now = time.monotonic()
                while self.recent and now - self.recent[0] >= 60.0:
                    self.recent.popleft()
                if len(self.recent) < per_minute:
                    self.recent.append(now)
                    return
                wait = 60.0 - (now - self.recent[0])
            time.sleep(max(wait, 0.01))


_LIMITERS: dict[tuple[str, str], _EndpointLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def _limiter(base_url: str, model: str, limits: ClientLimits) -> _EndpointLimiter:
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get((base_url, model))
        if limiter is None or limiter.limits != limits:
            limiter = _LIMITERS[(base_url, model)] = _EndpointLimiter(limits)
        return limiter


@dataclass(frozen=True)
class Completion:
    message: dict[str, Any]
    call: ModelCall


class ChatClient:
    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        cache: ResponseCache | None = None,
        mode: CacheMode = CacheMode.RECORD,
        limits: ClientLimits | None = None,
        retry: RetryPolicy | None = None,
        params: dict[str, Any] | None = None,
    ):
        if mode is not CacheMode.OFF and cache is None:
            raise ValueError(f"cache mode {mode} needs a cache directory")
        self.model = model
        self.base_url = base_url
        self.api_key_env = api_key_env
        self.cache = cache if mode is not CacheMode.OFF else None
        self.mode = mode
        self.limits = limits or ClientLimits()
        self.retry = retry or RetryPolicy()
        self.params = dict(params or {})
        self._sdk = None
        self._sdk_lock = threading.Lock()
        if self.limits.max_cost_usd is not None and price_of(model, 0, 0) is None:
            raise ValueError(f"no price known for model {model!r}: a dollar budget cannot be enforced (see PRICES)")

    def request(
        self, messages: list[dict[str, Any]], tools=None, namespace="default", sample_index=0, **params
    ) -> ChatRequest:
        return ChatRequest(self.model, messages, tools, {**self.params, **params}, namespace, sample_index)

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None = None,
        namespace: str = "default",
        sample_index: int = 0,
        **params: Any,
    ) -> Completion:
        request = self.request(messages, tools, namespace, sample_index, **params)
        key = request.key()
        if self.cache is not None and self.mode is not CacheMode.LIVE:
            entry = self.cache.get(key)
            if entry is not None:
                return self.completion_from_entry(request, key, entry, cache_hit=True, latency_ms=0.0, attempts=0)
            if self.mode is CacheMode.REPLAY:
                raise self.cache.miss_error(request)
        start = time.perf_counter()
        entry, attempts = self._call_with_retries(request, key)
        latency_ms = (time.perf_counter() - start) * 1000
        if self.cache is not None:
            self.cache.set(key, entry)
        return self.completion_from_entry(
            request, key, entry, cache_hit=False, latency_ms=latency_ms, attempts=attempts
        )

    def completion_from_entry(
        self, request: ChatRequest, key: str, entry: dict[str, Any], cache_hit: bool, latency_ms: float, attempts: int
    ) -> Completion:
        """The completion (and its call record) for a cache entry ``{request, response, usage}``."""
        usage = entry.get("usage") or {}
        prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        cost = price_of(request.model, prompt, completion) or 0.0
        call = ModelCall(
            key=key,
            namespace=request.namespace,
            model=request.model,
            sample_index=request.sample_index,
            request=entry.get("request") or request.canonical(),
            response=entry["response"],
            cache_hit=cache_hit,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=cost,
            latency_ms=latency_ms,
            attempts=attempts,
            usage_flag=entry.get("usage_flag"),
        )
        return Completion(entry["response"], call)

    def _client(self):
        with self._sdk_lock:
            if self._sdk is None:
                import openai

                api_key = os.environ.get(self.api_key_env)
                if not api_key:
                    if self.base_url is None:
                        raise ModelCallError(
                            f"{self.api_key_env} is not set: export it to call {self.model}, or use --cache-mode "
                            "replay with a recorded cache"
                        )
                    api_key = "not-needed"  # local OpenAI-compatible servers (vLLM, serve-sim) ignore it
                from taurl.llm.http import DeadlineHttpClient

                self._sdk = openai.OpenAI(
                    base_url=self.base_url,
                    api_key=api_key,
                    max_retries=0,
                    timeout=self.retry.timeout,
                    http_client=DeadlineHttpClient(timeout=self.retry.timeout),
                )
            return self._sdk

    def _call_with_retries(self, request: ChatRequest, key: str) -> tuple[dict[str, Any], int]:
        import openai

        limiter = _limiter(self.base_url or "openai", request.model, self.limits)
        ledger = ledger_for(self.limits.ledger)
        hold = reservation(request)
        where = f"{request.model} at {redact_url(self.base_url) or 'api.openai.com'}"
        delay = self.retry.initial_delay
        deadline: float | None = None  # set when the first attempt gets its slot: queueing for one is not the call's
        last_error: Exception | None = None
        for attempt in range(1, self.retry.attempts + 1):
            limiter.wait_for_rate()
            try:
                with limiter.slot():
                    deadline = deadline or time.monotonic() + self.retry.call_timeout
                    entry = self._send(request, key, ledger, hold, deadline)
            except (
                openai.RateLimitError,
                openai.InternalServerError,
                openai.APITimeoutError,
                openai.APIConnectionError,
                openai.APIResponseValidationError,
                MalformedResponseError,
                json.JSONDecodeError,  # openai 3.x lets a non-JSON body through unwrapped
            ) as exc:
                last_error = exc
                retry_after = _retry_after(exc)
                wait = min(retry_after if retry_after is not None else delay, self.retry.max_delay)
                if attempt == self.retry.attempts:
                    continue
                if time.monotonic() + wait >= deadline:
                    raise ModelCallError(
                        f"{where}: request {key[:16]} not answered within the call timeout of "
                        f"{self.retry.call_timeout:g} s ({attempt} attempt(s)); last error: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                time.sleep(wait)
                delay = min(delay * 2, self.retry.max_delay)
                continue
            except openai.APIStatusError as exc:
                raise ModelCallError(
                    f"{where} rejected request {key[:16]}: HTTP {exc.status_code}: {exc.message}"
                ) from exc
            return entry, attempt
        raise ModelCallError(
            f"{where}: request {key[:16]} failed after {self.retry.attempts} attempts; last error: "
            f"{type(last_error).__name__}: {last_error}"
        ) from last_error

    def _send(
        self, request: ChatRequest, key: str, ledger: SpendLedger, hold: tuple[int, float], deadline: float
    ) -> dict[str, Any]:
        """One attempt, ended by ``deadline`` at the latest: reserve ``hold`` (or refuse), send,
        settle. A timed-out or garbled call is charged its reservation, since the model may have run
        and been billed; one the server turned away (429, 5xx, 4xx) or that never connected is charged
        nothing; an answer is charged its checked usage (:func:`checked_usage`)."""
        import openai

        from taurl.llm import http

        self._reserve(ledger, hold, key, wait=max(0.0, min(self.retry.timeout, deadline - time.monotonic())))
        used: tuple[int, float] = (0, 0.0)
        ends = min(time.monotonic() + self.retry.timeout, deadline)
        try:
            with http.deadline(ends):
                raw = self._client().chat.completions.create(
                    **request.api_kwargs(), timeout=max(ends - time.monotonic(), 0.001)
                )
            entry = _entry_from_response(raw, request)
            usage = entry["usage"]
            used = (
                usage["prompt_tokens"] + usage["completion_tokens"],
                price_of(request.model, usage["prompt_tokens"], usage["completion_tokens"]) or 0.0,
            )
            return entry
        except (
            openai.APITimeoutError,
            openai.APIResponseValidationError,
            MalformedResponseError,
            json.JSONDecodeError,
        ):
            used = hold
            raise
        finally:
            ledger.settle(*hold, *used)

    def _reserve(self, ledger: SpendLedger, hold: tuple[int, float], key: str, wait: float) -> None:
        limits = self.limits
        refusal = ledger.reserve(*hold, limits.max_total_tokens, limits.max_cost_usd, wait=wait)
        if refusal is None:
            return
        scope = "this run's" if limits.ledger else "this process's"
        if refusal.budget == "token":
            amounts = [
                f"{refusal.limit:.0f} tokens",
                f"{refusal.spent:.0f}",
                f"{refusal.reserved:.0f}",
                f"{refusal.asked:.0f}",
            ]
        else:
            amounts = [f"${value:.4f}" for value in (refusal.limit, refusal.spent, refusal.reserved, refusal.asked)]
        limit, spent, reserved, asked = amounts
        raise BudgetExceededError(
            f"{scope} {refusal.budget} budget of {limit} would be exceeded: {spent} spent, {reserved} reserved by "
            f"calls in flight, this call needs {asked}; request {key[:16]} not sent"
        )


class MalformedResponseError(ValueError):
    pass


def _retry_after(exc: Exception) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``retry-after``), if it said."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(response.headers[header]) * scale
        except (KeyError, ValueError):
            continue
    return None


def _entry_from_response(raw: Any, request: ChatRequest) -> dict[str, Any]:
    """The cache entry for a response: the canonical request, the assistant message, the usage to
    charge and, when that is not the server's own count, ``usage_flag`` (:func:`checked_usage`)."""
    choices = getattr(raw, "choices", None)
    if not choices or getattr(choices[0], "message", None) is None:
        raise MalformedResponseError(
            f"response to request {request.key()[:16]} has no choices[0].message: {raw!r:.200}"
        )
    message = choices[0].message
    response: dict[str, Any] = {"role": "assistant", "content": message.content}
    if message.tool_calls:
        response["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in message.tool_calls
        ]
    prompt, completion, flag = checked_usage(getattr(raw, "usage", None), request)
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    return {
        "request": request.canonical(),
        "response": response,
        "usage": usage,
        **({"usage_flag": flag} if flag else {}),
    }
