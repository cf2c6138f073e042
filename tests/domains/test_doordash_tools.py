"""Every doordash tool's success path and each of its refusals, on the generated database; invalid
calls; and the seed tools' schemas against the seed system's (CTU's) tool schemas."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import taurl.domains.doordash as mod
from taurl.core.db import Database
from taurl.core.types import Action, ToolKind
from taurl.domains.doordash.tools import NOW
from tests.conftest import CTU
from tests.domains.conftest import ToolCalls

DOMAIN = mod.DOMAIN
TOOLS = DOMAIN.tools
Record = dict[str, Any]


_calls = ToolCalls(TOOLS)
call, answer, refused = _calls.call, _calls.ok, _calls.refused_mentioning


def find(db: Database, table: str, where: Callable[[Record], bool]) -> Record:
    records = db[table]
    return next(records[key] for key in records if where(records[key]))


def menu(restaurant: Record) -> list[Record]:
    return [item for category in restaurant["full_menu"]["categories"] for item in category["items"]]


def city(restaurant: Record) -> str:
    return restaurant["address"].split(", ")[1]


def customer_near(db: Database, restaurant: Record, membership: str | None = None) -> Record:
    """A customer whose default address is in the restaurant's city (of a membership type, if given)."""
    return find(
        db,
        "users",
        lambda u: (
            any(a["is_default"] and a["city"] == city(restaurant) for a in u["delivery_addresses"])
            and membership in (None, u["membership"]["type"])
        ),
    )


def open_restaurant(db: Database) -> Record:
    return find(db, "restaurants", lambda r: r["status"] == "open" and any(not i["available"] for i in menu(r)))


def order_in(db: Database, *statuses: str, where: Callable[[Record], bool] = lambda o: True) -> Record:
    return find(db, "orders", lambda o: o["status"] in statuses and where(o))


# --- registry shape --------------------------------------------------------------------------

SEED_TOOLS = DOMAIN.tool_sets["seed"]  # checked against tool_schemas.json in test_doordash_seed.py
WRITE_TOOLS = {
    "create_order",
    "update_order",
    "cancel_order",
    "add_item_to_cart",
    "request_refund",
    "apply_promo_code",
    "rate_order",
    "update_delivery_address",
}


def test_registry_kinds() -> None:
    assert DOMAIN.name == "doordash" and set(SEED_TOOLS) <= set(TOOLS.names)
    kinds = {tool.name: tool.kind for tool in TOOLS}
    assert {n for n, k in kinds.items() if k is ToolKind.WRITE} == WRITE_TOOLS
    assert {n for n, k in kinds.items() if k is ToolKind.THINK} == {"calculate", "think"}
    assert {n for n, k in kinds.items() if k is ToolKind.TERMINATE} == {"transfer_to_human_agents"}
    for tool in TOOLS:
        assert tool.description
        assert all(schema.get("description") for schema in tool.parameters["properties"].values()), tool.name


@pytest.mark.shared_data
@pytest.mark.parametrize("name", SEED_TOOLS)
def test_seed_tool_schema(name: str) -> None:
    path = CTU / "tool_schemas.json"
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    expected = json.loads(path.read_text())["doordash"][name]
    params = TOOLS[name].parameters
    assert list(params["properties"]) == list(expected["parameters"])
    assert params["required"] == expected["required"]
    for param, spec in expected["parameters"].items():
        assert params["properties"][param]["type"] == spec["type"], param
        if "items" in spec:
            assert params["properties"][param]["items"] == spec["items"], param


