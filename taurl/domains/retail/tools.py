"""The retail domain's tools, behaving exactly as τ-bench's retail tools do.

Every name, argument, return string and database effect (including the order of checks, which
records change before a late failure, and the float arithmetic behind refunds and balances)
matches τ-bench, because τ-bench's gold final-state hashes are the acceptance test. Refusals
that τ-bench returns as ``"Error: ..."`` strings are raised here as :class:`~taurl.core.tools.Refusal`,
which the registry turns back into the same string, so the checks read as straight-line code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from taurl.core.db import Database, Record
from taurl.core.tools import Refusal, ToolRegistry
from taurl.domains import common

TOOLS = ToolRegistry("retail")

CancelReason = Literal["no longer needed", "ordered by mistake"]


# --- shared checks ---------------------------------------------------------------------------


def _order_in_status(db: Database, order_id: str, status: str, refusal: str) -> Record:
    """The order (read-only), provided it exists and has ``status``; ``refusal`` says why not otherwise."""
    orders = db["orders"]
    if order_id not in orders:
        raise Refusal("order not found")
    order = orders[order_id]
    if order["status"] != status:
        raise Refusal(refusal)
    return order


def _payment_method(db: Database, order: Record, payment_method_id: str) -> Record:
    """One of the order owner's payment methods (read-only)."""
    methods = db["users"][order["user_id"]]["payment_methods"]
    if payment_method_id not in methods:
        raise Refusal("payment method not found")
    return methods[payment_method_id]


def _editable_payment_method(db: Database, user_id: str, payment_method_id: str) -> Record:
    return db["users"].edit(user_id)["payment_methods"][payment_method_id]


def _require_items_in_order(order: Record, item_ids: list[str], refusal: Callable[[str], str]) -> None:
    """Every listed item id, counted with repetition, occurs at least that often in the order."""
    ordered = [item["item_id"] for item in order["items"]]
    for item_id in item_ids:
        if item_ids.count(item_id) > ordered.count(item_id):
            raise Refusal(refusal(item_id))


def _first_item(order: Record, item_id: str) -> Record:
    """The first line of the order carrying ``item_id`` (τ-bench always picks the first)."""
    return [item for item in order["items"] if item["item_id"] == item_id][0]


def _swap_price_difference(db: Database, order: Record, item_ids: list[str], new_item_ids: list[str]) -> Any:
    """What swapping each item for the new item at the same position costs (negative: refund).

    Each new item must be an available variant of the old item's product. The sum starts from the
    integer 0 and adds ``new - old`` per pair, unrounded: the exact float τ-bench computes.
    """
    if len(item_ids) != len(new_item_ids):
        raise Refusal("the number of items to be exchanged should match")
    products = db["products"]
    difference: Any = 0
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = _first_item(order, item_id)
        variants = products[item["product_id"]]["variants"]
        if not (new_item_id in variants and variants[new_item_id]["available"]):
            raise Refusal(f"new item {new_item_id} not found or available")
        difference += variants[new_item_id]["price"] - item["price"]
    return difference


def _require_gift_card_covers(method: Record, amount: Any, refusal: str) -> None:
    if method["source"] == "gift_card" and method["balance"] < amount:
        raise Refusal(refusal)


def _priced_swap(
    db: Database,
    order: Record,
    item_ids: list[str],
    new_item_ids: list[str],
    payment_method_id: str,
    shortfall: str,
    rounded: bool = False,
) -> tuple[Any, Record]:
    """The checks of swapping items of ``order`` (an exchange or a modification), in τ-bench's order:
    the items are in the order, the new ones available variants, the payment method the owner's and,
    when a gift card, enough to pay the difference (``shortfall`` finishes the refusal). Returns the
    price difference (rounded to cents for an exchange, as τ-bench does) and the method (read-only)."""
    _require_items_in_order(order, item_ids, lambda item_id: f"{item_id} not found")
    difference = _swap_price_difference(db, order, item_ids, new_item_ids)
    if rounded:
        difference = round(difference, 2)
    method = _payment_method(db, order, payment_method_id)
    _require_gift_card_covers(method, difference, f"insufficient gift card balance {shortfall}")
    return difference, method


