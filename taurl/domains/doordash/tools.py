"""The doordash domain's tools: a food-delivery service's customer-support desk.

The fourteen tools of the seed system (CTU's τ-bench fork) keep its names, parameters and JSON
types, so its tool calls run unchanged; unlike the seed's, the write tools really change the
database and enforce the policy (policy.md): orders are priced deterministically, cancellations
refund by status, changes are allowed only before the restaurant or the courier has the order.
Four tools the seed lacks (item refunds, promo codes, ratings, saved addresses) make refunds and
account changes possible. A refused request returns ``Error: <why>`` and changes nothing: every
check runs before the first edit.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, Literal

from taurl.core.db import Database, Record
from taurl.core.tools import Refusal, ToolRegistry
from taurl.domains import common

TOOLS = ToolRegistry("doordash")

NOW = "2025-01-15T19:00:00"  # the service's fixed current time (policy: "How the service works")
TAX_RATE = 0.08
REFUND_WINDOW = timedelta(days=7)
PREPARING_REFUND_SHARE = 0.5
FREE_DELIVERY_MEMBERSHIP = "premium"

BEFORE_PREPARATION = ("scheduled", "placed", "confirmed")
BEFORE_PICKUP = (*BEFORE_PREPARATION, "preparing")

# code -> terms; "percent" codes take that share of the subtotal, capped at "max"
PROMO_CODES: dict[str, dict[str, Any]] = {
    "WELCOME5": {"kind": "fixed", "amount": 5.0, "min_subtotal": 20.0},
    "SAVE15": {"kind": "percent", "percent": 15, "max": 10.0, "min_subtotal": 30.0},
    "FREEDELIVERY": {"kind": "delivery_fee"},
    "PREMIUM20": {"kind": "percent", "percent": 20, "max": 15.0, "membership": "premium"},
    "HOLIDAY25": {"kind": "percent", "percent": 25, "max": 20.0, "expires": "2025-01-01T00:00:00"},
}

CancelReason = Literal["changed my mind", "ordered by mistake", "delivery too slow", "wrong order details", "other"]
RefundReason = Literal["missing item", "wrong item", "damaged or spilled"]


# --- lookups ---------------------------------------------------------------------------------


_user = common.record_lookup("users", "user")
_restaurant = common.record_lookup("restaurants", "restaurant")
_order = common.record_lookup("orders", "order")


def _order_owner(db: Database, order: Record) -> Record:
    if order["user_id"] not in db["users"]:
        raise Refusal(f"the customer {order['user_id']} of order {order['order_id']} is not on file")
    return db["users"][order["user_id"]]


def _menu_items(restaurant: Record) -> list[Record]:
    return [item for category in restaurant["full_menu"]["categories"] for item in category["items"]]


def _menu_item(restaurant: Record, item_id: str) -> Record:
    item = next((item for item in _menu_items(restaurant) if item["id"] == item_id), None)
    if item is None:
        raise Refusal(f"menu item {item_id} not found at {restaurant['name']} ({restaurant['restaurant_id']})")
    return item


def _orderable_item(restaurant: Record, item_id: Any) -> Record:
    if not isinstance(item_id, str):
        raise Refusal(f"item_id must be a string such as 'MI001', got {item_id!r:.40}")
    item = _menu_item(restaurant, item_id)
    if not item["available"]:
        raise Refusal(f"{item['name']} ({item_id}) is currently unavailable")
    return item


def _require_open(restaurant: Record) -> None:
    if restaurant["status"] != "open":
        raise Refusal(f"{restaurant['name']} ({restaurant['restaurant_id']}) is {restaurant['status']} now")


def _quantity(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise Refusal(f"quantity must be a whole number of at least 1, got {value!r:.40}")
    return value


def _city(restaurant: Record) -> str:
    """The city of a restaurant address written 'street, city, state zip'."""
    parts = restaurant["address"].split(", ")
    return parts[1] if len(parts) >= 3 else ""


def _saved_address(user: Record, address_id: str | None) -> Record:
    """One of the user's saved delivery addresses; None means the default one."""
    addresses = user["delivery_addresses"]
    if address_id is None:
        found = next((a for a in addresses if a["is_default"]), addresses[0] if addresses else None)
        if found is None:
            raise Refusal(f"user {user['user_id']} has no saved delivery address")
        return found
    found = next((a for a in addresses if a["id"] == address_id), None)
    if found is None:
        saved = ", ".join(a["id"] for a in addresses) or "none"
        raise Refusal(
            f"delivery address must be the id of one of the customer's saved addresses ({saved}), got {address_id!r:.60}"
        )
    return found


