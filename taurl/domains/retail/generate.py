"""A small synthetic retail store and tasks over it, with τ-bench's record schema.

``generate_database`` builds a catalogue of a dozen product types, fifty customers and 120 orders in
every status τ-bench's data has; ``generate_tasks`` writes customer goals over
that database, each with the gold tool calls that satisfy it under the retail policy. Everything
is derived from ``random.Random(seed)`` and the constants below, so a seed always gives the same
store and the same tasks.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator

from taurl.core.db import Database
from taurl.core.types import Action, Task
from taurl.domains.generation import (
    Draft,
    FreshValues,
    GoldReplay,
    TaskFormat,
    draft_tasks,
    money_text,
    sample_names,
    street_address,
    two_decimal_amount,
)
from taurl.domains.retail.tools import TOOLS

# --- catalogue, people and places ------------------------------------------------------------

# name -> (option axes, lowest and highest variant price in dollars)
CATALOGUE: dict[str, tuple[dict[str, list[str]], tuple[int, int]]] = {
    "T-Shirt": (
        {
            "color": ["blue", "red", "black", "white"],
            "size": ["S", "M", "L", "XL"],
            "material": ["cotton", "polyester"],
        },
        (40, 60),
    ),
    "Desk Lamp": (
        {
            "color": ["black", "white", "silver"],
            "brightness": ["low", "medium", "high"],
            "power source": ["USB", "battery", "AC adapter"],
        },
        (95, 160),
    ),
    "Water Bottle": (
        {
            "capacity": ["500ml", "750ml", "1000ml"],
            "material": ["glass", "plastic", "stainless steel"],
            "color": ["blue", "red", "black"],
        },
        (18, 50),
    ),
    "Backpack": (
        {
            "color": ["black", "grey", "navy", "green"],
            "size": ["small", "medium", "large"],
            "material": ["nylon", "polyester", "leather"],
        },
        (170, 240),
    ),
    "Running Shoes": (
        {"size": ["7", "8", "9", "10", "11"], "color": ["black", "white", "red"], "material": ["mesh", "synthetic"]},
        (85, 150),
    ),
    "Bluetooth Speaker": (
        {
            "color": ["black", "blue", "red"],
            "battery life": ["10 hours", "20 hours"],
            "water resistance": ["yes", "no"],
        },
        (60, 300),
    ),
    "Office Chair": (
        {
            "material": ["mesh", "leather", "fabric"],
            "color": ["black", "grey", "blue"],
            "armrest": ["fixed", "adjustable"],
        },
        (300, 520),
    ),
    "Coffee Maker": (
        {
            "color": ["black", "stainless steel"],
            "capacity": ["1 cup", "4 cups", "8 cups"],
            "type": ["drip", "espresso", "french press"],
        },
        (80, 300),
    ),
    "Yoga Mat": (
        {
            "thickness": ["4mm", "6mm", "8mm"],
            "material": ["PVC", "natural rubber", "TPE"],
            "color": ["purple", "blue", "green"],
        },
        (20, 120),
    ),
    "Wireless Earbuds": (
        {
            "color": ["black", "white", "blue"],
            "battery life": ["4 hours", "6 hours", "8 hours"],
            "water resistance": ["IPX4", "IPX7", "not resistant"],
        },
        (70, 260),
    ),
    "Electric Kettle": (
        {
            "capacity": ["1L", "1.5L", "2L"],
            "material": ["plastic", "stainless steel", "glass"],
            "color": ["white", "black", "silver"],
        },
        (40, 200),
    ),
    "Mechanical Keyboard": (
        {
            "switch type": ["linear", "tactile", "clicky"],
            "backlight": ["none", "white", "RGB"],
            "size": ["full size", "80%", "60%"],
        },
        (100, 280),
    ),
}
FIRST_NAMES = [
    "Amara",
    "Bruno",
    "Chloe",
    "Dmitri",
    "Elena",
    "Farah",
    "Gideon",
    "Hana",
    "Idris",
    "Julia",
    "Kenji",
    "Lena",
    "Mateo",
    "Nadia",
    "Oscar",
    "Priya",
    "Quinn",
    "Rosa",
    "Samir",
    "Tessa",
    "Umar",
    "Vera",
    "Wesley",
    "Ximena",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Abbott",
    "Bianchi",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Gallagher",
    "Haddad",
    "Ito",
    "Jovanovic",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Quintero",
    "Romano",
    "Sato",
    "Tanaka",
]
STREETS = [
    "Maple Avenue",
    "Oak Street",
    "Cedar Lane",
    "Willow Way",
    "Pine Road",
    "Elm Court",
    "Birch Drive",
    "Harbor View",
    "Lakeside Boulevard",
    "Sunset Terrace",
    "River Road",
    "Chestnut Street",
]
# (city, state, first three digits of its zip codes)
CITIES = [
    ("Portland", "OR", "972"),
    ("Austin", "TX", "787"),
    ("Denver", "CO", "802"),
    ("Chicago", "IL", "606"),
    ("Boston", "MA", "021"),
    ("Seattle", "WA", "981"),
    ("Atlanta", "GA", "303"),
    ("Phoenix", "AZ", "850"),
    ("Columbus", "OH", "432"),
    ("San Diego", "CA", "921"),
    ("Nashville", "TN", "372"),
    ("Madison", "WI", "537"),
]
CARD_BRANDS = ["visa", "mastercard", "amex"]
ORDER_STATUSES = {"pending": 40, "processed": 12, "delivered": 35, "cancelled": 13}
USER_COUNT = 50
ORDER_COUNT = 120
VARIANTS_PER_PRODUCT = (5, 8)
MIN_AVAILABLE_VARIANTS = 3


def _random_address(rng: random.Random) -> dict[str, str]:
    return street_address(rng, rng.choice(CITIES), STREETS)


def _products(rng: random.Random, ids: FreshValues) -> dict[str, dict]:
    products = {}
    for name, (axes, (low, high)) in CATALOGUE.items():
        product_id = ids.digits(10)
        combos: list[dict[str, str]] = []
        while len(combos) < rng.randint(*VARIANTS_PER_PRODUCT):
            options = {axis: rng.choice(values) for axis, values in axes.items()}
            if options not in combos:
                combos.append(options)
        variants = {}
        for index, options in enumerate(combos):
            item_id = ids.digits(10)
            available = index < MIN_AVAILABLE_VARIANTS or rng.random() < 0.7
            variants[item_id] = {
                "item_id": item_id,
                "options": options,
                "available": available,
                "price": two_decimal_amount(rng, low, high),
            }
        products[product_id] = {"name": name, "product_id": product_id, "variants": variants}
    return products


def _payment_methods(rng: random.Random, ids: FreshValues) -> dict[str, dict]:
    """One to three methods: up to two credit cards, at most one PayPal account and one gift card."""
    kinds = rng.choice(
        [
            ["credit_card"],
            ["paypal"],
            ["gift_card", "credit_card"],
            ["paypal", "gift_card"],
            ["credit_card", "paypal"],
            ["credit_card", "credit_card", "gift_card"],
            ["gift_card"],
        ]
    )
    methods = {}
    for kind in kinds:
        method_id = f"{kind}_{ids.digits(7)}"
        if kind == "credit_card":
            methods[method_id] = {
                "source": kind,
                "brand": rng.choice(CARD_BRANDS),
                "last_four": ids.digits(4),
                "id": method_id,
            }
        elif kind == "gift_card":
            methods[method_id] = {"source": kind, "balance": rng.randint(0, 300), "id": method_id}
        else:
            methods[method_id] = {"source": kind, "id": method_id}
    return methods


def _users(rng: random.Random, ids: FreshValues) -> dict[str, dict]:
    names = sample_names(rng, FIRST_NAMES, LAST_NAMES, USER_COUNT)
    users = {}
    for first, last in names:
        user_id = f"{first.lower()}_{last.lower()}_{ids.digits(4)}"
        users[user_id] = {
            "name": {"first_name": first, "last_name": last},
            "address": _random_address(rng),
            "email": f"{first.lower()}.{last.lower()}{rng.randint(1000, 9999)}@example.com",
            "payment_methods": _payment_methods(rng, ids),
            "orders": [],
        }
    return users


def _order(rng: random.Random, order_id: str, user_id: str, user: dict, products: dict, ids: FreshValues) -> dict:
    status = rng.choices(list(ORDER_STATUSES), weights=list(ORDER_STATUSES.values()))[0]
    items = []
    for product_id in rng.sample(list(products), rng.choices([1, 2, 3, 4], weights=[3, 3, 2, 1])[0]):
        product = products[product_id]
        variant = product["variants"][rng.choice(list(product["variants"]))]
        items.append(
            {
                "name": product["name"],
                "product_id": product_id,
                "item_id": variant["item_id"],
                "price": variant["price"],
                "options": dict(variant["options"]),
            }
        )
    fulfillments = []
    if status in ("processed", "delivered"):
        fulfillments.append({"tracking_id": [ids.digits(12)], "item_ids": [i["item_id"] for i in items]})
    total = round(sum(item["price"] for item in items), 2)
    method_id = rng.choice(list(user["payment_methods"]))
    history = [{"transaction_type": "payment", "amount": total, "payment_method_id": method_id}]
    if status == "cancelled":
        history.append({"transaction_type": "refund", "amount": total, "payment_method_id": method_id})
    address = dict(user["address"]) if rng.random() < 0.85 else _random_address(rng)
    return {
        "order_id": order_id,
        "user_id": user_id,
        "address": address,
        "items": items,
        "fulfillments": fulfillments,
        "status": status,
        "payment_history": history,
    }


def generate_database(seed: int = 0) -> dict[str, dict]:
    """A small, internally consistent retail database: ``{"orders", "products", "users"}``.

    Every user has at least one order; every order's payment is the sum of its item prices and
    uses one of its owner's payment methods; cancelled orders carry their refund.
    """
    rng = random.Random(seed)
    ids = FreshValues(rng)
    products = _products(rng, ids)
    users = _users(rng, ids)
    owners = list(users) + rng.choices(list(users), k=ORDER_COUNT - len(users))
    orders = {}
    for user_id in owners:
        order_id = f"#W{ids.digits(7)}"
        orders[order_id] = _order(rng, order_id, user_id, users[user_id], products, ids)
        users[user_id]["orders"].append(order_id)
    return {"orders": orders, "products": products, "users": users}


# --- tasks -----------------------------------------------------------------------------------

PERSONAS = [
    "You are polite and patient.",
    "You are in a hurry and keep your messages short.",
    "You are friendly and like to chat a little.",
    "You are cautious and want every step explained before you agree to it.",
    "You are not used to shopping online and need some guidance.",
    "You are direct and get straight to the point.",
    "You are a little forgetful, so you give details only when the agent asks for them.",
    "You are sceptical and want the agent to confirm the exact amounts before you agree.",
    "You are busy at work and answer briefly, but you are cooperative.",
    "You are cheerful and thank the agent for every step.",
]
CANCEL_REASONS = {"no longer needed": "you no longer need it", "ordered by mistake": "you ordered it by mistake"}
TASK_FORMAT = TaskFormat(
    "retail", PERSONAS, id_digits=3, metadata_keys=("template", "persona", "goal", "rules", "refusal")
)


class _Writer:
    """Reads the generated database and phrases goals the way a customer would state them."""

    def __init__(self, db: dict[str, dict], rng: random.Random):
        self.rng = rng
        self.orders, self.products, self.users = db["orders"], db["products"], db["users"]

    def orders_in(self, *statuses: str) -> list[str]:
        return [order_id for order_id, order in self.orders.items() if order["status"] in statuses]

    def authenticate(self, user_id: str) -> tuple[str, Action]:
        """How the customer introduces themself, and the lookup that identifies them."""
        user = self.users[user_id]
        first, last = user["name"]["first_name"], user["name"]["last_name"]
        if self.rng.random() < 0.5:
            return (
                f"You are {first} {last} and your email address is {user['email']}.",
                Action("find_user_id_by_email", {"email": user["email"]}),
            )
        zip_code = user["address"]["zip"]
        return (
            f"You are {first} {last} and your zip code is {zip_code}.",
            Action("find_user_id_by_name_zip", {"first_name": first, "last_name": last, "zip": zip_code}),
        )

    def refer_to_order(self, order_id: str) -> tuple[str, list[Action]]:
        """The order by id, or, when one of its products is in no other order of the customer, by that
        product (the agent then has to look through the profile)."""
        order = self.orders[order_id]
        user_id = order["user_id"]
        others = {i["name"] for o in self.users[user_id]["orders"] if o != order_id for i in self.orders[o]["items"]}
        distinctive = [item["name"] for item in order["items"] if item["name"] not in others]
        details = Action("get_order_details", {"order_id": order_id})
        if distinctive and self.rng.random() < 0.4:
            return (
                f"the order with the {self.rng.choice(distinctive)}",
                [Action("get_user_details", {"user_id": user_id}), details],
            )
        return f"order {order_id}", [details]

    @staticmethod
    def describe_item(item: dict) -> str:
        return f"{item['name']} ({_describe_options(item['options'])})"

    @staticmethod
    def describe_method(method: dict) -> str:
        if method["source"] == "credit_card":
            return f"your {method['brand'].title()} credit card ending in {method['last_four']}"
        return "your PayPal account" if method["source"] == "paypal" else "your gift card"

    def methods_of(self, user_id: str) -> dict[str, dict]:
        return self.users[user_id]["payment_methods"]

    def alternatives(self, item: dict) -> list[str]:
        """Available variants of the item's product other than the item itself."""
        variants = self.products[item["product_id"]]["variants"]
        return [v for v, variant in variants.items() if variant["available"] and v != item["item_id"]]

    def settling_method(self, user_id: str, difference: float) -> str | None:
        """A payment method that may settle a price difference (a gift card only with enough balance)."""
        fitting = [
            m
            for m, method in self.methods_of(user_id).items()
            if method["source"] != "gift_card" or method["balance"] >= difference
        ]
        return self.rng.choice(fitting) if fitting else None

    def swaps(self, order_id: str) -> tuple[list[str], list[str], float] | None:
        """One or two items of the order, each with an available other variant, and the price difference
        (unrounded, as the modify tool compares it with a gift card balance)."""
        items = [item for item in self.orders[order_id]["items"] if self.alternatives(item)]
        if not items:
            return None
        chosen = self.rng.sample(items, min(len(items), self.rng.choice([1, 1, 2])))
        new_ids = [self.rng.choice(self.alternatives(item)) for item in chosen]
        difference = sum(
            self.variant(item, new)["price"] - item["price"] for item, new in zip(chosen, new_ids, strict=True)
        )
        return [item["item_id"] for item in chosen], new_ids, difference

    def variant(self, item: dict, item_id: str) -> dict:
        return self.products[item["product_id"]]["variants"][item_id]

    def item(self, order_id: str, item_id: str) -> dict:
        return next(item for item in self.orders[order_id]["items"] if item["item_id"] == item_id)

    def swap_wishes(self, order_id: str, item_ids: list[str], new_ids: list[str]) -> str:
        wishes = []
        for item_id, new_id in zip(item_ids, new_ids, strict=True):
            item = self.item(order_id, item_id)
            wishes.append(
                f"the {self.describe_item(item)} for the one with "
                f"{_describe_options(self.variant(item, new_id)['options'])}"
            )
        return " and ".join(wishes)

    def product_lookups(self, order_id: str, item_ids: list[str]) -> list[Action]:
        product_ids = dict.fromkeys(self.item(order_id, item_id)["product_id"] for item_id in item_ids)
        return [Action("get_product_details", {"product_id": p}) for p in product_ids]