def test_rules_enforced_name_real_rules_and_tools() -> None:
    rules = DOMAIN.policy_rules()
    assert 8 <= len(rules) <= 15
    for rule, tools in DOMAIN.rules_enforced.items():
        assert rule in rules
        assert all(name.strip() in TOOLS for name in tools.split(","))
    assert NOW.replace("T", " ")[:16] in DOMAIN.policy.replace("**", "")


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (Action("get_order_status", {}), "missing required argument(s) order_id"),
        (Action("get_order_status", {"order_id": 7}), "order_id must be string"),
        (Action("get_order_status", {"order_id": "O0001", "user_id": "U001"}), "unexpected argument(s) user_id"),
        (Action("create_order", {"user_id": "U001", "restaurant_id": "R001", "items": "MI001"}), "items must be array"),
        (Action("create_order", {"user_id": "U001", "restaurant_id": "R001", "items": ["MI001"]}), "items[0] must be"),
        (Action("cancel_order", {"order_id": "O0001", "reason": "hungry"}), "reason must be one of"),
        (Action("rate_order", {"order_id": "O0001", "rating": 4.5}), "rating must be integer"),
        (Action("search_restaurants", {"rating_min": "high"}), "rating_min must be number"),
        (Action("update_delivery_address", {"user_id": "U001", "address_id": "a", "make_default": "yes"}), "boolean"),
        (Action("order_pizza", {}), "unknown tool 'order_pizza'"),
    ],
)
def test_invalid_calls_change_nothing(db: Database, action: Action, problem: str) -> None:
    observation = TOOLS.invoke(db, action).observation
    assert observation.startswith("Error: ") and problem in observation, observation
    assert db.touched() == set()


# --- restaurants, menus and users ------------------------------------------------------------


def test_search_filters(db: Database) -> None:
    everything = answer(db, "search_restaurants")
    assert everything["total_count"] == len(db["restaurants"]) == len(everything["results"])
    some = list(db["restaurants"].values())[3]
    by_cuisine = answer(db, "search_restaurants", cuisine=some["cuisine"].lower(), location=city(some))["results"]
    assert some["restaurant_id"] in [r["restaurant_id"] for r in by_cuisine]
    assert all(r["cuisine"] == some["cuisine"] and city(r) == city(some) for r in by_cuisine)
    strict = answer(
        db, "search_restaurants", price_range="$$", rating_min=4.5, dietary_options=["vegan"], delivery_time_max=35
    )["results"]
    for r in strict:
        assert r["price_range"] == "$$" and r["rating"] >= 4.5 and "vegan" in r["dietary_options"]
        assert int(r["estimated_delivery_time"].split("-")[1].split()[0]) <= 35
    assert answer(db, "search_restaurants", cuisine="Martian") == {"results": [], "total_count": 0}
    assert db.touched() == set()


@pytest.mark.parametrize(
    ("tool", "table", "argument"),
    [
        ("get_restaurant_details", "restaurants", "restaurant_id"),
        ("get_user_details", "users", "user_id"),
        ("get_order_status", "orders", "order_id"),
    ],
)
def test_record_lookups(db: Database, tool: str, table: str, argument: str) -> None:
    key = list(db[table])[2]
    assert call(db, tool, **{argument: key}) == json.dumps(db[table][key])
    refused(db, tool, "not found", **{argument: "X999"})


def test_menu_and_items(db: Database) -> None:
    restaurant = next(iter(db["restaurants"].values()))
    rid = restaurant["restaurant_id"]
    assert answer(db, "get_restaurant_menu", restaurant_id=rid)["menu"] == restaurant["full_menu"]
    category = restaurant["full_menu"]["categories"][0]
    filtered = answer(db, "get_restaurant_menu", restaurant_id=rid, category=category["name"].upper())
    assert filtered["categories"] == [category] and filtered["filtered_by"] == category["name"].upper()
    refused(db, "get_restaurant_menu", "no menu category matching", restaurant_id=rid, category="Pasta Bar")
    refused(db, "get_restaurant_menu", "restaurant R999 not found", restaurant_id="R999")
    item = menu(restaurant)[0]
    assert answer(db, "get_item_details", restaurant_id=rid, item_id=item["id"])["item"] == item
    refused(db, "get_item_details", "menu item MI999 not found", restaurant_id=rid, item_id="MI999")
    refused(db, "get_item_details", "restaurant R999 not found", restaurant_id="R999", item_id=item["id"])


def test_order_history(db: Database) -> None:
    user = find(db, "users", lambda u: len(u["order_history"]) >= 3)
    history = answer(db, "get_user_order_history", user_id=user["user_id"])
    assert history["total_orders"] == len(user["order_history"])
    dates = [o["order_date"] for o in history["orders"]]
    assert dates == sorted(dates, reverse=True)
    assert {o["order_id"] for o in history["orders"]} <= set(user["order_history"])
    assert answer(db, "get_user_order_history", user_id=user["user_id"], limit=2)["returned_count"] == 2
    refused(db, "get_user_order_history", "limit must be at least 1", user_id=user["user_id"], limit=0)
    refused(db, "get_user_order_history", "user U999 not found", user_id="U999")


