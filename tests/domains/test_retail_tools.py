"""Every retail tool's success path and each refusal τ-bench's tool has, on the generated database;
the tools' schemas against τ-bench's; and the generated tasks' gold actions."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from taurl.core.db import Database
from taurl.core.tools import Refusal
from taurl.core.types import Action, RewardBasis, ToolKind
from taurl.domains.retail import DOMAIN, TOOLS
from taurl.domains.retail.generate import generate_database, generate_tasks
from taurl.domains.retail.tools import cancel_pending_order
from tests.conftest import CTU
from tests.domains.conftest import ToolCalls

Order = dict[str, Any]


call = ToolCalls(TOOLS).call


def find_order(db: Database, status: str, where: Callable[[Order], bool] = lambda order: True) -> Order:
    orders = db["orders"]
    return next(orders[o] for o in orders if orders[o]["status"] == status and where(orders[o]))


def alternative(db: Database, item: dict, available: bool = True) -> str:
    """Another variant of the item's product, available or not."""
    variants = db["products"][item["product_id"]]["variants"]
    return next(v for v, variant in variants.items() if variant["available"] is available and v != item["item_id"])


def gift_card_of(db: Database, user_id: str, balance: float) -> str:
    """The user's gift card (one is added if they have none), set to ``balance``."""
    methods = db["users"].edit(user_id)["payment_methods"]
    card_id = next((m for m, method in methods.items() if method["source"] == "gift_card"), "gift_card_0000001")
    methods[card_id] = {"source": "gift_card", "balance": balance, "id": card_id}
    return card_id


def paid_by(db: Database, order_id: str, method_id: str) -> None:
    db["orders"].edit(order_id)["payment_history"][0]["payment_method_id"] = method_id


def credit_card_of(db: Database, user_id: str) -> str:
    """A non-gift-card method of the user (one is added if they have none)."""
    methods = db["users"].edit(user_id)["payment_methods"]
    existing = next((m for m, method in methods.items() if method["source"] != "gift_card"), None)
    if existing:
        return existing
    methods["credit_card_0000001"] = {
        "source": "credit_card",
        "brand": "visa",
        "last_four": "1111",
        "id": "credit_card_0000001",
    }
    return "credit_card_0000001"


def unchanged(db: Database, name: str, expected: str, **kwargs: Any) -> None:
    """The call gives ``expected`` and leaves the state as it was."""
    before = db.state_hash()
    assert call(db, name, **kwargs) == expected
    assert db.state_hash() == before


# --- registry shape --------------------------------------------------------------------------

# τ-bench's parameters per tool: name -> (JSON type, enum or None); every parameter is required.
TAU_BENCH_SCHEMAS: dict[str, dict[str, tuple[str, list[str] | None]]] = {
    "calculate": {"expression": ("string", None)},
    "cancel_pending_order": {
        "order_id": ("string", None),
        "reason": ("string", ["no longer needed", "ordered by mistake"]),
    },
    "exchange_delivered_order_items": {
        "order_id": ("string", None),
        "item_ids": ("array", None),
        "new_item_ids": ("array", None),
        "payment_method_id": ("string", None),
    },
    "find_user_id_by_email": {"email": ("string", None)},
    "find_user_id_by_name_zip": {
        "first_name": ("string", None),
        "last_name": ("string", None),
        "zip": ("string", None),
    },
    "get_order_details": {"order_id": ("string", None)},
    "get_product_details": {"product_id": ("string", None)},
    "get_user_details": {"user_id": ("string", None)},
    "list_all_product_types": {},
    "modify_pending_order_address": {
        p: ("string", None) for p in ("order_id", "address1", "address2", "city", "state", "country", "zip")
    },
    "modify_pending_order_items": {
        "order_id": ("string", None),
        "item_ids": ("array", None),
        "new_item_ids": ("array", None),
        "payment_method_id": ("string", None),
    },
    "modify_pending_order_payment": {"order_id": ("string", None), "payment_method_id": ("string", None)},
    "modify_user_address": {
        p: ("string", None) for p in ("user_id", "address1", "address2", "city", "state", "country", "zip")
    },
    "return_delivered_order_items": {
        "order_id": ("string", None),
        "item_ids": ("array", None),
        "payment_method_id": ("string", None),
    },
    "think": {"thought": ("string", None)},
    "transfer_to_human_agents": {"summary": ("string", None)},
}
KINDS = {
    ToolKind.THINK: {"calculate", "think"},
    ToolKind.TERMINATE: {"transfer_to_human_agents"},
    ToolKind.READ: {
        "find_user_id_by_email",
        "find_user_id_by_name_zip",
        "get_order_details",
        "get_product_details",
        "get_user_details",
        "list_all_product_types",
    },
}