def _describe_options(options: dict[str, str]) -> str:
    return ", ".join(f"{axis}: {value}" for axis, value in options.items())


# Each template turns one candidate (an order or user id) into a draft, or None when it does not fit.


def _cancel(w: _Writer, order_id: str) -> Draft | None:
    user_id = w.orders[order_id]["user_id"]
    reason = w.rng.choice(list(CANCEL_REASONS))
    intro, auth = w.authenticate(user_id)
    ref, lookups = w.refer_to_order(order_id)
    goal = f"You want to cancel {ref} because {CANCEL_REASONS[reason]}."
    cancel = Action("cancel_pending_order", {"order_id": order_id, "reason": reason})
    return Draft("cancel_pending", user_id, intro, goal, [auth, *lookups, cancel])


def _order_address(w: _Writer, order_id: str) -> Draft | None:
    user_id = w.orders[order_id]["user_id"]
    address = _random_address(w.rng)
    intro, auth = w.authenticate(user_id)
    ref, lookups = w.refer_to_order(order_id)
    goal = f"You want {ref} shipped to {_address_text(address)} instead of the address on it."
    change = Action("modify_pending_order_address", {"order_id": order_id, **_address_kwargs(address)})
    return Draft("modify_order_address", user_id, intro, goal, [auth, *lookups, change])


