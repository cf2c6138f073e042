"""The doordash domain: a food-delivery service's support desk (the seed system's doordash environment)."""

from __future__ import annotations

from taurl.domains.base import Domain
from taurl.domains.doordash.tools import TOOLS

DOMAIN = Domain.builtin(
    __file__,
    TOOLS,
    tables=("orders", "restaurants", "users"),
    id_fields={"orders": "id", "restaurants": "id", "users": "id"},
    # the seed system's own 14 tools (its tasks see exactly these)
    tool_sets={
        "seed": (
            "search_restaurants",
            "get_restaurant_details",
            "get_restaurant_menu",
            "get_user_details",
            "get_user_order_history",
            "create_order",
            "get_order_status",
            "update_order",
            "cancel_order",
            "add_item_to_cart",
            "get_item_details",
            "calculate",
            "think",
            "transfer_to_human_agents",
        )
    },
    rules_enforced={
        "R4": "create_order, add_item_to_cart",
        "R5": "create_order, update_order",
        "R6": "create_order",
        "R7": "create_order",
        "R8": "add_item_to_cart, create_order",
        "R9": "update_order",
        "R10": "cancel_order",
        "R11": "request_refund",
        "R12": "apply_promo_code",
        "R13": "rate_order",
        "R14": "update_delivery_address",
    },
)

__all__ = ["DOMAIN", "TOOLS"]
