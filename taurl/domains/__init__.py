"""The built-in domains, each a package here (imported on first use by :func:`taurl.registry.get_domain`,
which resolves every domain name, built-in and backend)."""

from __future__ import annotations

from taurl.domains.base import DataError, Domain

DOMAIN_NAMES = ("airline", "retail", "telecom", "healthcare", "doordash")

__all__ = ["DOMAIN_NAMES", "DataError", "Domain"]
