"""Endpoint URLs fit to be written down (recordings, error messages)."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

REDACTED = "***"
SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session", re.IGNORECASE)


def redact_url(url: str | None) -> str | None:
    """``url`` fit to be written down: userinfo and secret-looking query values become ``***``.

    Some servers take their key in the URL (``http://user:key@host``, ``?api_key=...``); a recording
    is shared, so such a URL is kept only as far as it names the endpoint.
    """
    if url is None:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # unparseable (a stray "[" in the host): no telling where a secret ends
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    query = "&".join(_redact_param(param) for param in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_param(param: str) -> str:
    name, equals, _ = param.partition("=")
    return f"{name}={REDACTED}" if equals and SECRET_PARAM.search(unquote(name)) else param
