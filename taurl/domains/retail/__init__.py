"""The retail domain: an online store's customer-service desk (τ-bench's retail environment)."""

from __future__ import annotations

from taurl.domains.base import Domain
from taurl.domains.retail.tools import TOOLS

DOMAIN = Domain.builtin(
    __file__,
    TOOLS,
    tables=("orders", "products", "users"),
    # the seed system (CTU) offers exactly τ-bench's sixteen tools, which are all of ours
    tool_sets={"seed": tuple(TOOLS.names)},
    rules_enforced={
        "R4": "cancel_pending_order",
        "R5": "modify_pending_order_address, modify_pending_order_items, modify_pending_order_payment",
        "R6": "modify_pending_order_payment",
        "R7": "modify_pending_order_items",
        "R8": "modify_pending_order_items, exchange_delivered_order_items",
        "R9": "modify_pending_order_items, exchange_delivered_order_items",
        "R10": "return_delivered_order_items",
        "R11": "exchange_delivered_order_items",
    },
)

__all__ = ["DOMAIN", "TOOLS"]