def test_tools_in_tau_bench_order_with_kinds() -> None:
    assert TOOLS.names == list(TAU_BENCH_SCHEMAS)
    assert DOMAIN.tools is TOOLS and DOMAIN.name == "retail"
    for tool in TOOLS:
        expected = next((kind for kind, names in KINDS.items() if tool.name in names), ToolKind.WRITE)
        assert tool.kind == expected, tool.name


@pytest.mark.parametrize("name", list(TAU_BENCH_SCHEMAS))
def test_schema_matches_tau_bench(name: str) -> None:
    function = TOOLS[name].openai_schema()["function"]
    params = function["parameters"]
    expected = TAU_BENCH_SCHEMAS[name]
    assert function["description"]
    assert list(params["properties"]) == list(expected)
    assert params["required"] == list(expected)
    for param, (json_type, enum) in expected.items():
        schema = params["properties"][param]
        assert schema["type"] == json_type
        assert schema.get("enum") == enum
        assert schema.get("description")
        if json_type == "array":
            assert schema["items"] == {"type": "string"}


@pytest.mark.shared_data
def test_seed_tool_set_matches_the_seed_systems_schemas() -> None:
    """The seed system (CTU) offers τ-bench's sixteen retail tools; its calls must fit ours unchanged."""
    path = CTU / "tool_schemas.json"
    if not path.exists():
        pytest.skip(f"seed system's schemas not available: {path}")
    seed = json.loads(path.read_text())["retail"]
    tools = DOMAIN.tools_for("seed")
    assert set(tools.names) == set(seed)
    for name, spec in seed.items():
        parameters = tools[name].parameters
        assert list(parameters["properties"]) == list(spec["parameters"]) and parameters["required"] == spec["required"]
        for param, want in spec["parameters"].items():
            have = parameters["properties"][param]
            assert (have["type"], have.get("enum")) == (want["type"], want.get("enum")), (name, param)


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (Action("get_order_details", {}), "missing required argument(s) order_id"),
        (Action("get_order_details", {"order_id": 7}), "order_id must be string"),
        (
            Action("return_delivered_order_items", {"order_id": "#W1", "item_ids": "1", "payment_method_id": "x"}),
            "item_ids must be array",
        ),
        (Action("cancel_pending_order", {"order_id": "#W1", "reason": "changed my mind"}), "reason must be one of"),
        (Action("get_order_details", {"order_id": "#W1", "extra": 1}), "unexpected argument(s) extra"),
        (Action("refund_everything", {}), "unknown tool 'refund_everything'"),
    ],
)
def test_invalid_calls_are_errors_that_change_nothing(db: Database, action: Action, problem: str) -> None:
    observation = TOOLS.invoke(db, action).observation
    assert observation.startswith("Error: ") and problem in observation
    assert db.touched() == set()


# --- read tools ------------------------------------------------------------------------------


def test_find_user_by_email(db: Database) -> None:
    user_id = next(iter(db["users"]))
    email = db["users"][user_id]["email"]
    assert call(db, "find_user_id_by_email", email=email.upper()) == user_id
    unchanged(db, "find_user_id_by_email", "Error: user not found", email="nobody@example.com")


def test_find_user_by_name_zip(db: Database) -> None:
    user_id = list(db["users"])[3]
    user = db["users"][user_id]
    name, zip_code = user["name"], user["address"]["zip"]
    found = call(
        db,
        "find_user_id_by_name_zip",
        first_name=name["first_name"].lower(),
        last_name=name["last_name"].upper(),
        zip=zip_code,
    )
    assert found == user_id
    unchanged(
        db,
        "find_user_id_by_name_zip",
        "Error: user not found",
        first_name=name["first_name"],
        last_name=name["last_name"],
        zip="00000",
    )


@pytest.mark.parametrize(
    ("tool", "table", "argument", "missing"),
    [
        ("get_order_details", "orders", "order_id", "Error: order not found"),
        ("get_product_details", "products", "product_id", "Error: product not found"),
        ("get_user_details", "users", "user_id", "Error: user not found"),
    ],
)
def test_get_details(db: Database, tool: str, table: str, argument: str, missing: str) -> None:
    key = list(db[table])[1]
    assert call(db, tool, **{argument: key}) == json.dumps(db[table][key])
    unchanged(db, tool, missing, **{argument: "no-such-id"})
    assert db.touched() == set()


