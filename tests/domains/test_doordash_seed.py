"""The doordash domain on the seed system's own data (../shared/ctu/doordash): it loads, every seed
tool runs on it, and every doordash gold call of the seed's SFT dataset gives a result or a clean
``Error: ...`` (never an exception inside a tool)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import taurl.domains.doordash as mod
from taurl.core.db import Database
from taurl.core.types import Action
from tests.conftest import CTU
from tests.domains.conftest import assert_seed_gold_calls_run

DOMAIN = mod.DOMAIN
SEED_DATA = CTU / "doordash"

SEED_TOOLS = DOMAIN.tool_sets["seed"]  # checked against tool_schemas.json below

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not SEED_DATA.exists(), reason=f"seed data not available: {SEED_DATA}"),
]


def _first(db: Database, table: str, **wanted: Any) -> dict:
    records = db[table]
    return next(records[k] for k in records if all(records[k].get(f) == v for f, v in wanted.items()))


def test_seed_tools_listed() -> None:
    assert set(SEED_TOOLS) == set(json.loads((CTU / "tool_schemas.json").read_text())["doordash"])


def test_seed_database_loads(seed_db: Database) -> None:
    sizes = {table: len(seed_db[table]) for table in seed_db.table_names}
    assert sizes == {"orders": 499, "restaurants": 97, "users": 65}
    assert seed_db["orders"]["O0001"]["order_id"] == "O0001"


def _seed_calls(db: Database) -> dict[str, dict[str, Any]]:
    """One plausible call of each seed tool, with ids taken from the seed data."""
    restaurant = _first(db, "restaurants", status="open")
    rid = restaurant["restaurant_id"]
    user = _first(db, "users")
    item = restaurant["full_menu"]["categories"][0]["items"][0]
    placed = _first(db, "orders", status="placed")
    return {
        "search_restaurants": {"cuisine": "Thai", "location": "New York", "dietary_options": ["vegan"]},
        "get_restaurant_details": {"restaurant_id": rid},
        "get_restaurant_menu": {"restaurant_id": rid, "category": "main"},
        "get_user_details": {"user_id": user["user_id"]},
        "get_user_order_history": {"user_id": user["user_id"], "limit": 3},
        "create_order": {
            "user_id": user["user_id"],
            "restaurant_id": rid,
            "items": [{"item_id": item["id"], "quantity": 3}],
        },
        "get_order_status": {"order_id": placed["order_id"]},
        "update_order": {"order_id": placed["order_id"], "special_instructions": "Leave at door"},
        "cancel_order": {"order_id": placed["order_id"], "reason": "changed my mind"},
        "add_item_to_cart": {"user_id": user["user_id"], "restaurant_id": rid, "item_id": item["id"], "quantity": 2},
        "get_item_details": {"restaurant_id": rid, "item_id": item["id"]},
        "calculate": {"expression": "10.24 * 4 * 1.08"},
        "think": {"thought": "check the order status first"},
        "transfer_to_human_agents": {"reason": "customer asked for a human"},
    }


@pytest.mark.parametrize("name", SEED_TOOLS)
def test_seed_tool_runs(seed_db: Database, name: str) -> None:
    db = seed_db.fork()
    result = DOMAIN.tools.invoke(db, Action(name, _seed_calls(db)[name]))
    assert result.ok, result.observation


def test_seed_orders_of_unknown_customers_are_clean_errors(seed_db: Database) -> None:
    db = seed_db.fork()
    stranger = next(o for o in db["orders"].values() if o["user_id"] not in db["users"] and o["status"] == "placed")
    user = _first(db, "users")
    observation = DOMAIN.tools.invoke(
        db,
        Action(
            "update_order", {"order_id": stranger["order_id"], "delivery_address": user["delivery_addresses"][0]["id"]}
        ),
    ).observation
    assert observation.startswith("Error: ") and "is not on file" in observation
    assert db.touched() == set()


def test_sft_gold_calls_give_results_or_clean_errors(seed_db: Database) -> None:
    assert_seed_gold_calls_run(DOMAIN, seed_db, min_calls=700)
