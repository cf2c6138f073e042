"""Environments that live outside taurl, driven through taurl's interface.

``tau_bench:<env>`` names an environment of an installed τ-bench package (or a fork of it with more
domains): see :mod:`taurl.backends.tau_bench`. Names are recognised here without importing the
package, so the command line can accept them whether or not it is installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taurl.domains.base import Domain

TAU_BENCH_PREFIX = "tau_bench:"


def is_backend(name: str) -> bool:
    """Whether ``name`` is a backend domain name (``tau_bench:<env>``)."""
    return name.startswith(TAU_BENCH_PREFIX) and len(name) > len(TAU_BENCH_PREFIX)


def backend_domain(name: str) -> Domain:
    """The domain a backend name stands for (built once per process); DataError when it cannot be had."""
    from taurl.backends.tau_bench import package_domain

    return package_domain(name.removeprefix(TAU_BENCH_PREFIX))
