"""The built-in domains, looked up by name and imported on first use."""

from __future__ import annotations

import importlib

from taurl.domains.base import DataError, Domain

DOMAIN_NAMES = ("airline", "retail", "doordash")


def get_domain(name: str) -> Domain:
    if name not in DOMAIN_NAMES:
        raise DataError(f"unknown domain {name!r}; known domains: {', '.join(DOMAIN_NAMES)}")
    return importlib.import_module(f"taurl.domains.{name}").DOMAIN


__all__ = ["DOMAIN_NAMES", "DataError", "Domain", "get_domain"]
