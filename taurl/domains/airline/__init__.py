"""The airline domain: τ-bench's airline tools, an airline policy in taurl's words, generated data."""

from __future__ import annotations

from pathlib import Path

from taurl.domains.airline.tools import TOOLS
from taurl.domains.base import Domain

_HERE = Path(__file__).parent

DOMAIN = Domain(
    name="airline",
    tools=TOOLS,
    policy=(_HERE / "policy.md").read_text(encoding="utf-8"),
    tables={"flights": "flights.json", "reservations": "reservations.json", "users": "users.json"},
    package_dir=_HERE,
)

__all__ = ["DOMAIN", "TOOLS"]