def _require_in_zone(restaurant: Record, address: Record) -> None:
    if address["city"].lower() != _city(restaurant).lower():
        raise Refusal(
            f"{address['street']}, {address['city']} is outside the delivery zone of {restaurant['name']} "
            f"(it delivers in {_city(restaurant) or 'its own city'} only)"
        )


def _payment_method_id(user: Record, method_id: str | None) -> str:
    """The id of one of the user's payment methods; None means the default one."""
    methods = user["payment_methods"]
    if not methods:
        raise Refusal(f"user {user['user_id']} has no payment method on file")
    if method_id is None:
        return next((m for m in methods if m.get("is_default")), methods[0])["id"]
    if not any(m["id"] == method_id for m in methods):
        raise Refusal(
            f"payment method {method_id!r:.60} is not on file for user {user['user_id']} "
            f"(on file: {', '.join(m['id'] for m in methods)})"
        )
    return method_id


def _require_status(order: Record, allowed: tuple[str, ...], action: str) -> None:
    if order["status"] not in allowed:
        raise Refusal(f"order {order['order_id']} is {order['status']}; {action}")


def _refunded(order: Record) -> float:
    return round(sum(refund["amount"] for refund in order.get("refunds", [])), 2)


def _add_refund(order: Record, amount: float, kind: str, **details: Any) -> None:
    order.setdefault("refunds", []).append(
        {"type": kind, "amount": amount, "payment_method_id": order["payment_method_id"], "date": NOW, **details}
    )


