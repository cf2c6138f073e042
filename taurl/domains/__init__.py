"""The built-in domains, looked up by name and imported on first use; ``tau_bench:<env>`` names an
environment of an installed τ-bench (see :mod:`taurl.backends`)."""

from __future__ import annotations

import difflib
import importlib

from taurl.backends import TAU_BENCH_PREFIX, backend_domain, is_backend
from taurl.domains.base import DataError, Domain

DOMAIN_NAMES = ("airline", "retail", "telecom", "healthcare", "doordash")


def known_domain(name: str) -> bool:
    """A built-in domain or a backend name; a backend's package is not imported to answer."""
    return name in DOMAIN_NAMES or is_backend(name)


def get_domain(name: str) -> Domain:
    if is_backend(name):
        return backend_domain(name)
    if name not in DOMAIN_NAMES:
        close = difflib.get_close_matches(name, DOMAIN_NAMES, n=1)
        raise DataError(
            f"unknown domain {name!r}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; known domains: {', '.join(DOMAIN_NAMES)}, "
            f"or {TAU_BENCH_PREFIX}<env> for an environment of an installed τ-bench"
        )
    return importlib.import_module(f"taurl.domains.{name}").DOMAIN


__all__ = ["DOMAIN_NAMES", "DataError", "Domain", "get_domain", "known_domain"]