def test_list_all_product_types(db: Database) -> None:
    listed = json.loads(call(db, "list_all_product_types"))
    assert list(listed) == sorted(listed)
    assert listed == {p["name"]: p["product_id"] for p in db["products"].values()}


# --- think and terminate ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("2 + 2", "4.0"),
        ("(19.99 * 3 - 5) / 2", str(round((19.99 * 3 - 5) / 2, 2))),
        (" 10 // 3", "3.0"),
        ("2 ** 10", "1024.0"),
        ("-(1.005)", "-1.0"),
        ("abs(-1)", "Error: invalid characters in expression"),
        ("1 / 0", "Error: division by zero"),
        ("1 +", "Error: invalid syntax (<string>, line 1)"),
        ("(1)(2)", "Error: 'int' object is not callable"),
        ("9 ** 9 ** 9", "Error: int too large to convert to float"),
    ],
)
@pytest.mark.filterwarnings("ignore::SyntaxWarning")
def test_calculate(db: Database, expression: str, result: str) -> None:
    assert call(db, "calculate", expression=expression) == result
    assert db.touched() == set()


def test_think_and_transfer(db: Database) -> None:
    assert call(db, "think", thought="the order is pending") == ""
    assert call(db, "transfer_to_human_agents", summary="wants a refund in cash") == "Transfer successful"
    assert db.touched() == set()


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_refunds_every_payment_and_credits_gift_cards(db: Database) -> None:
    order = find_order(db, "pending")
    order_id, user_id, amount = order["order_id"], order["user_id"], order["payment_history"][0]["amount"]
    card_id = gift_card_of(db, user_id, 10)
    paid_by(db, order_id, card_id)
    result = json.loads(call(db, "cancel_pending_order", order_id=order_id, reason="ordered by mistake"))
    assert result == db["orders"][order_id]
    assert result["status"] == "cancelled" and result["cancel_reason"] == "ordered by mistake"
    assert result["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": amount,
        "payment_method_id": card_id,
    }
    assert db["users"][user_id]["payment_methods"][card_id]["balance"] == round(10 + amount, 2)


def test_cancel_refusals(db: Database) -> None:
    unchanged(db, "cancel_pending_order", "Error: order not found", order_id="#W0", reason="no longer needed")
    processed = find_order(db, "processed")["order_id"]
    unchanged(
        db,
        "cancel_pending_order",
        "Error: non-pending order cannot be cancelled",
        order_id=processed,
        reason="no longer needed",
    )
    # the schema already rejects other reasons; the tool's own check answers like τ-bench's
    pending = find_order(db, "pending")["order_id"]
    with pytest.raises(Refusal, match="^invalid reason$"):  # the registry answers it as "Error: invalid reason"
        cancel_pending_order(db, order_id=pending, reason="too slow")
    assert db.touched() == set()


# --- modify pending order --------------------------------------------------------------------


def test_modify_order_address(db: Database) -> None:
    order_id = find_order(db, "pending")["order_id"]
    address = {"address1": "1 Main St", "address2": "", "city": "Reno", "state": "NV", "country": "USA", "zip": "89501"}
    result = call(db, "modify_pending_order_address", order_id=order_id, **address)
    assert json.loads(result)["address"] == address
    assert list(db["orders"][order_id]["address"]) == list(address)
    assert result == json.dumps(db["orders"][order_id])
    unchanged(db, "modify_pending_order_address", "Error: order not found", order_id="#W0", **address)
    delivered = find_order(db, "delivered")["order_id"]
    unchanged(
        db, "modify_pending_order_address", "Error: non-pending order cannot be modified", order_id=delivered, **address
    )


def _swappable(db: Database, status: str) -> tuple[Order, dict, str]:
    """An order in ``status``, an item of it with an available other variant, and that variant."""
    orders = db["orders"]
    for order_id in orders:
        order = orders[order_id]
        if order["status"] == status:
            for item in order["items"]:
                variants = db["products"][item["product_id"]]["variants"]
                others = [v for v, var in variants.items() if var["available"] and v != item["item_id"]]
                if others:
                    return order, item, others[0]
    raise LookupError(status)