def _order_payment(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    user_id, paid = order["user_id"], order["payment_history"][0]
    options = [
        m
        for m, method in w.methods_of(user_id).items()
        if m != paid["payment_method_id"] and (method["source"] != "gift_card" or method["balance"] >= paid["amount"])
    ]
    if not options:
        return None
    method_id = w.rng.choice(options)
    intro, auth = w.authenticate(user_id)
    ref, _ = w.refer_to_order(order_id)
    goal = f"You want to pay for {ref} with {w.describe_method(w.methods_of(user_id)[method_id])} instead."
    change = Action("modify_pending_order_payment", {"order_id": order_id, "payment_method_id": method_id})
    actions = [
        auth,
        Action("get_user_details", {"user_id": user_id}),
        Action("get_order_details", {"order_id": order_id}),
        change,
    ]
    return Draft("modify_order_payment", user_id, intro, goal, actions)


def _swap(w: _Writer, order_id: str, tool: str, template: str, verb: str) -> Draft | None:
    user_id = w.orders[order_id]["user_id"]
    swaps = w.swaps(order_id)
    if swaps is None:
        return None
    item_ids, new_ids, difference = swaps
    method_id = w.settling_method(user_id, difference)
    if method_id is None:
        return None
    intro, auth = w.authenticate(user_id)
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"In {ref} you want to {verb} {w.swap_wishes(order_id, item_ids, new_ids)}. Any price difference "
        f"should go through {w.describe_method(w.methods_of(user_id)[method_id])}."
    )
    call = Action(
        tool, {"order_id": order_id, "item_ids": item_ids, "new_item_ids": new_ids, "payment_method_id": method_id}
    )
    actions = [auth, *lookups, *w.product_lookups(order_id, item_ids), call]
    return Draft(template, user_id, intro, goal, actions)


