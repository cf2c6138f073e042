"""Domain names, resolved in one place: a built-in domain (``airline``, ...), ``tau_bench:<env>`` (an
environment of an installed τ-bench, :mod:`taurl.backends.tau_bench`) or ``tau2:<domain>`` (a domain of
an installed τ², :mod:`taurl.backends.tau2`).

It sits above the domains and the backends: whatever runs or scores an episode asks it for the
domain, then only talks to the domain contract (:mod:`taurl.core.domain`). A name is recognised
without importing its package, so the command line accepts backend names whether or not the
package is installed; the domain itself is built on first use, once per process.
"""

from __future__ import annotations

import difflib
import importlib

from taurl.backends import TAU2_PREFIX, TAU_BENCH_PREFIX
from taurl.domains import DOMAIN_NAMES, DataError
from taurl.domains.base import BaseDomain


def is_backend(name: str) -> bool:
    """Whether ``name`` is a backend domain name (``tau_bench:<env>`` or ``tau2:<domain>``)."""
    return any(name.startswith(prefix) and len(name) > len(prefix) for prefix in (TAU_BENCH_PREFIX, TAU2_PREFIX))


def known_domain(name: str) -> bool:
    """A built-in domain or a backend name; a backend's package is not imported to answer."""
    return name in DOMAIN_NAMES or is_backend(name)


def get_domain(name: str) -> BaseDomain:
    """The domain ``name`` stands for; DataError when there is none (or its package cannot be had)."""
    if name.startswith(TAU2_PREFIX) and is_backend(name):
        from taurl.backends.tau2.domain import tau2_domain

        return tau2_domain(name.removeprefix(TAU2_PREFIX))
    if is_backend(name):
        from taurl.backends.tau_bench import package_domain

        return package_domain(name.removeprefix(TAU_BENCH_PREFIX))
    if name not in DOMAIN_NAMES:
        close = difflib.get_close_matches(name, DOMAIN_NAMES, n=1)
        raise DataError(
            f"unknown domain {name!r}"
            + (f" (did you mean {close[0]!r}?)" if close else "")
            + f"; known domains: {', '.join(DOMAIN_NAMES)}, "
            f"or {TAU_BENCH_PREFIX}<env> for an environment of an installed τ-bench"
        )
    return importlib.import_module(f"taurl.domains.{name}").DOMAIN
