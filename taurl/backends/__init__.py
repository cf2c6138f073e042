"""Environments that live outside taurl, driven through taurl's interface.

``tau_bench:<env>`` names an environment of an installed τ-bench package (or a fork of it with more
domains): see :mod:`taurl.backends.tau_bench`. ``tau2:<domain>`` names a domain of an installed τ²-bench
package: see :mod:`taurl.backends.tau2`. Names are recognised here without importing the package, so
the command line can accept them whether or not it is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taurl.domains.base import Domain

TAU_BENCH_PREFIX = "tau_bench:"
TAU2_PREFIX = "tau2:"


def is_backend(name: str) -> bool:
    """Whether ``name`` is a backend domain name (``tau_bench:<env>`` or ``tau2:<domain>``)."""
    return any(name.startswith(prefix) and len(name) > len(prefix) for prefix in (TAU_BENCH_PREFIX, TAU2_PREFIX))


def backend_domain(name: str) -> Domain:
    """The domain a backend name stands for (built once per process); DataError when it cannot be had."""
    if name.startswith(TAU2_PREFIX):
        from taurl.backends.tau2.domain import tau2_domain

        return tau2_domain(name.removeprefix(TAU2_PREFIX))
    from taurl.backends.tau_bench import package_domain

    return package_domain(name.removeprefix(TAU_BENCH_PREFIX))