# --- create_order ----------------------------------------------------------------------------


def _basket(restaurant: Record) -> list[dict]:
    """Available items enough to reach the minimum order."""
    item = next(i for i in menu(restaurant) if i["available"])
    quantity = int(restaurant["minimum_order"] // item["price"]) + 1
    return [{"item_id": item["id"], "quantity": quantity}]


def test_create_order_prices_and_records(db: Database) -> None:
    restaurant = open_restaurant(db)
    user = customer_near(db, restaurant, membership="basic")
    items = [*_basket(restaurant), {"item_id": next(i for i in menu(restaurant) if i["available"])["id"]}]
    result = answer(
        db,
        "create_order",
        user_id=user["user_id"],
        restaurant_id=restaurant["restaurant_id"],
        items=items,
        special_instructions="Ring doorbell",
    )
    order = result["order"]
    assert result["message"] == f"Order {order['order_id']} placed"
    assert order["order_id"] == f"O{len(db['orders']):04d}" and db["orders"][order["order_id"]] == order
    subtotal = round(sum(line["total_price"] for line in order["items"]), 2)
    assert order["subtotal"] == subtotal and order["items"][-1]["quantity"] == 1
    assert order["delivery_fee"] == restaurant["delivery_fee"] and order["tax"] == round(subtotal * 0.08, 2)
    assert order["total"] == round(subtotal + order["delivery_fee"] + order["tax"], 2) and order["tip"] == 0.0
    assert (order["status"], order["order_date"], order["special_instructions"]) == ("placed", NOW, "Ring doorbell")
    assert order["delivery_address"]["is_default"] and order["delivery_address"]["city"] == city(restaurant)
    default_card = next(m for m in user["payment_methods"] if m["is_default"])
    assert order["payment_method_id"] == default_card["id"]
    assert db["users"][user["user_id"]]["order_history"][-1] == order["order_id"]


def test_create_order_premium_pays_no_delivery_fee_and_empties_cart(db: Database) -> None:
    restaurant = open_restaurant(db)
    user = customer_near(db, restaurant, membership="premium")
    item = next(i for i in menu(restaurant) if i["available"])
    answer(
        db, "add_item_to_cart", user_id=user["user_id"], restaurant_id=restaurant["restaurant_id"], item_id=item["id"]
    )
    card = user["payment_methods"][-1]["id"]
    order = answer(
        db,
        "create_order",
        user_id=user["user_id"],
        restaurant_id=restaurant["restaurant_id"],
        items=_basket(restaurant),
        payment_method=card,
    )["order"]
    assert order["delivery_fee"] == 0.0 and order["payment_method_id"] == card
    assert "cart" not in db["users"][user["user_id"]]


def test_create_order_refusals(db: Database) -> None:
    restaurant = open_restaurant(db)
    rid = restaurant["restaurant_id"]
    user = customer_near(db, restaurant)
    uid = user["user_id"]
    basket = _basket(restaurant)
    sold_out = next(i for i in menu(restaurant) if not i["available"])
    cheapest = min((i for i in menu(restaurant) if i["available"]), key=lambda i: i["price"])
    closed = find(db, "restaurants", lambda r: r["status"] == "closed")
    far = find(db, "restaurants", lambda r: r["status"] == "open" and city(r) != city(restaurant))

    def order(reason: str, **changes: Any) -> None:
        refused(db, "create_order", reason, **{"user_id": uid, "restaurant_id": rid, "items": basket, **changes})

    order("user U999 not found", user_id="U999")
    order("restaurant R999 not found", restaurant_id="R999")
    order("is closed now", restaurant_id=closed["restaurant_id"])
    order("at least one item", items=[])
    order("needs an 'item_id'", items=[{"quantity": 2}])
    order("item_id must be a string", items=[{"item_id": 12}])
    order("menu item MI999 not found", items=[{"item_id": "MI999"}])
    order("is currently unavailable", items=[{"item_id": sold_out["id"]}])
    order("quantity must be a whole number", items=[{"item_id": cheapest["id"], "quantity": 0}])
    order("quantity must be a whole number", items=[{"item_id": cheapest["id"], "quantity": "2"}])
    if cheapest["price"] < restaurant["minimum_order"]:
        order("below the minimum order", items=[{"item_id": cheapest["id"]}])
    order("saved addresses", delivery_address="12 Unknown Rd")
    order("not on file", payment_method="credit_card_0000000")
    far_user = customer_near(db, far)
    refused(
        db, "create_order", "outside the delivery zone", user_id=far_user["user_id"], restaurant_id=rid, items=basket
    )
    db["users"].edit(uid)["payment_methods"] = []
    order("no payment method on file")
    db["users"].edit(uid)["delivery_addresses"] = []
    order("no saved delivery address")


def test_create_order_below_minimum(db: Database) -> None:
    restaurant = find(
        db,
        "restaurants",
        lambda r: r["status"] == "open" and any(i["available"] and i["price"] < r["minimum_order"] for i in menu(r)),
    )
    item = next(i for i in menu(restaurant) if i["available"] and i["price"] < restaurant["minimum_order"])
    refused(
        db,
        "create_order",
        "below the minimum order",
        user_id=customer_near(db, restaurant)["user_id"],
        restaurant_id=restaurant["restaurant_id"],
        items=[{"item_id": item["id"]}],
    )


# --- update_order ----------------------------------------------------------------------------


def _order_with_second_address(db: Database, *statuses: str, same_city: bool = True) -> tuple[Record, Record]:
    """An order in one of ``statuses`` whose customer has another saved address in (or out of) its city."""
    for order in db["orders"].values():
        if order["status"] not in statuses:
            continue
        rcity = city(db["restaurants"][order["restaurant_id"]])
        for address in db["users"][order["user_id"]]["delivery_addresses"]:
            if address["id"] != order["delivery_address"]["id"] and (address["city"] == rcity) is same_city:
                return order, address
    raise LookupError(statuses)


def test_update_order_address_and_instructions(db: Database) -> None:
    order, address = _order_with_second_address(db, "placed", "confirmed", "scheduled")
    result = answer(
        db,
        "update_order",
        order_id=order["order_id"],
        delivery_address=address["id"],
        special_instructions="Call when outside",
    )
    assert result["updated_fields"] == ["delivery_address", "special_instructions"]
    stored = db["orders"][order["order_id"]]
    assert stored["delivery_address"] == address and stored["special_instructions"] == "Call when outside"
    preparing = order_in(db, "preparing")
    note = answer(db, "update_order", order_id=preparing["order_id"], special_instructions="")
    assert note["order"]["special_instructions"] == ""


def test_update_order_refusals(db: Database) -> None:
    order, address = _order_with_second_address(db, "placed", "confirmed", "scheduled")
    oid = order["order_id"]
    refused(db, "update_order", "order O9999 not found", order_id="O9999", special_instructions="x")
    refused(db, "update_order", "use cancel_order", order_id=oid, status="cancelled")
    refused(db, "update_order", "nothing to update", order_id=oid)
    refused(db, "update_order", "saved addresses", order_id=oid, delivery_address="5 Elm St, Austin")
    late, late_address = _order_with_second_address(db, "preparing", "out_for_delivery")
    refused(
        db,
        "update_order",
        "delivery address can no longer be changed",
        order_id=late["order_id"],
        delivery_address=late_address["id"],
    )
    picked_up = order_in(db, "out_for_delivery", "delivered")
    refused(
        db,
        "update_order",
        "special instructions can no longer be changed",
        order_id=picked_up["order_id"],
        special_instructions="Leave at door",
    )
    far, far_address = _order_with_second_address(db, "placed", "confirmed", "scheduled", same_city=False)
    refused(
        db, "update_order", "outside the delivery zone", order_id=far["order_id"], delivery_address=far_address["id"]
    )
    db["orders"].edit(oid)["user_id"] = "U999"
    refused(db, "update_order", "is not on file", order_id=oid, delivery_address=address["id"])


# --- cancel_order ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "share"), [("placed", 1.0), ("confirmed", 1.0), ("scheduled", 1.0), ("preparing", 0.5)]
)
def test_cancel_refunds_by_status(db: Database, status: str, share: float) -> None:
    order = order_in(db, status)
    result = answer(db, "cancel_order", order_id=order["order_id"], reason="ordered by mistake")
    refund = round(order["total"] * share, 2)
    assert result["refund_amount"] == refund
    stored = db["orders"][order["order_id"]]
    assert stored["status"] == "cancelled" and stored["cancellation_reason"] == "ordered by mistake"
    assert stored["refunds"] == [
        {"type": "cancellation", "amount": refund, "payment_method_id": order["payment_method_id"], "date": NOW}
    ]


