"""Environments that live outside taurl, driven through taurl's interface (the domain contract,
:mod:`taurl.core.domain`).

``tau_bench:<env>`` names an environment of an installed τ-bench package (or a fork of it with more
domains): see :mod:`taurl.backends.tau_bench`. ``tau2:<domain>`` names a domain of an installed τ²-bench
package: see :mod:`taurl.backends.tau2`. :mod:`taurl.registry` resolves the names, without importing
the package until the domain is wanted, so the command line can accept them whether or not it is installed.
"""

TAU_BENCH_PREFIX = "tau_bench:"
TAU2_PREFIX = "tau2:"