def _modify_items(w: _Writer, order_id: str) -> Draft | None:
    return _swap(w, order_id, "modify_pending_order_items", "modify_order_items", "change")


def _exchange(w: _Writer, order_id: str) -> Draft | None:
    return _swap(w, order_id, "exchange_delivered_order_items", "exchange_items", "exchange")


def _return_plan(w: _Writer, order_id: str) -> tuple[list[dict], str]:
    """Some of the order's items and where their refund goes (original method or a gift card)."""
    order = w.orders[order_id]
    items = w.rng.sample(order["items"], w.rng.randint(1, len(order["items"])))
    original = order["payment_history"][0]["payment_method_id"]
    gift_cards = [m for m, method in w.methods_of(order["user_id"]).items() if method["source"] == "gift_card"]
    return items, w.rng.choice(sorted({original, *gift_cards}))


def _return(w: _Writer, order_id: str, with_total: bool = False) -> Draft | None:
    user_id = w.orders[order_id]["user_id"]
    items, method_id = _return_plan(w, order_id)
    total = money_text(round(sum(item["price"] for item in items), 2))
    if with_total and total is None:
        return None
    intro, auth = w.authenticate(user_id)
    ref, lookups = w.refer_to_order(order_id)
    listed = "; ".join(w.describe_item(item) for item in items)
    goal = (
        f"From {ref} you want to return: {listed}. The refund should go to "
        f"{w.describe_method(w.methods_of(user_id)[method_id])}."
    )
    call = Action(
        "return_delivered_order_items",
        {"order_id": order_id, "item_ids": [i["item_id"] for i in items], "payment_method_id": method_id},
    )
    if not with_total:
        return Draft("return_items", user_id, intro, goal, [auth, *lookups, call])
    goal += " You also want to know how much money you will get back in total."
    prices = [str(item["price"]) for item in items]
    # the sum is said to the customer: a calculation shows it (calculate is not scored as an action)
    calculation = [Action("calculate", {"expression": " + ".join(prices)})] if len(items) > 1 else []
    return Draft("return_items_total", user_id, intro, goal, [auth, *lookups, *calculation, call], outputs=[total])