def test_cancel_without_reason_and_refusals(db: Database) -> None:
    order = order_in(db, "placed")
    assert answer(db, "cancel_order", order_id=order["order_id"])["order"]["cancellation_reason"] == "other"
    refused(db, "cancel_order", "order O9999 not found", order_id="O9999")
    for status in ("out_for_delivery", "delivered", "cancelled"):
        refused(
            db, "cancel_order", f"is {status}; only orders not yet picked up", order_id=order_in(db, status)["order_id"]
        )


# --- cart ------------------------------------------------------------------------------------


def test_cart_merges_lines(db: Database) -> None:
    restaurant = open_restaurant(db)
    rid = restaurant["restaurant_id"]
    user = customer_near(db, restaurant)
    first, second = [i for i in menu(restaurant) if i["available"]][:2]
    answer(db, "add_item_to_cart", user_id=user["user_id"], restaurant_id=rid, item_id=first["id"], quantity=2)
    answer(db, "add_item_to_cart", user_id=user["user_id"], restaurant_id=rid, item_id=first["id"])
    spicy = answer(
        db,
        "add_item_to_cart",
        user_id=user["user_id"],
        restaurant_id=rid,
        item_id=first["id"],
        customizations={"spice": "hot"},
    )
    cart = answer(db, "add_item_to_cart", user_id=user["user_id"], restaurant_id=rid, item_id=second["id"])["cart"]
    assert spicy["message"] == f"Added 1 x {first['name']} to the cart"
    assert [(x["item_id"], x["quantity"], x["customizations"]) for x in cart["items"]] == [
        (first["id"], 3, {}),
        (first["id"], 1, {"spice": "hot"}),
        (second["id"], 1, {}),
    ]
    assert cart["items"][0]["total_price"] == round(first["price"] * 3, 2)
    assert cart["subtotal"] == round(sum(x["total_price"] for x in cart["items"]), 2)
    assert db["users"][user["user_id"]]["cart"] == cart and cart["restaurant_id"] == rid