def _timestamp(value: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise Refusal(f"{what} {value!r:.40} is not a date") from exc


def _reply(message: str, **fields: Any) -> str:
    return json.dumps({"message": message, **fields})


# --- restaurants and menus -------------------------------------------------------------------


def _longest_delivery_minutes(restaurant: Record) -> int | None:
    """The upper end of an estimate such as '30-45 min', or None when it has no range."""
    match = re.match(r"\s*\d+\s*-\s*(\d+)", restaurant["estimated_delivery_time"])
    return int(match.group(1)) if match else None


def _search_matches(
    restaurant: Record,
    cuisine: str | None,
    location: str | None,
    price_range: str | None,
    rating_min: float | None,
    dietary_options: list[str] | None,
    delivery_time_max: int | None,
) -> bool:
    """Whether a restaurant passes every given filter (a dietary list needs any one option)."""
    longest = _longest_delivery_minutes(restaurant)
    checks = [
        not cuisine or cuisine.lower() in restaurant["cuisine"].lower(),
        not location or location.lower() in restaurant["address"].lower(),
        not price_range or restaurant["price_range"] == price_range,
        rating_min is None or restaurant["rating"] >= rating_min,
        not dietary_options or any(option in restaurant["dietary_options"] for option in dietary_options),
        delivery_time_max is None or longest is None or longest <= delivery_time_max,
    ]
    return all(checks)


_SUMMARY_FIELDS = (
    "restaurant_id",
    "name",
    "cuisine",
    "rating",
    "review_count",
    "price_range",
    "delivery_fee",
    "minimum_order",
    "estimated_delivery_time",
    "status",
    "address",
    "dietary_options",
)


@TOOLS.read
def search_restaurants(
    db: Database,
    cuisine: str | None = None,
    location: str | None = None,
    price_range: str | None = None,
    rating_min: float | None = None,
    dietary_options: list[str] | None = None,
    delivery_time_max: int | None = None,
) -> str:
    """Find restaurants matching every filter given (all optional); returns short summaries with ids and status.

    Args:
        cuisine: Cuisine, matched as part of the restaurant's cuisine ignoring case, e.g. 'Thai'.
        location: Text to find in the restaurant's address ignoring case, e.g. a city 'Austin' or a zip code.
        price_range: Exact price range: '$', '$$' or '$$$'.
        rating_min: Lowest acceptable rating, e.g. 4.5.
        dietary_options: Dietary options, of which the restaurant must offer at least one, e.g. ['vegan'].
        delivery_time_max: Longest acceptable delivery time in minutes (compared with the upper end of the estimate).
    """
    restaurants = db["restaurants"]
    results = [
        {field: restaurants[key][field] for field in _SUMMARY_FIELDS}
        for key in restaurants
        if _search_matches(
            restaurants[key], cuisine, location, price_range, rating_min, dietary_options, delivery_time_max
        )
    ]
    return json.dumps({"results": results, "total_count": len(results)})


@TOOLS.read
def get_restaurant_details(db: Database, restaurant_id: str) -> str:
    """Show a restaurant: address, status (open or closed), hours, fees, minimum order, rating and full menu.

    Args:
        restaurant_id: The restaurant's id, e.g. 'R001'.
    """
    return json.dumps(_restaurant(db, restaurant_id))


@TOOLS.read
def get_restaurant_menu(db: Database, restaurant_id: str, category: str | None = None) -> str:
    """Show a restaurant's menu by category: each item's id, name, price, availability and dietary information.

    Args:
        restaurant_id: The restaurant's id, e.g. 'R001'.
        category: Only categories whose name contains this text (ignoring case), e.g. 'Desserts'.
    """
    restaurant = _restaurant(db, restaurant_id)
    menu = restaurant["full_menu"]
    header = {"restaurant_id": restaurant["restaurant_id"], "restaurant_name": restaurant["name"]}
    if category is None:
        return json.dumps({**header, "menu": menu})
    chosen = [c for c in menu["categories"] if category.lower() in c["name"].lower()]
    if not chosen:
        names = ", ".join(c["name"] for c in menu["categories"])
        raise Refusal(f"{restaurant['name']} has no menu category matching {category!r:.40} (categories: {names})")
    return json.dumps({**header, "categories": chosen, "filtered_by": category})


@TOOLS.read
def get_item_details(db: Database, restaurant_id: str, item_id: str) -> str:
    """Show one menu item of a restaurant: description, price, availability, dietary information, calories.

    Args:
        restaurant_id: The restaurant's id, e.g. 'R001'.
        item_id: The menu item's id at that restaurant, e.g. 'MI001'.
    """
    restaurant = _restaurant(db, restaurant_id)
    item = _menu_item(restaurant, item_id)
    return json.dumps({"restaurant_id": restaurant_id, "restaurant_name": restaurant["name"], "item": item})


# --- users -----------------------------------------------------------------------------------


@TOOLS.read
def get_user_details(db: Database, user_id: str) -> str:
    """Show a customer's profile: name, contact, membership, payment methods, saved delivery addresses and cart.

    Args:
        user_id: The customer's id, e.g. 'U001'.
    """
    return json.dumps(_user(db, user_id))


@TOOLS.read
def get_user_order_history(db: Database, user_id: str, limit: int = 10) -> str:
    """List a customer's orders, newest first: id, restaurant, status, date and total of each.

    Args:
        user_id: The customer's id, e.g. 'U001'.
        limit: How many of the newest orders to list (default 10).
    """
    _user(db, user_id)
    if limit < 1:
        raise Refusal(f"limit must be at least 1, got {limit}")
    orders = db["orders"]
    mine = sorted(
        (orders[key] for key in orders if orders[key]["user_id"] == user_id),
        key=lambda order: (order["order_date"], order["order_id"]),
        reverse=True,
    )
    summaries = [
        {
            "order_id": order["order_id"],
            "restaurant_id": order["restaurant_id"],
            "restaurant_name": order["restaurant_name"],
            "status": order["status"],
            "order_date": order["order_date"],
            "total": order["total"],
        }
        for order in mine[:limit]
    ]
    return json.dumps(
        {"user_id": user_id, "orders": summaries, "total_orders": len(mine), "returned_count": len(summaries)}
    )


# --- orders ----------------------------------------------------------------------------------


def _order_lines(restaurant: Record, items: list[dict]) -> list[dict]:
    """Priced order lines for requested items ``{"item_id", "quantity"?}``, each orderable now."""
    if not items:
        raise Refusal("an order needs at least one item")
    lines = []
    for request in items:
        if "item_id" not in request:
            raise Refusal(f"each item needs an 'item_id' (and optionally a 'quantity'), got {request!r:.80}")
        item = _orderable_item(restaurant, request["item_id"])
        quantity = _quantity(request.get("quantity", 1))
        lines.append(
            {
                "item_id": item["id"],
                "name": item["name"],
                "quantity": quantity,
                "unit_price": item["price"],
                "total_price": round(item["price"] * quantity, 2),
            }
        )
    return lines


@TOOLS.write
def create_order(
    db: Database,
    user_id: str,
    restaurant_id: str,
    items: list[dict],
    delivery_address: str | None = None,
    payment_method: str | None = None,
    special_instructions: str | None = None,
) -> str:
    """Place an order for delivery now from an open restaurant, charged to a card on file.

    Confirm the items, address, card and total with the customer first. The subtotal must reach the
    restaurant's minimum order and the address must be in the restaurant's city. Total = subtotal +
    delivery fee (waived for premium members) + 8% tax on the subtotal. Placing an order empties the
    customer's cart if it holds items from this restaurant.

    Args:
        user_id: The customer's id, e.g. 'U001'.
        restaurant_id: The restaurant's id, e.g. 'R001'.
        items: The items, each an object {"item_id": "MI001", "quantity": 2} (quantity defaults to 1).
        delivery_address: The id of one of the customer's saved addresses, e.g. 'addr_123456'; default: their default address.
        payment_method: The id of one of the customer's payment methods, e.g. 'credit_card_1234567'; default: their default card.
        special_instructions: A note for the restaurant or the courier, e.g. 'Leave at door'.
    """
    user = _user(db, user_id)
    restaurant = _restaurant(db, restaurant_id)
    _require_open(restaurant)
    lines = _order_lines(restaurant, items)
    subtotal = round(sum(line["total_price"] for line in lines), 2)
    if subtotal < restaurant["minimum_order"]:
        raise Refusal(
            f"the subtotal {subtotal} is below the minimum order of {restaurant['minimum_order']} at {restaurant['name']}"
        )
    address = _saved_address(user, delivery_address)
    _require_in_zone(restaurant, address)
    method_id = _payment_method_id(user, payment_method)

    delivery_fee = 0.0 if user["membership"]["type"] == FREE_DELIVERY_MEMBERSHIP else restaurant["delivery_fee"]
    tax = round(subtotal * TAX_RATE, 2)
    fields = {
        "user_id": user_id,
        "restaurant_id": restaurant_id,
        "restaurant_name": restaurant["name"],
        "items": lines,
        "subtotal": subtotal,
        "delivery_fee": delivery_fee,
        "tax": tax,
        "tip": 0.0,
        "total": round(subtotal + delivery_fee + tax, 2),
        "status": "placed",
        "order_date": NOW,
        "delivery_address": dict(address),
        "payment_method_id": method_id,
        "special_instructions": special_instructions or "",
        "estimated_delivery_time": restaurant["estimated_delivery_time"],
        "driver_id": None,
        "rating": None,
    }
    order = common.insert_numbered(db, "orders", "O", "order_id", fields)
    order_id = order["id"]
    customer = db["users"].edit(user_id)
    customer["order_history"].append(order_id)
    if customer.get("cart", {}).get("restaurant_id") == restaurant_id:
        del customer["cart"]
    return _reply(f"Order {order_id} placed", order=order)


@TOOLS.read
def get_order_status(db: Database, order_id: str) -> str:
    """Show an order: its status, items, prices, delivery address, payment method, refunds and rating.

    Args:
        order_id: The order's id, e.g. 'O0001'.
    """
    return json.dumps(_order(db, order_id))


@TOOLS.write
def update_order(
    db: Database,
    order_id: str,
    status: str | None = None,
    delivery_address: str | None = None,
    special_instructions: str | None = None,
) -> str:
    """Change where an order goes or its special instructions, after the customer confirms the change.

    The delivery address can change only before the restaurant starts preparing (scheduled, placed,
    confirmed), to another saved address of the customer in the restaurant's city. Special
    instructions can change until the courier picks the order up. The status cannot be set here:
    restaurants and couriers move it forward, and cancel_order cancels.

    Args:
        order_id: The order's id, e.g. 'O0001'.
        status: Not accepted: use cancel_order to cancel an order.
        delivery_address: The id of another saved address of the customer, e.g. 'addr_123456'.
        special_instructions: The new note for the restaurant or the courier; it replaces the old one.
    """
    order = _order(db, order_id)
    if status is not None:
        raise Refusal("the status of an order cannot be set by an agent; use cancel_order to cancel it")
    if delivery_address is None and special_instructions is None:
        raise Refusal("nothing to update: give a delivery_address or special_instructions")
    changes: dict[str, Any] = {}
    if delivery_address is not None:
        _require_status(order, BEFORE_PREPARATION, "its delivery address can no longer be changed")
        address = _saved_address(_order_owner(db, order), delivery_address)
        _require_in_zone(_restaurant(db, order["restaurant_id"]), address)
        changes["delivery_address"] = dict(address)
    if special_instructions is not None:
        _require_status(order, BEFORE_PICKUP, "its special instructions can no longer be changed")
        changes["special_instructions"] = special_instructions
    order = db["orders"].edit(order_id)
    order.update(changes)
    return _reply(f"Order {order_id} updated", updated_fields=list(changes), order=order)


@TOOLS.write
def cancel_order(db: Database, order_id: str, reason: CancelReason | None = None) -> str:
    """Cancel an order that the courier has not picked up yet, after the customer confirms.

    Before the restaurant starts preparing (scheduled, placed, confirmed) the whole total is
    refunded; while it is preparing, half of the total. Orders out for delivery, delivered or
    already cancelled cannot be cancelled. The refund goes to the card that paid.

    Args:
        order_id: The order's id, e.g. 'O0001'.
        reason: Why the customer cancels: 'changed my mind', 'ordered by mistake', 'delivery too slow',
            'wrong order details' or 'other'.
    """
    order = _order(db, order_id)
    _require_status(order, BEFORE_PICKUP, "only orders not yet picked up by the courier can be cancelled")
    share = 1.0 if order["status"] in BEFORE_PREPARATION else PREPARING_REFUND_SHARE
    refund = round(max(order["total"] - _refunded(order), 0.0) * share, 2)
    order = db["orders"].edit(order_id)
    order["status"] = "cancelled"
    order["cancellation_reason"] = reason or "other"
    _add_refund(order, refund, "cancellation")
    return _reply(f"Order {order_id} cancelled", refund_amount=refund, order=order)


# --- cart ------------------------------------------------------------------------------------


@TOOLS.write
def add_item_to_cart(
    db: Database,
    user_id: str,
    restaurant_id: str,
    item_id: str,
    quantity: int = 1,
    customizations: dict | None = None,
) -> str:
    """Put a menu item in the customer's cart (kept on their profile) without ordering it.

    A cart holds items of one restaurant only; the same item with the same customizations adds to
    its quantity. Placing an order from that restaurant empties the cart.

    Args:
        user_id: The customer's id, e.g. 'U001'.
        restaurant_id: The restaurant's id, e.g. 'R001'.
        item_id: The menu item's id at that restaurant, e.g. 'MI001'.
        quantity: How many to add (default 1).
        customizations: Requests about the item, e.g. {"spice level": "mild"}.
    """
    user = _user(db, user_id)
    restaurant = _restaurant(db, restaurant_id)
    _require_open(restaurant)
    item = _orderable_item(restaurant, item_id)
    quantity = _quantity(quantity)
    customizations = customizations or {}
    cart = user.get("cart")
    if cart and cart["items"] and cart["restaurant_id"] != restaurant_id:
        raise Refusal(
            f"the cart already holds items from {cart['restaurant_name']} ({cart['restaurant_id']}); "
            "a cart holds items of one restaurant only"
        )
    cart = (
        db["users"]
        .edit(user_id)
        .setdefault(
            "cart",
            {"restaurant_id": restaurant_id, "restaurant_name": restaurant["name"], "items": [], "subtotal": 0.0},
        )
    )
    cart["restaurant_id"], cart["restaurant_name"] = restaurant_id, restaurant["name"]
    line = next((x for x in cart["items"] if x["item_id"] == item_id and x["customizations"] == customizations), None)
    if line is None:
        line = {
            "item_id": item_id,
            "name": item["name"],
            "quantity": 0,
            "unit_price": item["price"],
            "total_price": 0.0,
            "customizations": customizations,
        }
        cart["items"].append(line)
    line["quantity"] += quantity
    line["total_price"] = round(line["unit_price"] * line["quantity"], 2)
    cart["subtotal"] = round(sum(x["total_price"] for x in cart["items"]), 2)
    return _reply(f"Added {quantity} x {item['name']} to the cart", cart=cart)


# --- refunds, promotions, ratings, addresses -------------------------------------------------


def _lines_of(order: Record, item_ids: list[str]) -> list[Record]:
    """Every order line of the listed items (an item id may occur on several lines)."""
    if not item_ids:
        raise Refusal("name at least one item of the order")
    lines = []
    for item_id in dict.fromkeys(item_ids):
        found = [line for line in order["items"] if line["item_id"] == item_id]
        if not found:
            raise Refusal(f"item {item_id} is not in order {order['order_id']}")
        lines.extend(found)
    return lines


@TOOLS.write
def request_refund(db: Database, order_id: str, item_ids: list[str], reason: RefundReason) -> str:
    """Refund items of a delivered order that were missing, wrong, or damaged or spilled.

    Allowed within 7 days of the order date and once per item; the refund is the price paid for
    those items (quantity times unit price, all units of each listed item) and goes to the card that
    paid. Confirm the items and the amount with the customer first.

    Args:
        order_id: The order's id, e.g. 'O0001'.
        item_ids: The ids of the affected items as listed in the order, e.g. ['MI001'].
        reason: 'missing item', 'wrong item' or 'damaged or spilled'.
    """
    order = _order(db, order_id)
    _require_status(order, ("delivered",), "only delivered orders can get an item refund")
    if _timestamp(NOW, "now") - _timestamp(order["order_date"], "order date") > REFUND_WINDOW:
        raise Refusal(f"order {order_id} of {order['order_date']} is older than 7 days; item refunds have expired")
    lines = _lines_of(order, item_ids)
    already = {i for refund in order.get("refunds", []) for i in refund.get("item_ids", [])}
    repeated = sorted(already & {line["item_id"] for line in lines})
    if repeated:
        raise Refusal(f"item(s) {', '.join(repeated)} of order {order_id} were already refunded")
    amount = round(min(sum(line["total_price"] for line in lines), order["total"] - _refunded(order)), 2)
    order = db["orders"].edit(order_id)
    _add_refund(order, amount, "item refund", item_ids=list(dict.fromkeys(item_ids)), reason=reason)
    return _reply(f"Refund of {amount} issued for order {order_id}", refund_amount=amount, order=order)


def _discount(db: Database, order: Record, code: str) -> float:
    """What the promo code takes off this order, provided the code applies to it."""
    terms = PROMO_CODES[code]
    if "expires" in terms and _timestamp(NOW, "now") >= _timestamp(terms["expires"], "expiry"):
        raise Refusal(f"promo code {code} expired on {terms['expires'][:10]}")
    if "membership" in terms:
        member = db["users"][order["user_id"]]["membership"]["type"] if order["user_id"] in db["users"] else None
        if member != terms["membership"]:
            raise Refusal(f"promo code {code} is for {terms['membership']} members only")
    if order["subtotal"] < terms.get("min_subtotal", 0.0):
        raise Refusal(f"promo code {code} needs a subtotal of at least {terms['min_subtotal']}")
    if terms["kind"] == "fixed":
        discount = terms["amount"]
    elif terms["kind"] == "percent":
        discount = min(round(order["subtotal"] * terms["percent"] / 100, 2), terms["max"])
    else:
        discount = order["delivery_fee"]
    discount = round(min(discount, order["subtotal"]), 2)
    if discount <= 0:
        raise Refusal(f"promo code {code} takes nothing off order {order['order_id']}")
    return discount


@TOOLS.write
def apply_promo_code(db: Database, order_id: str, promo_code: str) -> str:
    """Apply a promo code to an order the restaurant has not started preparing; one code per order.

    The discount comes off the order total (see the policy for the codes and their terms).

    Args:
        order_id: The order's id, e.g. 'O0001'.
        promo_code: The code, ignoring case, e.g. 'WELCOME5'.
    """
    order = _order(db, order_id)
    code = promo_code.strip().upper()
    if code not in PROMO_CODES:
        raise Refusal(f"promo code {promo_code!r:.40} does not exist")
    _require_status(order, BEFORE_PREPARATION, "promo codes apply only before the restaurant starts preparing")
    if order.get("promo_code"):
        raise Refusal(f"order {order_id} already has promo code {order['promo_code']}; one code per order")
    discount = _discount(db, order, code)
    order = db["orders"].edit(order_id)
    order["promo_code"] = code
    order["discount"] = discount
    order["total"] = round(order["total"] - discount, 2)
    return _reply(f"Promo code {code} applied to order {order_id}", discount=discount, order=order)


@TOOLS.write
def rate_order(db: Database, order_id: str, rating: int) -> str:
    """Record the customer's rating of a delivered order, from 1 (worst) to 5 (best); an order is rated once.

    Args:
        order_id: The order's id, e.g. 'O0001'.
        rating: A whole number from 1 to 5.
    """
    order = _order(db, order_id)
    _require_status(order, ("delivered",), "only delivered orders can be rated")
    if order["rating"] is not None:
        raise Refusal(f"order {order_id} was already rated {order['rating']}")
    if not 1 <= rating <= 5:
        raise Refusal(f"rating must be from 1 to 5, got {rating}")
    order = db["orders"].edit(order_id)
    order["rating"] = rating
    return json.dumps(order)


@TOOLS.write
def update_delivery_address(
    db: Database,
    user_id: str,
    address_id: str,
    street: str | None = None,
    city: str | None = None,
    state: str | None = None,
    zip: str | None = None,
    instructions: str | None = None,
    make_default: bool = False,
) -> str:
    """Change one of the customer's saved delivery addresses, or make it their default, after they confirm.

    Only the fields given change. Existing orders keep their address (use update_order for those).

    Args:
        user_id: The customer's id, e.g. 'U001'.
        address_id: The saved address to change, e.g. 'addr_123456' (see the customer's details).
        street: New street line, e.g. '12 Elm St'.
        city: New city, e.g. 'Austin'.
        state: New two-letter state code, e.g. 'TX'.
        zip: New five-digit zip code, e.g. '78701'.
        instructions: New note for couriers, e.g. 'Ring doorbell' ('' removes it).
        make_default: True to make this the address orders go to by default.
    """
    user = _user(db, user_id)
    _saved_address(user, address_id)
    fields = {"street": street, "city": city, "state": state, "zip": zip, "instructions": instructions}
    changes = {name: value for name, value in fields.items() if value is not None}
    if not changes and not make_default:
        raise Refusal("nothing to update: give a new street, city, state, zip, instructions or make_default")
    if state is not None and not re.fullmatch(r"[A-Z]{2}", state):
        raise Refusal(f"state must be a two-letter code such as 'TX', got {state!r:.20}")
    if zip is not None and not re.fullmatch(r"\d{5}", zip):
        raise Refusal(f"zip must be five digits, got {zip!r:.20}")
    addresses = db["users"].edit(user_id)["delivery_addresses"]
    for address in addresses:
        if address["id"] == address_id:
            address.update(changes)
        if make_default:
            address["is_default"] = address["id"] == address_id
    return _reply(f"Saved address {address_id} of user {user_id} updated", delivery_addresses=addresses)


# --- reasoning and hand-off ------------------------------------------------------------------

TOOLS.think(common.calculate)
TOOLS.think(common.think)


@TOOLS.terminate
def transfer_to_human_agents(db: Database, reason: str, context: str | None = None) -> str:
    """Hand the conversation to a human agent: only when the customer asks for one or no tool can do what they need.

    Args:
        reason: Why the conversation is handed over.
        context: What the human agent should know: the customer, the order, what was already tried.
    """
    return "Transfer successful"


__all__ = ["NOW", "PROMO_CODES", "TOOLS"]