def _return_with_total(w: _Writer, order_id: str) -> Draft | None:
    return _return(w, order_id, with_total=True)


def _user_address(w: _Writer, user_id: str) -> Draft | None:
    address = _random_address(w.rng)
    intro, auth = w.authenticate(user_id)
    goal = f"You have moved and want your default address changed to {_address_text(address)}."
    actions = [
        auth,
        Action("get_user_details", {"user_id": user_id}),
        Action("modify_user_address", {"user_id": user_id, **_address_kwargs(address)}),
    ]
    return Draft("modify_user_address", user_id, intro, goal, actions)


def _cancel_and_return(w: _Writer, user_id: str) -> Draft | None:
    """Two requests in one conversation: cancel a pending order, then return from a delivered one."""
    mine = w.users[user_id]["orders"]
    pending = [o for o in mine if w.orders[o]["status"] == "pending"]
    delivered = [o for o in mine if w.orders[o]["status"] == "delivered"]
    if not pending or not delivered:
        return None
    cancel_id, return_id = w.rng.choice(pending), w.rng.choice(delivered)
    reason = w.rng.choice(list(CANCEL_REASONS))
    items, method_id = _return_plan(w, return_id)
    intro, auth = w.authenticate(user_id)
    goal = (
        f"You want to cancel order {cancel_id} because {CANCEL_REASONS[reason]}. You also want to return "
        f"{'; '.join(w.describe_item(i) for i in items)} from order {return_id}, refunded to "
        f"{w.describe_method(w.methods_of(user_id)[method_id])}."
    )
    actions = [
        auth,
        Action("get_order_details", {"order_id": cancel_id}),
        Action("cancel_pending_order", {"order_id": cancel_id, "reason": reason}),
        Action("get_order_details", {"order_id": return_id}),
        Action(
            "return_delivered_order_items",
            {"order_id": return_id, "item_ids": [i["item_id"] for i in items], "payment_method_id": method_id},
        ),
    ]
    return Draft("cancel_and_return", user_id, intro, goal, actions)