def test_cart_refusals(db: Database) -> None:
    restaurant = open_restaurant(db)
    rid = restaurant["restaurant_id"]
    uid = customer_near(db, restaurant)["user_id"]
    item = next(i for i in menu(restaurant) if i["available"])
    sold_out = next(i for i in menu(restaurant) if not i["available"])
    closed = find(db, "restaurants", lambda r: r["status"] == "closed")
    other = find(db, "restaurants", lambda r: r["status"] == "open" and r["restaurant_id"] != rid)

    def add(reason: str, **changes: Any) -> None:
        refused(
            db, "add_item_to_cart", reason, **{"user_id": uid, "restaurant_id": rid, "item_id": item["id"], **changes}
        )

    add("user U999 not found", user_id="U999")
    add("restaurant R999 not found", restaurant_id="R999")
    add("is closed now", restaurant_id=closed["restaurant_id"], item_id=menu(closed)[0]["id"])
    add("menu item MI999 not found", item_id="MI999")
    add("is currently unavailable", item_id=sold_out["id"])
    add("quantity must be a whole number", quantity=0)
    answer(db, "add_item_to_cart", user_id=uid, restaurant_id=rid, item_id=item["id"])
    add(
        "a cart holds items of one restaurant only",
        restaurant_id=other["restaurant_id"],
        item_id=next(i for i in menu(other) if i["available"])["id"],
    )


# --- request_refund --------------------------------------------------------------------------


def _recent_delivered(db: Database, lines: int = 1) -> Record:
    return order_in(
        db, "delivered", where=lambda o: o["order_date"] >= "2025-01-08T19:00:00" and len(o["items"]) >= lines
    )


