"""The shop's tools: one read, one write (it changes nested records in place), one terminate."""

import json
from typing import Any

from tau_bench.envs.tool import Tool


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}


class GetUserDetails(Tool):
    @staticmethod
    def invoke(data: dict[str, Any], user_id: str) -> str:
        if user_id not in data["users"]:
            return "Error: user not found"
        return json.dumps(data["users"][user_id])

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function(
            "get_user_details",
            "A customer's profile: name, balance and orders.",
            {"user_id": {"type": "string", "description": "Such as 'ada_lovelace_1815'."}},
            ["user_id"],
        )


class BuyItem(Tool):
    @staticmethod
    def invoke(data: dict[str, Any], user_id: str, item_id: str, quantity: int) -> str:
        user, item = data["users"][user_id], data["items"][item_id]
        if item["stock"] < quantity:
            return "Error: not enough stock"
        cost = item["price"] * quantity
        if user["balance"] < cost:
            return "Error: balance too low"
        item["stock"] -= quantity
        user["balance"] -= cost
        user["orders"].append(f"O{len(user['orders']) + 2}")
        return json.dumps(user)

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function(
            "buy_item",
            "Buy an item for a customer, paid from their balance.",
            {
                "user_id": {"type": "string"},
                "item_id": {"type": "string", "enum": ["kettle", "lamp"]},
                "quantity": {"type": "integer"},
            },
            ["user_id", "item_id", "quantity"],
        )


class TransferToHumanAgents(Tool):
    @staticmethod
    def invoke(data: dict[str, Any], summary: str) -> str:
        return "Transfer successful"

    @staticmethod
    def get_info() -> dict[str, Any]:
        return _function(
            "transfer_to_human_agents",
            "Hand the customer over to a human agent.",
            {"summary": {"type": "string"}},
            ["summary"],
        )


ALL_TOOLS = [GetUserDetails, BuyItem, TransferToHumanAgents]