def test_modify_items_with_gift_card(db: Database) -> None:
    order, item, new_id = _swappable(db, "pending")
    order_id, user_id = order["order_id"], order["user_id"]
    card_id = gift_card_of(db, user_id, 1000)
    new_variant = db["products"][item["product_id"]]["variants"][new_id]
    difference = 0 + (new_variant["price"] - item["price"])
    result = json.loads(
        call(
            db,
            "modify_pending_order_items",
            order_id=order_id,
            item_ids=[item["item_id"]],
            new_item_ids=[new_id],
            payment_method_id=card_id,
        )
    )
    assert result["status"] == "pending (item modified)"
    assert result["payment_history"][-1] == {
        "transaction_type": "payment" if difference > 0 else "refund",
        "amount": abs(difference),
        "payment_method_id": card_id,
    }
    changed = next(i for i in result["items"] if i["item_id"] == new_id)
    assert (changed["price"], changed["options"]) == (new_variant["price"], new_variant["options"])
    assert db["users"][user_id]["payment_methods"][card_id]["balance"] == round(1000 - difference, 2)


def test_modify_items_refusals(db: Database) -> None:
    order, item, new_id = _swappable(db, "pending")
    order_id, item_id = order["order_id"], item["item_id"]
    method_id = order["payment_history"][0]["payment_method_id"]

    def refused(expected: str, **changes: Any) -> None:
        kwargs = {
            "order_id": order_id,
            "item_ids": [item_id],
            "new_item_ids": [new_id],
            "payment_method_id": method_id,
            **changes,
        }
        unchanged(db, "modify_pending_order_items", expected, **kwargs)

    refused("Error: order not found", order_id="#W0")
    refused("Error: non-pending order cannot be modified", order_id=find_order(db, "delivered")["order_id"])
    refused(f"Error: {item_id} not found", item_ids=[item_id, item_id], new_item_ids=[new_id, new_id])
    refused("Error: the number of items to be exchanged should match", new_item_ids=[new_id, new_id])
    other_product = next(p for p in db["products"] if p != item["product_id"])
    foreign = next(iter(db["products"][other_product]["variants"]))
    refused(f"Error: new item {foreign} not found or available", new_item_ids=[foreign])
    refused("Error: payment method not found", payment_method_id="paypal_0000000")


def test_modify_items_rejects_unavailable_variant(db: Database) -> None:
    orders = db["orders"]
    order, item, unavailable = next(
        (orders[o], item, alternative(db, item, available=False))
        for o in orders
        if orders[o]["status"] == "pending"
        for item in orders[o]["items"]
        if any(not v["available"] for v in db["products"][item["product_id"]]["variants"].values())
    )
    unchanged(
        db,
        "modify_pending_order_items",
        f"Error: new item {unavailable} not found or available",
        order_id=order["order_id"],
        item_ids=[item["item_id"]],
        new_item_ids=[unavailable],
        payment_method_id=order["payment_history"][0]["payment_method_id"],
    )


def test_modify_items_insufficient_gift_card(db: Database) -> None:
    order, item, new_id = _swappable(db, "pending")
    variants = db["products"][item["product_id"]]["variants"]
    pricier = next((v for v, var in variants.items() if var["available"] and var["price"] > item["price"]), None)
    if pricier is None:  # make the item cheaper than every variant so any swap costs money
        db["orders"].edit(order["order_id"])["items"][order["items"].index(item)]["price"] = 0.01
        pricier = new_id
    card_id = gift_card_of(db, order["user_id"], 0)
    unchanged(
        db,
        "modify_pending_order_items",
        "Error: insufficient gift card balance to pay for the new item",
        order_id=order["order_id"],
        item_ids=[item["item_id"]],
        new_item_ids=[pricier],
        payment_method_id=card_id,
    )


def test_modify_payment_moves_money_between_gift_cards(db: Database) -> None:
    order = find_order(db, "pending")
    order_id, user_id, amount = order["order_id"], order["user_id"], order["payment_history"][0]["amount"]
    old_card = gift_card_of(db, user_id, 5)
    paid_by(db, order_id, old_card)
    methods = db["users"].edit(user_id)["payment_methods"]
    methods["gift_card_0000002"] = {"source": "gift_card", "balance": 5000, "id": "gift_card_0000002"}
    result = json.loads(
        call(db, "modify_pending_order_payment", order_id=order_id, payment_method_id="gift_card_0000002")
    )
    assert result["status"] == "pending"
    assert result["payment_history"][1:] == [
        {"transaction_type": "payment", "amount": amount, "payment_method_id": "gift_card_0000002"},
        {"transaction_type": "refund", "amount": amount, "payment_method_id": old_card},
    ]
    balances = {m: db["users"][user_id]["payment_methods"][m]["balance"] for m in (old_card, "gift_card_0000002")}
    assert balances == {old_card: round(5 + amount, 2), "gift_card_0000002": round(5000 - amount, 2)}