def _address(address1: str, address2: str, city: str, state: str, country: str, zip: str) -> dict[str, str]:
    """An address record, keys in the order τ-bench writes them (it shows in the returned JSON)."""
    return {"address1": address1, "address2": address2, "city": city, "state": state, "country": country, "zip": zip}


# --- tools, in τ-bench's order ---------------------------------------------------------------


TOOLS.think(common.calculate)


@TOOLS.write
def cancel_pending_order(db: Database, order_id: str, reason: CancelReason) -> str:
    """Cancel an order that is still pending (processed or delivered orders cannot be cancelled).

    Explain what will be cancelled and get an explicit yes from the user first. Every payment of
    the order is refunded to the method that paid it: gift cards are credited at once, other
    methods within 5-7 business days. Returns the cancelled order.

    Args:
        order_id: The order's id, which starts with '#', e.g. '#W0000000'.
        reason: Why the user cancels: 'no longer needed' or 'ordered by mistake'.
    """
    order = _order_in_status(db, order_id, "pending", "non-pending order cannot be cancelled")
    if reason not in ("no longer needed", "ordered by mistake"):
        raise Refusal("invalid reason")
    refunds = []
    for payment in order["payment_history"]:
        method_id = payment["payment_method_id"]
        refunds.append({"transaction_type": "refund", "amount": payment["amount"], "payment_method_id": method_id})
        if "gift_card" in method_id:
            card = _editable_payment_method(db, order["user_id"], method_id)
            card["balance"] = round(card["balance"] + payment["amount"], 2)
    order = db["orders"].edit(order_id)
    order["status"] = "cancelled"
    order["cancel_reason"] = reason
    order["payment_history"].extend(refunds)
    return json.dumps(order)