def _gift_card_balance(w: _Writer, user_id: str) -> Draft | None:
    cards = [m for m in w.methods_of(user_id).values() if m["source"] == "gift_card"]
    if not cards:
        return None
    intro, auth = w.authenticate(user_id)
    goal = "You want to know how much money is left on your gift card. You do not want to change anything."
    actions = [auth, Action("get_user_details", {"user_id": user_id})]
    return Draft("gift_card_balance", user_id, intro, goal, actions, outputs=[str(cards[0]["balance"])])


def _order_total(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    total = money_text(order["payment_history"][0]["amount"])
    if total is None:
        return None
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = f"You want to know how much you paid for {ref}. You do not want to change anything."
    return Draft("order_total", order["user_id"], intro, goal, [auth, *lookups], outputs=[total])


def _tracking(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = f"You want the tracking number of {ref} so that you can follow the parcel."
    outputs = [order["fulfillments"][0]["tracking_id"][0]]
    return Draft("tracking_number", order["user_id"], intro, goal, [auth, *lookups], outputs=outputs)


def _cheapest_variant(w: _Writer, user_id: str) -> Draft | None:
    product_id = w.rng.choice(list(w.products))
    product = w.products[product_id]
    prices = [v["price"] for v in product["variants"].values() if v["available"]]
    intro, auth = w.authenticate(user_id)
    goal = (
        f"You are thinking of buying a {product['name']} and want to know the price of the cheapest one "
        "that is currently available. You do not want to order anything now."
    )
    actions = [auth, Action("list_all_product_types", {}), Action("get_product_details", {"product_id": product_id})]
    return Draft("cheapest_variant", user_id, intro, goal, actions, outputs=[str(min(prices))])


def _refuse_cancel(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"You want to cancel {ref} because {CANCEL_REASONS['no longer needed']}. If the agent says it cannot "
        "be cancelled, you accept that and want nothing else (no return, no exchange)."
    )
    return Draft("refuse_cancel_not_pending", order["user_id"], intro, goal, [auth, *lookups], refusal=True)


def _refuse_return(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"You want to return the {w.describe_item(order['items'][0])} from {ref}. If the agent says it cannot "
        "be returned yet, you accept that; you do not want to cancel the order."
    )
    return Draft("refuse_return_not_delivered", order["user_id"], intro, goal, [auth, *lookups], refusal=True)


def _refuse_gift_card(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    user_id, paid = order["user_id"], order["payment_history"][0]
    short = [
        m
        for m in w.methods_of(user_id).values()
        if m["source"] == "gift_card" and m["balance"] < paid["amount"] and m["id"] != paid["payment_method_id"]
    ]
    if not short:
        return None
    intro, auth = w.authenticate(user_id)
    goal = (
        f"You want to pay for order {order_id} with your gift card instead of the current method. If the "
        "agent says the balance is not enough, you keep the order as it is."
    )
    actions = [
        auth,
        Action("get_user_details", {"user_id": user_id}),
        Action("get_order_details", {"order_id": order_id}),
    ]
    return Draft("refuse_gift_card_short", user_id, intro, goal, actions, refusal=True)


def _refuse_other_user(w: _Writer, order_id: str) -> Draft | None:
    owner = w.users[w.orders[order_id]["user_id"]]
    user_id = w.rng.choice([u for u in w.users if u != w.orders[order_id]["user_id"]])
    intro, auth = w.authenticate(user_id)
    friend = f"{owner['name']['first_name']} {owner['name']['last_name']}"
    goal = (
        f"Your friend {friend} asked you to cancel their order {order_id} for them because they no longer "
        "need it. If the agent refuses, you accept that and end the conversation."
    )
    return Draft("refuse_other_user", user_id, intro, goal, [auth], refusal=True)


def _refuse_other_product(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    item = w.rng.choice(order["items"])
    other = w.rng.choice(sorted({p["name"] for p in w.products.values()} - {item["name"]}))
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"You want to exchange the {w.describe_item(item)} from {ref} for a {other} instead. If the agent "
        "says that is not possible, you keep your item and want nothing else."
    )
    return Draft("refuse_exchange_other_product", order["user_id"], intro, goal, [auth, *lookups], refusal=True)


def _unique(actions: list[Action]) -> list[Action]:
    """The actions without repeats, in order (a lookup that two steps need is made once)."""
    kept: list[Action] = []
    for action in actions:
        if action not in kept:
            kept.append(action)
    return kept


def _pending_of(w: _Writer, user_id: str) -> list[str]:
    return [o for o in w.users[user_id]["orders"] if w.orders[o]["status"] == "pending"]


def _cancel_two(w: _Writer, user_id: str) -> Draft | None:
    """Two cancellations in one conversation, for the same reason."""
    pending = _pending_of(w, user_id)
    if len(pending) < 2:
        return None
    chosen = w.rng.sample(pending, 2)
    reason = w.rng.choice(list(CANCEL_REASONS))
    intro, auth = w.authenticate(user_id)
    goal = f"You want to cancel order {chosen[0]} and order {chosen[1]}, each because {CANCEL_REASONS[reason]}."
    actions = [auth]
    for order_id in chosen:
        actions.append(Action("get_order_details", {"order_id": order_id}))
        actions.append(Action("cancel_pending_order", {"order_id": order_id, "reason": reason}))
    return Draft("cancel_two_orders", user_id, intro, goal, actions)


def _address_everywhere(w: _Writer, user_id: str) -> Draft | None:
    """A move: the default address and a pending order's shipping address both change."""
    pending = _pending_of(w, user_id)
    if not pending:
        return None
    order_id = w.rng.choice(pending)
    address = _random_address(w.rng)
    intro, auth = w.authenticate(user_id)
    goal = (
        f"You have moved to {_address_text(address)}. You want that to be your default address, and you want "
        f"order {order_id} shipped there as well."
    )
    actions = [
        auth,
        Action("get_user_details", {"user_id": user_id}),
        Action("modify_user_address", {"user_id": user_id, **_address_kwargs(address)}),
        Action("get_order_details", {"order_id": order_id}),
        Action("modify_pending_order_address", {"order_id": order_id, **_address_kwargs(address)}),
    ]
    return Draft("move_default_and_order_address", user_id, intro, goal, actions)


def _card_used(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    method = w.methods_of(order["user_id"])[order["payment_history"][0]["payment_method_id"]]
    if method["source"] != "credit_card":
        return None
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"You want to know which of your credit cards paid for {ref}: its last four digits. You do not want to "
        "change anything."
    )
    actions = _unique([auth, *lookups, Action("get_user_details", {"user_id": order["user_id"]})])
    return Draft("card_used_for_order", order["user_id"], intro, goal, actions, outputs=[method["last_four"]])


def _variant_price(w: _Writer, user_id: str) -> Draft | None:
    product_id = w.rng.choice(list(w.products))
    product = w.products[product_id]
    variant = w.rng.choice(list(product["variants"].values()))
    intro, auth = w.authenticate(user_id)
    goal = (
        f"You are thinking of buying the {product['name']} with {_describe_options(variant['options'])} and want "
        "to know its price. You do not want to order anything now."
    )
    actions = [auth, Action("list_all_product_types", {}), Action("get_product_details", {"product_id": product_id})]
    return Draft("variant_price", user_id, intro, goal, actions, outputs=[str(variant["price"])])


def _refuse_unavailable(w: _Writer, order_id: str) -> Draft | None:
    """A swap to an option that is out of stock (a pending order's change or a delivered order's exchange)."""
    order = w.orders[order_id]
    wanted = [
        (item, variant)
        for item in order["items"]
        for variant in w.products[item["product_id"]]["variants"].values()
        if not variant["available"] and variant["item_id"] != item["item_id"]
    ]
    if not wanted:
        return None
    item, variant = w.rng.choice(wanted)
    verb = "exchange" if order["status"] == "delivered" else "change"
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"You want to {verb} the {w.describe_item(item)} from {ref} for the one with "
        f"{_describe_options(variant['options'])}. If the agent says that one is not available, you keep your "
        "item and want nothing else."
    )
    actions = [auth, *lookups, Action("get_product_details", {"product_id": item["product_id"]})]
    return Draft("refuse_unavailable_option", order["user_id"], intro, goal, actions, refusal=True)


def _refuse_refund_elsewhere(w: _Writer, order_id: str) -> Draft | None:
    """A return whose refund the customer wants on a method that is neither the original one nor a gift card."""
    order = w.orders[order_id]
    original = order["payment_history"][0]["payment_method_id"]
    others = [
        m for m, method in w.methods_of(order["user_id"]).items() if m != original and method["source"] != "gift_card"
    ]
    if not others:
        return None
    method = w.methods_of(order["user_id"])[w.rng.choice(others)]
    item = w.rng.choice(order["items"])
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"You want to return the {w.describe_item(item)} from {ref}, with the refund paid to "
        f"{w.describe_method(method)} and nowhere else. If the agent says the refund cannot go there, you keep "
        "the item and want nothing else."
    )
    actions = _unique([auth, *lookups, Action("get_user_details", {"user_id": order["user_id"]})])
    return Draft("refuse_refund_elsewhere", order["user_id"], intro, goal, actions, refusal=True)


def _refuse_processed_address(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    intro, auth = w.authenticate(order["user_id"])
    ref, lookups = w.refer_to_order(order_id)
    goal = (
        f"You want {ref} shipped to {_address_text(_random_address(w.rng))} instead. If the agent says this is no "
        "longer possible, you accept that and want nothing else."
    )
    return Draft("refuse_address_not_pending", order["user_id"], intro, goal, [auth, *lookups], refusal=True)


def _address_text(address: dict[str, str]) -> str:
    return (
        f"{address['address1']}, {address['address2']}, {address['city']}, {address['state']} "
        f"{address['zip']}, {address['country']}"
    )


def _address_kwargs(address: dict[str, str]) -> dict[str, str]:
    return {key: address[key] for key in ("address1", "address2", "city", "state", "country", "zip")}


Template = Callable[[_Writer, str], Draft | None]


def _templates(w: _Writer) -> Iterator[tuple[Template, list[str], int, list[str]]]:
    """Each template with the candidates it draws from, how many tasks to write with it and the
    policy rules its tasks test."""
    users = list(w.users)
    pending, delivered = w.orders_in("pending"), w.orders_in("delivered")
    yield _cancel, pending, 24, ["R1", "R3", "R4"]
    yield _order_address, pending, 14, ["R1", "R3", "R5"]
    yield _order_payment, pending, 14, ["R1", "R3", "R5", "R6"]
    yield _modify_items, pending, 24, ["R1", "R3", "R5", "R7", "R8", "R9"]
    yield _return, delivered, 24, ["R1", "R3", "R10"]
    yield _return_with_total, delivered, 10, ["R1", "R3", "R10"]
    yield _exchange, delivered, 24, ["R1", "R3", "R8", "R9", "R11"]
    yield _user_address, users, 12, ["R1", "R3", "R12"]
    yield _cancel_and_return, users, 10, ["R1", "R3", "R4", "R10"]
    yield _cancel_two, users, 8, ["R1", "R3", "R4"]
    yield _address_everywhere, users, 8, ["R1", "R3", "R5", "R12"]
    yield _gift_card_balance, users, 8, ["R1", "R2"]
    yield _order_total, w.orders_in("pending", "processed", "delivered"), 10, ["R1", "R2"]
    yield _tracking, w.orders_in("processed", "delivered"), 10, ["R1", "R2"]
    yield _cheapest_variant, users, 10, ["R1", "R2"]
    yield _card_used, w.orders_in("pending", "processed", "delivered"), 8, ["R1", "R2"]
    yield _variant_price, users, 8, ["R1", "R2"]
    yield _refuse_cancel, w.orders_in("processed", "delivered"), 8, ["R1", "R4"]
    yield _refuse_return, w.orders_in("pending", "processed"), 8, ["R1", "R10"]
    yield _refuse_gift_card, pending, 6, ["R1", "R6"]
    yield _refuse_other_user, pending, 8, ["R1", "R2"]
    yield _refuse_other_product, delivered, 8, ["R1", "R8"]
    yield _refuse_unavailable, pending + delivered, 8, ["R1", "R8"]
    yield _refuse_refund_elsewhere, delivered, 6, ["R1", "R10"]
    yield _refuse_processed_address, w.orders_in("processed"), 6, ["R1", "R5"]


def generate_tasks(db: dict[str, dict], seed: int = 0) -> dict[str, list[Task]]:
    """Tasks over ``db`` (from :func:`generate_database`): ``{"train": [...], "test": [...]}``.

    Every template contributes to both splits (every fifth of its tasks goes to test). Each task
    starts from the untouched database, so tasks may concern the same order.
    """
    rng = random.Random(seed)
    writer = _Writer(db, rng)
    templates = (
        (_testing(template, rules), candidates, count) for template, candidates, count, rules in _templates(writer)
    )
    return draft_tasks(writer, templates, rng, TASK_FORMAT, GoldReplay(TOOLS, Database(db)))


def _testing(template: Template, rules: list[str]) -> Template:
    """``template``, its drafts testing ``rules``."""

    def make(w: _Writer, candidate: str) -> Draft | None:
        draft = template(w, candidate)
        return None if draft is None else dataclasses.replace(draft, rules=rules)

    return make


__all__ = ["generate_database", "generate_tasks"]