def test_request_refund(db: Database) -> None:
    order = _recent_delivered(db, lines=2)
    first, second = order["items"][:2]
    result = answer(
        db,
        "request_refund",
        order_id=order["order_id"],
        item_ids=[first["item_id"], first["item_id"]],
        reason="missing item",
    )
    assert result["refund_amount"] == first["total_price"]
    assert result["order"]["refunds"] == [
        {
            "type": "item refund",
            "amount": first["total_price"],
            "payment_method_id": order["payment_method_id"],
            "date": NOW,
            "item_ids": [first["item_id"]],
            "reason": "missing item",
        }
    ]
    assert result["order"]["status"] == "delivered"
    refused(
        db,
        "request_refund",
        "already refunded",
        order_id=order["order_id"],
        item_ids=[first["item_id"]],
        reason="wrong item",
    )
    second_refund = answer(
        db, "request_refund", order_id=order["order_id"], item_ids=[second["item_id"]], reason="damaged or spilled"
    )
    assert len(second_refund["order"]["refunds"]) == 2


def test_request_refund_never_exceeds_what_was_paid(db: Database) -> None:
    order = _recent_delivered(db)
    db["orders"].edit(order["order_id"])["total"] = 1.25
    result = answer(
        db, "request_refund", order_id=order["order_id"], item_ids=[order["items"][0]["item_id"]], reason="wrong item"
    )
    assert result["refund_amount"] == 1.25


def test_request_refund_refusals(db: Database) -> None:
    order = _recent_delivered(db)
    item_id = order["items"][0]["item_id"]

    def refund(reason: str, **changes: Any) -> None:
        kwargs = {"order_id": order["order_id"], "item_ids": [item_id], "reason": "missing item", **changes}
        refused(db, "request_refund", reason, **kwargs)

    refund("order O9999 not found", order_id="O9999")
    refund("only delivered orders", order_id=order_in(db, "placed")["order_id"])
    old = order_in(db, "delivered", where=lambda o: o["order_date"] < "2025-01-08T19:00:00")
    refund("older than 7 days", order_id=old["order_id"], item_ids=[old["items"][0]["item_id"]])
    refund("item MI999 is not in order", item_ids=["MI999"])
    refund("name at least one item", item_ids=[])


# --- apply_promo_code ------------------------------------------------------------------------


def _promo_order(db: Database, where: Callable[[Record], bool]) -> Record:
    return order_in(db, "placed", "confirmed", "scheduled", where=where)


def _premium(db: Database, order: Record) -> bool:
    return db["users"][order["user_id"]]["membership"]["type"] == "premium"


@pytest.mark.parametrize(
    ("code", "where", "discount"),
    [
        ("welcome5", lambda db, o: o["subtotal"] >= 20, lambda o: 5.0),
        ("SAVE15", lambda db, o: o["subtotal"] >= 30, lambda o: min(round(o["subtotal"] * 0.15, 2), 10.0)),
        ("FREEDELIVERY", lambda db, o: o["delivery_fee"] > 0, lambda o: o["delivery_fee"]),
        ("PREMIUM20", _premium, lambda o: min(round(o["subtotal"] * 0.2, 2), 15.0)),
    ],
)
def test_apply_promo_code(db: Database, code: str, where: Callable, discount: Callable) -> None:
    order = _promo_order(db, lambda o: where(db, o))
    result = answer(db, "apply_promo_code", order_id=order["order_id"], promo_code=f" {code} ")
    expected = round(discount(order), 2)
    assert result["discount"] == expected
    stored = db["orders"][order["order_id"]]
    assert (stored["promo_code"], stored["discount"]) == (code.upper(), expected)
    assert stored["total"] == round(order["total"] - expected, 2)
    refused(db, "apply_promo_code", "one code per order", order_id=order["order_id"], promo_code="WELCOME5")