def test_modify_payment_refusals(db: Database) -> None:
    order = find_order(db, "pending", lambda o: "gift_card" not in o["payment_history"][0]["payment_method_id"])
    order_id, user_id = order["order_id"], order["user_id"]
    current = order["payment_history"][0]["payment_method_id"]
    unchanged(db, "modify_pending_order_payment", "Error: order not found", order_id="#W0", payment_method_id=current)
    cancelled = find_order(db, "cancelled")["order_id"]
    unchanged(
        db,
        "modify_pending_order_payment",
        "Error: non-pending order cannot be modified",
        order_id=cancelled,
        payment_method_id=current,
    )
    unchanged(
        db,
        "modify_pending_order_payment",
        "Error: payment method not found",
        order_id=order_id,
        payment_method_id="paypal_0000000",
    )
    unchanged(
        db,
        "modify_pending_order_payment",
        "Error: the new payment method should be different from the current one",
        order_id=order_id,
        payment_method_id=current,
    )
    unchanged(
        db,
        "modify_pending_order_payment",
        "Error: insufficient gift card balance to pay for the order",
        order_id=order_id,
        payment_method_id=gift_card_of(db, user_id, 0),
    )
    db["orders"].edit(order_id)["payment_history"].append(
        {"transaction_type": "refund", "amount": 1.0, "payment_method_id": current}
    )
    unchanged(
        db,
        "modify_pending_order_payment",
        "Error: there should be exactly one payment for a pending order",
        order_id=order_id,
        payment_method_id=current,
    )


# --- user address ----------------------------------------------------------------------------


def test_modify_user_address(db: Database) -> None:
    user_id = list(db["users"])[5]
    address = {
        "address1": "9 Pier Rd",
        "address2": "Suite 1",
        "city": "Salem",
        "state": "MA",
        "country": "USA",
        "zip": "01970",
    }
    result = call(db, "modify_user_address", user_id=user_id, **address)
    assert result == json.dumps(db["users"][user_id]) and db["users"][user_id]["address"] == address
    unchanged(db, "modify_user_address", "Error: user not found", user_id="nobody_0000", **address)


# --- return and exchange ---------------------------------------------------------------------


def test_return_to_original_method(db: Database) -> None:
    order = find_order(db, "delivered", lambda o: len(o["items"]) > 1)
    item_ids = [order["items"][1]["item_id"], order["items"][0]["item_id"]]
    method_id = order["payment_history"][0]["payment_method_id"]
    result = json.loads(
        call(
            db,
            "return_delivered_order_items",
            order_id=order["order_id"],
            item_ids=item_ids,
            payment_method_id=method_id,
        )
    )
    assert result["status"] == "return requested"
    assert result["return_items"] == sorted(item_ids)
    assert result["return_payment_method_id"] == method_id


def test_return_refusals(db: Database) -> None:
    order = find_order(db, "delivered")
    order_id, user_id = order["order_id"], order["user_id"]
    item_id = order["items"][0]["item_id"]
    original = order["payment_history"][0]["payment_method_id"]

    def refused(expected: str, **changes: Any) -> None:
        kwargs = {"order_id": order_id, "item_ids": [item_id], "payment_method_id": original, **changes}
        unchanged(db, "return_delivered_order_items", expected, **kwargs)

    refused("Error: order not found", order_id="#W0")
    refused("Error: non-delivered order cannot be returned", order_id=find_order(db, "pending")["order_id"])
    refused("Error: payment method not found", payment_method_id="gift_card_0000000")
    refused("Error: some item not found", item_ids=[item_id, item_id])
    paid_by(db, order_id, gift_card_of(db, user_id, 0))
    refused(
        "Error: payment method should be either the original payment method or a gift card",
        payment_method_id=credit_card_of(db, user_id),
    )


