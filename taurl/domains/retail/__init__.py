"""The retail domain: an online store's customer-service desk (τ-bench's retail environment)."""

from __future__ import annotations

from pathlib import Path

from taurl.domains.base import Domain
from taurl.domains.retail.tools import TOOLS

_HERE = Path(__file__).parent

DOMAIN = Domain(
    name="retail",
    tools=TOOLS,
    policy=(_HERE / "policy.md").read_text(encoding="utf-8"),
    tables={"orders": "orders.json", "products": "products.json", "users": "users.json"},
    package_dir=_HERE,
)

__all__ = ["DOMAIN", "TOOLS"]