@TOOLS.write
def exchange_delivered_order_items(
    db: Database, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    """Ask to exchange items of a delivered order for other options of the same products.

    A delivered order can be returned or exchanged only once, so collect every item first, explain
    the exchange and get an explicit yes from the user. The order becomes 'exchange requested'.

    Args:
        order_id: The order's id, which starts with '#', e.g. '#W0000000'.
        item_ids: Item ids to exchange, e.g. '1008292230'; repeat an id to exchange several units of it.
        new_item_ids: For each entry of item_ids, at the same position, the item id to receive instead,
            which must be a variant of the same product.
        payment_method_id: The user's payment method that pays or receives the price difference,
            e.g. 'gift_card_0000000' or 'credit_card_0000000' (see the user's or the order's details).
    """
    order = _order_in_status(db, order_id, "delivered", "non-delivered order cannot be exchanged")
    difference, _ = _priced_swap(
        db, order, item_ids, new_item_ids, payment_method_id, "to pay for the price difference", rounded=True
    )
    order = db["orders"].edit(order_id)
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(item_ids)
    order["exchange_new_items"] = sorted(new_item_ids)
    order["exchange_payment_method_id"] = payment_method_id
    order["exchange_price_difference"] = difference
    return json.dumps(order)


def _find_user(db: Database, matches: Callable[[Record], bool]) -> str:
    """The id of the first user, in database order, that ``matches``."""
    users = db["users"]
    for user_id in users:
        if matches(users[user_id]):
            return user_id
    return "Error: user not found"


@TOOLS.read
def find_user_id_by_email(db: Database, email: str) -> str:
    """Look up a user's id from their email address (case-insensitive); an error if nobody has it.

    Args:
        email: The user's email address, e.g. 'someone@example.com'.
    """
    return _find_user(db, lambda user: user["email"].lower() == email.lower())


@TOOLS.read
def find_user_id_by_name_zip(db: Database, first_name: str, last_name: str, zip: str) -> str:
    """Look up a user's id from their first and last name (case-insensitive) and zip code.

    Prefer the email lookup; use this one when the user cannot give an email or it finds nobody.
    Returns an error if no user matches.

    Args:
        first_name: The user's first name, e.g. 'Ada'.
        last_name: The user's last name, e.g. 'Lovelace'.
        zip: The zip code of the user's default address, e.g. '10001'.
    """

    def matches(user: Record) -> bool:
        name = user["name"]
        return (
            name["first_name"].lower() == first_name.lower()
            and name["last_name"].lower() == last_name.lower()
            and user["address"]["zip"] == zip
        )

    return _find_user(db, matches)


def _record_json(db: Database, table: str, key: str, missing: str) -> str:
    records = db[table]
    if key in records:
        return json.dumps(records[key])
    return f"Error: {missing}"


@TOOLS.read
def get_order_details(db: Database, order_id: str) -> str:
    """Show an order: its status, items, shipping address, fulfillments and payments.

    Args:
        order_id: The order's id, which starts with '#', e.g. '#W0000000'.
    """
    return _record_json(db, "orders", order_id, "order not found")


@TOOLS.read
def get_product_details(db: Database, product_id: str) -> str:
    """Show a product type with all its variant items: options, price and availability.

    Args:
        product_id: The product's id, e.g. '6086499569' (a product id, not the id of one of its items).
    """
    return _record_json(db, "products", product_id, "product not found")


@TOOLS.read
def get_user_details(db: Database, user_id: str) -> str:
    """Show a user's profile: name, email, default address, payment methods and order ids.

    Args:
        user_id: The user's id, e.g. 'ada_lovelace_1815'.
    """
    return _record_json(db, "users", user_id, "user not found")


@TOOLS.read
def list_all_product_types(db: Database) -> str:
    """List every product type the store sells as a JSON object from product name to product id.

    Each product type comes in several variant items, each with its own item id and options.
    """
    products = db["products"]
    by_name = {products[key]["name"]: products[key]["product_id"] for key in products}
    return json.dumps(dict(sorted(by_name.items())))


@TOOLS.write
def modify_pending_order_address(
    db: Database, order_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> str:
    """Change where a pending order will be shipped, after explaining the change and getting an explicit yes.

    Args:
        order_id: The order's id, which starts with '#', e.g. '#W0000000'.
        address1: Street line of the address, e.g. '12 Elm Street'.
        address2: Second line (apartment, suite), or '' when there is none.
        city: City, e.g. 'Portland'.
        state: State code, e.g. 'OR'.
        country: Country, e.g. 'USA'.
        zip: Zip code, e.g. '97201'.
    """
    _order_in_status(db, order_id, "pending", "non-pending order cannot be modified")
    order = db["orders"].edit(order_id)
    order["address"] = _address(address1, address2, city, state, country, zip)
    return json.dumps(order)


@TOOLS.write
def modify_pending_order_items(
    db: Database, order_id: str, item_ids: list[str], new_item_ids: list[str], payment_method_id: str
) -> str:
    """Swap items of a pending order for other options of the same products.

    This can be done only once per order and the order can then no longer be changed or cancelled,
    so collect every item first, explain the change and get an explicit yes from the user.

    Args:
        order_id: The order's id, which starts with '#', e.g. '#W0000000'.
        item_ids: Item ids to change, e.g. '1008292230'; repeat an id to change several units of it.
        new_item_ids: For each entry of item_ids, at the same position, the item id to get instead,
            which must be a variant of the same product.
        payment_method_id: The user's payment method that pays or receives the price difference,
            e.g. 'gift_card_0000000' or 'credit_card_0000000' (see the user's or the order's details).
    """
    order = _order_in_status(db, order_id, "pending", "non-pending order cannot be modified")
    difference, method = _priced_swap(db, order, item_ids, new_item_ids, payment_method_id, "to pay for the new item")

    order = db["orders"].edit(order_id)
    order["payment_history"].append(
        {
            "transaction_type": "payment" if difference > 0 else "refund",
            "amount": abs(difference),
            "payment_method_id": payment_method_id,
        }
    )
    if method["source"] == "gift_card":
        card = _editable_payment_method(db, order["user_id"], payment_method_id)
        card["balance"] = round(card["balance"] - difference, 2)
    # one pair at a time, each lookup seeing the earlier swaps, as in τ-bench
    for item_id, new_item_id in zip(item_ids, new_item_ids, strict=True):
        item = _first_item(order, item_id)
        variant = db["products"][item["product_id"]]["variants"][new_item_id]
        item["item_id"] = new_item_id
        item["price"] = variant["price"]
        item["options"] = dict(variant["options"])
    order["status"] = "pending (item modified)"
    return json.dumps(order)


@TOOLS.write
def modify_pending_order_payment(db: Database, order_id: str, payment_method_id: str) -> str:
    """Pay for a pending order with a different payment method of the user.

    The new method is charged the order total and the original one refunded (a gift card at once).
    Explain the change and get an explicit yes from the user first.

    Args:
        order_id: The order's id, which starts with '#', e.g. '#W0000000'.
        payment_method_id: The user's payment method to pay with from now on, e.g. 'gift_card_0000000'
            or 'credit_card_0000000' (see the user's or the order's details).
    """
    order = _order_in_status(db, order_id, "pending", "non-pending order cannot be modified")
    method = _payment_method(db, order, payment_method_id)
    history = order["payment_history"]
    if len(history) > 1 or history[0]["transaction_type"] != "payment":
        raise Refusal("there should be exactly one payment for a pending order")
    original = history[0]
    if original["payment_method_id"] == payment_method_id:
        raise Refusal("the new payment method should be different from the current one")
    amount = original["amount"]
    _require_gift_card_covers(method, amount, "insufficient gift card balance to pay for the order")

    user_id, original_id = order["user_id"], original["payment_method_id"]
    db["orders"].edit(order_id)["payment_history"].extend(
        [
            {"transaction_type": "payment", "amount": amount, "payment_method_id": payment_method_id},
            {"transaction_type": "refund", "amount": amount, "payment_method_id": original_id},
        ]
    )
    if method["source"] == "gift_card":
        card = _editable_payment_method(db, user_id, payment_method_id)
        card["balance"] = round(card["balance"] - amount, 2)
    if "gift_card" in original_id:
        card = _editable_payment_method(db, user_id, original_id)
        card["balance"] = round(card["balance"] + amount, 2)
    return json.dumps(db["orders"][order_id])


@TOOLS.write
def modify_user_address(
    db: Database, user_id: str, address1: str, address2: str, city: str, state: str, country: str, zip: str
) -> str:
    """Change a user's default address, after explaining the change and getting an explicit yes.

    Args:
        user_id: The user's id, e.g. 'ada_lovelace_1815'.
        address1: Street line of the address, e.g. '12 Elm Street'.
        address2: Second line (apartment, suite), or '' when there is none.
        city: City, e.g. 'Portland'.
        state: State code, e.g. 'OR'.
        country: Country, e.g. 'USA'.
        zip: Zip code, e.g. '97201'.
    """
    if user_id not in db["users"]:
        raise Refusal("user not found")
    user = db["users"].edit(user_id)
    user["address"] = _address(address1, address2, city, state, country, zip)
    return json.dumps(user)


@TOOLS.write
def return_delivered_order_items(db: Database, order_id: str, item_ids: list[str], payment_method_id: str) -> str:
    """Ask to return items of a delivered order; the order becomes 'return requested'.

    A delivered order can be returned or exchanged only once. The refund goes to the original
    payment method or to one of the user's gift cards. Explain the return and get an explicit yes
    first; the user is then emailed how to send the items back.

    Args:
        order_id: The order's id, which starts with '#', e.g. '#W0000000'.
        item_ids: Item ids to return, e.g. '1008292230'; repeat an id to return several units of it.
        payment_method_id: Where the refund goes: the order's original payment method or a gift card of
            the user, e.g. 'gift_card_0000000' or 'credit_card_0000000'.
    """
    order = _order_in_status(db, order_id, "delivered", "non-delivered order cannot be returned")
    _payment_method(db, order, payment_method_id)
    if "gift_card" not in payment_method_id and payment_method_id != order["payment_history"][0]["payment_method_id"]:
        raise Refusal("payment method should be either the original payment method or a gift card")
    _require_items_in_order(order, item_ids, lambda _: "some item not found")
    order = db["orders"].edit(order_id)
    order["status"] = "return requested"
    order["return_items"] = sorted(item_ids)
    order["return_payment_method_id"] = payment_method_id
    return json.dumps(order)


TOOLS.think(common.think)


TOOLS.terminate(common.transfer_to_human_agents)
