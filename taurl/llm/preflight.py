"""Preflight: before a run starts any episode, check that every model it will call can be called.

Without it a missing key, a server that is down or a misspelt model fails every episode one by
one, after each has spent its retries (16 s a task against an unreachable base URL). The check
costs one ``GET /models`` per endpoint, with no retries and a short timeout, and fails with one
message naming the model, the endpoint and what to do. It checks:

- the key: a model on OpenAI's API (no base URL) needs its key variable set;
- the endpoint: it answers at all (connection refused, unknown host and timeouts are reported);
- the key again: the endpoint does not refuse it (401/403);
- the model: the endpoint lists it (an endpoint without a model list, 404/405, is given the benefit
  of the doubt);
- the response cache: in ``record`` and ``live`` modes its directory can be written, so no answer
  is paid for and then lost.

Nothing is checked in ``replay`` cache mode, which never touches the network. The check's HTTP has
a deadline (:mod:`taurl.llm.http`): a server that trickles its answer fails it like one that is silent.
"""

from __future__ import annotations

import difflib
import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from taurl.llm.cache import CacheMode, response_cache
from taurl.llm.client import Endpoint
from taurl.llm.url import redact_url

DEFAULT_TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
LISTED_MODELS = 8  # how many of an endpoint's models an unknown-model message lists


class PreflightError(RuntimeError):
    """A model the run needs cannot be called; the message says which, where, and what to do."""


@dataclass(frozen=True)
class ModelUse:
    """A model a run calls, and the options that choose it (for the advice in a failure)."""

    role: str  # "agent" or "user"
    endpoint: Endpoint

    @property
    def where(self) -> str:
        return redact_url(self.endpoint.base_url) or "api.openai.com"

    def describe(self) -> str:
        return f"the {self.role} model {self.endpoint.model!r}"


class Run(Protocol):
    """What the check needs of a run's settings (:class:`taurl.episodes.config.RunConfig`)."""

    cache_mode: CacheMode
    cache_dir: Path

    def models_called(self) -> list[tuple[str, Endpoint]]: ...


def models_used(config: Run) -> list[ModelUse]:
    """The models ``config`` will call over the network (none in replay mode)."""
    if config.cache_mode is CacheMode.REPLAY:
        return []
    return [ModelUse(role, endpoint) for role, endpoint in config.models_called()]


def preflight(config: Run, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Raise :class:`PreflightError` unless every model ``config`` calls can be called."""
    uses = models_used(config)
    if uses:
        check_cache(config)
    listed: dict[tuple[str | None, str], list[str] | None] = {}  # one model list per endpoint and key
    for use in uses:
        key = check_key(use)
        where = (use.endpoint.base_url, use.endpoint.api_key_env)
        if where not in listed:
            listed[where] = list_models(use, key, timeout)
        check_model(use, listed[where])


def check_cache(config: Run) -> None:
    """The response cache opens and its directory takes a new file, where the run will store answers."""
    if config.cache_mode not in (CacheMode.RECORD, CacheMode.LIVE):
        return
    directory = config.cache_dir
    try:
        response_cache(directory)
        with tempfile.NamedTemporaryFile(dir=directory.expanduser(), prefix=".taurl-write-check-"):
            pass
    except (OSError, sqlite3.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PreflightError(
            f"cannot write the response cache at {directory} ({reason}): give --cache-dir a directory you can "
            "write, or --cache-mode off. Nothing was run."
        ) from exc


def check_key(use: ModelUse) -> str:
    """The key to send: the variable's value, or a placeholder for a server of one's own (which ignores it)."""
    endpoint = use.endpoint
    key = os.environ.get(endpoint.api_key_env)
    if key:
        return key
    if endpoint.base_url is not None:
        return "not-needed"
    raise PreflightError(
        f"{use.describe()} on {use.where} needs an API key, and {endpoint.api_key_env} is not set. Export it "
        f"(export {endpoint.api_key_env}=...), or give --{use.role}-base-url for an OpenAI-compatible server of "
        f"your own (`taurl serve-sim` serves sim-* models offline), or run from recorded calls with --cache-mode "
        "replay. Nothing was run."
    )


def list_models(use: ModelUse, key: str, timeout: float) -> list[str] | None:
    """The ids the endpoint lists, or None when it has no model list."""
    import openai

    from taurl.llm import http

    client = openai.OpenAI(
        base_url=use.endpoint.base_url,
        api_key=key,
        max_retries=0,
        timeout=openai.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        http_client=http.DeadlineHttpClient(),
    )
    try:
        with http.deadline(time.monotonic() + timeout):
            return [model.id for model in client.models.list()]
    except openai.APITimeoutError as exc:
        raise PreflightError(
            f"{use.where} (serving {use.describe()}) did not answer within {timeout:g} s: check the server is up "
            f"and --{use.role}-base-url is right. Nothing was run."
        ) from exc
    except openai.APIConnectionError as exc:
        reason = _root_cause(exc)
        raise PreflightError(
            f"cannot reach {use.where} ({reason}) for {use.describe()}: start the server (`taurl serve-sim` for "
            f"the sim-* models) or fix --{use.role}-base-url. Nothing was run."
        ) from exc
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        raise PreflightError(
            f"{use.where} refused the key in {use.endpoint.api_key_env} ({exc.status_code}) for {use.describe()}: "
            "check the key, or --api-key-env if another variable holds it. Nothing was run."
        ) from exc
    except openai.APIStatusError as exc:
        if exc.status_code in (404, 405):  # no model list here: whether the model exists shows at the first call
            return None
        raise PreflightError(
            f"{use.where} answered {exc.status_code} when asked for its models (for {use.describe()}): "
            f"{exc.message}. Nothing was run."
        ) from exc


def check_model(use: ModelUse, available: list[str] | None) -> None:
    model = use.endpoint.model
    if available is None or model in available:
        return
    close = difflib.get_close_matches(model, available, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    shown = ", ".join(sorted(available)[:LISTED_MODELS]) + (", ..." if len(available) > LISTED_MODELS else "")
    raise PreflightError(
        f"{use.where} does not serve the {use.role} model {model!r}: {hint}it lists {shown or 'no models'}. "
        f"Fix --{use.role}-model. Nothing was run."
    )


def _root_cause(exc: BaseException) -> str:
    """The innermost cause's message (e.g. 'Connection refused'), which the SDK's own message hides."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    text = str(exc).strip()
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else (text or type(exc).__name__)