def test_exchange_rounds_the_price_difference(db: Database) -> None:
    order, item, new_id = _swappable(db, "delivered")
    new_price = db["products"][item["product_id"]]["variants"][new_id]["price"]
    method_id = credit_card_of(db, order["user_id"])
    result = json.loads(
        call(
            db,
            "exchange_delivered_order_items",
            order_id=order["order_id"],
            item_ids=[item["item_id"]],
            new_item_ids=[new_id],
            payment_method_id=method_id,
        )
    )
    assert result["status"] == "exchange requested"
    assert (result["exchange_items"], result["exchange_new_items"]) == ([item["item_id"]], [new_id])
    assert result["exchange_payment_method_id"] == method_id
    assert result["exchange_price_difference"] == round(new_price - item["price"], 2)
    assert result["items"] == order["items"]  # the items themselves change only when the exchange is processed


def test_exchange_refusals(db: Database) -> None:
    order, item, new_id = _swappable(db, "delivered")
    order_id, item_id = order["order_id"], item["item_id"]
    method_id = order["payment_history"][0]["payment_method_id"]

    def refused(expected: str, **changes: Any) -> None:
        kwargs = {
            "order_id": order_id,
            "item_ids": [item_id],
            "new_item_ids": [new_id],
            "payment_method_id": method_id,
            **changes,
        }
        unchanged(db, "exchange_delivered_order_items", expected, **kwargs)

    refused("Error: order not found", order_id="#W0")
    refused("Error: non-delivered order cannot be exchanged", order_id=find_order(db, "pending")["order_id"])
    refused("Error: 0000 not found", item_ids=["0000"], new_item_ids=[new_id])
    refused("Error: the number of items to be exchanged should match", new_item_ids=[])
    refused("Error: new item 0000 not found or available", new_item_ids=["0000"])
    refused("Error: payment method not found", payment_method_id="paypal_0000000")
    db["orders"].edit(order_id)["items"][order["items"].index(item)]["price"] = 0.01
    refused(
        "Error: insufficient gift card balance to pay for the price difference",
        payment_method_id=gift_card_of(db, order["user_id"], 0),
    )


# --- generated database and tasks ------------------------------------------------------------


def test_generated_database_is_consistent(base: dict[str, dict]) -> None:
    orders, products, users = base["orders"], base["products"], base["users"]
    assert {o["status"] for o in orders.values()} == {"pending", "processed", "delivered", "cancelled"}
    for user_id, user in users.items():
        assert set(user["orders"]) == {o for o, order in orders.items() if order["user_id"] == user_id}
    for order in orders.values():
        assert order["payment_history"][0]["payment_method_id"] in users[order["user_id"]]["payment_methods"]
        assert order["payment_history"][0]["amount"] == round(sum(i["price"] for i in order["items"]), 2)
        for item in order["items"]:
            assert products[item["product_id"]]["variants"][item["item_id"]]["options"] == item["options"]
    assert generate_database(0) == base and generate_database(1) != base


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_generated_gold_actions_succeed(seed: int) -> None:
    data = generate_database(seed)
    tasks = generate_tasks(data, seed)
    assert len(tasks["train"]) >= 200 and len(tasks["test"]) >= 50
    root = Database(data)
    initial = root.state_hash()
    all_tasks = tasks["train"] + tasks["test"]
    changing = 0
    for task in all_tasks:
        assert task.domain == "retail" and task.reward_basis is RewardBasis.AUTO
        assert task.id.startswith(f"retail-{task.split}-") and task.instruction.startswith("You are ")
        db = root.fork()
        for action in task.actions:
            observation = TOOLS.invoke(db, action).observation
            assert not observation.startswith("Error"), (task.id, action, observation)
        writes = any(TOOLS[a.name].kind is ToolKind.WRITE for a in task.actions)
        assert (db.state_hash() != initial) == writes, task.id
        assert not (task.metadata["refusal"] and writes), task.id
        changing += writes
    assert changing * 2 >= len(all_tasks)
    assert any(t.metadata["refusal"] for t in tasks["test"]) and any(t.outputs for t in tasks["test"])
    assert [t.to_dict() for t in generate_tasks(data, seed)["test"]] == [t.to_dict() for t in tasks["test"]]


def test_the_seed_tool_set_is_every_retail_tool() -> None:
    assert DOMAIN.tools_for("seed").names == TOOLS.names and len(TOOLS) == 16
    assert DOMAIN.tools_for("default") is TOOLS