def test_apply_promo_code_refusals(db: Database) -> None:
    order = _promo_order(db, lambda o: not _premium(db, o) and o["subtotal"] < 20)
    oid = order["order_id"]
    refused(db, "apply_promo_code", "order O9999 not found", order_id="O9999", promo_code="WELCOME5")
    refused(db, "apply_promo_code", "does not exist", order_id=oid, promo_code="FREEFOOD")
    refused(db, "apply_promo_code", "expired on 2025-01-01", order_id=oid, promo_code="HOLIDAY25")
    refused(db, "apply_promo_code", "for premium members only", order_id=oid, promo_code="PREMIUM20")
    refused(db, "apply_promo_code", "needs a subtotal of at least 20.0", order_id=oid, promo_code="WELCOME5")
    refused(db, "apply_promo_code", "needs a subtotal of at least 30.0", order_id=oid, promo_code="SAVE15")
    preparing = order_in(db, "preparing")
    refused(
        db,
        "apply_promo_code",
        "only before the restaurant starts preparing",
        order_id=preparing["order_id"],
        promo_code="WELCOME5",
    )
    free = _promo_order(db, lambda o: o["delivery_fee"] == 0)
    refused(db, "apply_promo_code", "takes nothing off", order_id=free["order_id"], promo_code="FREEDELIVERY")
    db["orders"].edit(oid)["user_id"] = "U999"
    refused(db, "apply_promo_code", "for premium members only", order_id=oid, promo_code="PREMIUM20")


# --- rate_order ------------------------------------------------------------------------------


def test_rate_order(db: Database) -> None:
    order = order_in(db, "delivered", where=lambda o: o["rating"] is None)
    assert answer(db, "rate_order", order_id=order["order_id"], rating=5)["rating"] == 5
    assert db["orders"][order["order_id"]]["rating"] == 5
    refused(db, "rate_order", "was already rated 5", order_id=order["order_id"], rating=4)


def test_rate_order_refusals(db: Database) -> None:
    unrated = order_in(db, "delivered", where=lambda o: o["rating"] is None)["order_id"]
    refused(db, "rate_order", "order O9999 not found", order_id="O9999", rating=3)
    refused(db, "rate_order", "only delivered orders", order_id=order_in(db, "preparing")["order_id"], rating=3)
    refused(db, "rate_order", "from 1 to 5", order_id=unrated, rating=6)
    refused(db, "rate_order", "from 1 to 5", order_id=unrated, rating=0)


# --- update_delivery_address -----------------------------------------------------------------


def test_update_delivery_address(db: Database) -> None:
    user = find(db, "users", lambda u: len(u["delivery_addresses"]) == 2)
    uid = user["user_id"]
    other = next(a for a in user["delivery_addresses"] if not a["is_default"])
    result = answer(
        db,
        "update_delivery_address",
        user_id=uid,
        address_id=other["id"],
        street="1 New St",
        zip="10001",
        instructions="",
        make_default=True,
    )
    assert result["message"] == f"Saved address {other['id']} of user {uid} updated"
    saved = {a["id"]: a for a in db["users"][uid]["delivery_addresses"]}
    assert saved[other["id"]] == {**other, "street": "1 New St", "zip": "10001", "instructions": "", "is_default": True}
    assert [a["is_default"] for a in saved.values()].count(True) == 1
    assert result["delivery_addresses"] == list(saved.values())


def test_update_delivery_address_refusals(db: Database) -> None:
    user = next(iter(db["users"].values()))
    uid, address_id = user["user_id"], user["delivery_addresses"][0]["id"]
    refused(db, "update_delivery_address", "user U999 not found", user_id="U999", address_id=address_id, street="x")
    refused(db, "update_delivery_address", "saved addresses", user_id=uid, address_id="addr_0", street="x")
    refused(db, "update_delivery_address", "nothing to update", user_id=uid, address_id=address_id)
    refused(db, "update_delivery_address", "two-letter code", user_id=uid, address_id=address_id, state="Texas")
    refused(db, "update_delivery_address", "five digits", user_id=uid, address_id=address_id, zip="1234")


# --- think, calculate, transfer --------------------------------------------------------------


def test_calculate_think_and_transfer(db: Database) -> None:
    assert call(db, "calculate", expression="(12.5 + 3.49) * 1.08") == str(round((12.5 + 3.49) * 1.08, 2))
    assert call(db, "calculate", expression="2 / 0") == "Error: division by zero"
    assert call(db, "calculate", expression="import os") == "Error: invalid characters in expression"
    assert call(db, "think", thought="the order is preparing") == ""
    assert call(db, "transfer_to_human_agents", reason="wants cash back") == "Transfer successful"
    assert call(db, "transfer_to_human_agents", reason="asked for a human", context="order O0001") == (
        "Transfer successful"
    )
    assert db.touched() == set()
