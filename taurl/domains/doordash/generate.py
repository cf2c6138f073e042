"""A small synthetic food-delivery service and customer tasks over it, in the seed system's record schema.

``generate_database`` builds forty restaurants in four cities (menus of several categories, some
items sold out, some restaurants closed at the policy's fixed current time), sixty customers and
about 160 orders in every status. ``generate_tasks`` writes customer goals over that database with
the gold tool calls that satisfy them under the policy. Gold calls are run through the domain's own
tools while the tasks are written, so every gold call succeeds, every expected output is copied
from a tool's answer, and every refusal is one the tools (or the policy) really make. Everything
comes from ``random.Random(seed)`` and the constants below.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from taurl.core.db import Database
from taurl.core.types import Action, Task
from taurl.domains.doordash.tools import BEFORE_PREPARATION, NOW, TOOLS
from taurl.domains.generation import (
    Draft,
    FreshValues,
    GoldReplay,
    TaskFormat,
    draft_tasks,
    money_text,
    sample_names,
    two_decimal_amount,
)

# --- places, people and food -----------------------------------------------------------------

# city -> (state, zip codes)
CITIES = {
    "New York": ("NY", ["10001", "10003", "10011", "10016", "10025"]),
    "Austin": ("TX", ["78701", "78702", "78704", "78745"]),
    "Seattle": ("WA", ["98101", "98103", "98109", "98122"]),
    "Chicago": ("IL", ["60601", "60607", "60614", "60657"]),
}
STREETS = [
    "Main St",
    "Oak Ave",
    "Maple St",
    "Cedar Ln",
    "Park Ave",
    "Lake St",
    "Hill Rd",
    "Elm St",
    "River Rd",
    "Pine St",
    "Sunset Blvd",
    "Broadway",
    "2nd Ave",
    "Washington St",
    "Grand Ave",
]
FIRST_NAMES = [
    "Maria",
    "James",
    "Aisha",
    "Chen",
    "Diego",
    "Emma",
    "Farid",
    "Grace",
    "Hiro",
    "Isabel",
    "Jamal",
    "Kira",
    "Liam",
    "Mei",
    "Noah",
    "Olivia",
    "Pedro",
    "Quinn",
    "Rania",
    "Sofia",
    "Tomas",
    "Uma",
    "Victor",
    "Wen",
    "Yara",
    "Zane",
]
LAST_NAMES = [
    "Lopez",
    "Smith",
    "Khan",
    "Wang",
    "Garcia",
    "Johnson",
    "Nguyen",
    "Patel",
    "Kim",
    "Rossi",
    "Brown",
    "Silva",
    "Cohen",
    "Okafor",
    "Muller",
    "Tanaka",
    "Novak",
    "Haddad",
]
CARD_BRANDS = ["Visa", "Mastercard", "American Express"]
DIETS = {"v": "vegetarian", "n": "vegan", "g": "gluten-free"}
CATEGORIES = ["Appetizers", "Mains", "Desserts", "Drinks"]

# cuisine -> (restaurant names, dishes as (name, category, diet codes, lowest price))
Dish = tuple[str, str, str, int]
CUISINES: dict[str, tuple[list[str], list[Dish]]] = {
    "Thai": (
        ["Lemongrass", "Siam Orchid", "Thai Basil", "Golden Elephant", "Bangkok Street"],
        [
            ("Spring Rolls", "Appetizers", "vn", 6),
            ("Tom Yum Soup", "Appetizers", "g", 7),
            ("Chicken Satay", "Appetizers", "g", 8),
            ("Pad Thai", "Mains", "", 13),
            ("Green Curry", "Mains", "g", 14),
            ("Tofu Pad See Ew", "Mains", "vn", 13),
            ("Massaman Curry", "Mains", "g", 15),
            ("Basil Fried Rice", "Mains", "", 12),
            ("Mango Sticky Rice", "Desserts", "vng", 7),
            ("Thai Iced Tea", "Drinks", "vg", 4),
        ],
    ),
    "Italian": (
        ["Trattoria Bella", "Nonna Rosa", "Via Roma", "Il Forno", "Piccolo"],
        [
            ("Garlic Bread", "Appetizers", "v", 6),
            ("Caprese Salad", "Appetizers", "vg", 9),
            ("Arancini", "Appetizers", "v", 8),
            ("Margherita Pizza", "Mains", "v", 14),
            ("Spaghetti Carbonara", "Mains", "", 16),
            ("Lasagna", "Mains", "", 17),
            ("Mushroom Risotto", "Mains", "vg", 16),
            ("Penne Arrabbiata", "Mains", "vn", 13),
            ("Tiramisu", "Desserts", "v", 8),
            ("San Pellegrino", "Drinks", "vng", 3),
        ],
    ),
    "Mexican": (
        ["Casa Verde", "El Camino", "La Palma", "Taqueria Sol", "Cantina Azul"],
        [
            ("Chips and Guacamole", "Appetizers", "vng", 7),
            ("Elote", "Appetizers", "vg", 6),
            ("Chicken Tacos", "Mains", "g", 12),
            ("Carne Asada Burrito", "Mains", "", 14),
            ("Veggie Burrito Bowl", "Mains", "vng", 12),
            ("Cheese Quesadilla", "Mains", "v", 10),
            ("Pork Carnitas Plate", "Mains", "g", 15),
            ("Churros", "Desserts", "v", 6),
            ("Horchata", "Drinks", "vg", 4),
        ],
    ),
    "Japanese": (
        ["Sakura", "Koi Garden", "Tokyo Table", "Umami House", "Hanami"],
        [
            ("Edamame", "Appetizers", "vng", 5),
            ("Miso Soup", "Appetizers", "v", 4),
            ("Gyoza", "Appetizers", "", 7),
            ("Salmon Nigiri Set", "Mains", "g", 18),
            ("Chicken Teriyaki", "Mains", "", 15),
            ("Vegetable Tempura", "Mains", "v", 13),
            ("Tonkotsu Ramen", "Mains", "", 16),
            ("Avocado Roll", "Mains", "vng", 8),
            ("Mochi Ice Cream", "Desserts", "vg", 6),
            ("Green Tea", "Drinks", "vng", 3),
        ],
    ),
    "Chinese": (
        ["Golden Dragon", "Jade Palace", "Lucky Bamboo", "Red Lantern", "Peking Garden"],
        [
            ("Pork Dumplings", "Appetizers", "", 8),
            ("Hot and Sour Soup", "Appetizers", "", 6),
            ("Vegetable Spring Rolls", "Appetizers", "vn", 6),
            ("General Tso Chicken", "Mains", "", 14),
            ("Beef and Broccoli", "Mains", "", 15),
            ("Mapo Tofu", "Mains", "vn", 12),
            ("Yangzhou Fried Rice", "Mains", "", 11),
            ("Kung Pao Shrimp", "Mains", "", 16),
            ("Sesame Balls", "Desserts", "vn", 5),
            ("Jasmine Tea", "Drinks", "vng", 3),
        ],
    ),
    "Indian": (
        ["Taj Spice", "Masala Junction", "Curry Leaf", "Saffron Route", "Bombay Bites"],
        [
            ("Samosas", "Appetizers", "vn", 6),
            ("Onion Bhaji", "Appetizers", "vng", 6),
            ("Garlic Naan", "Appetizers", "v", 4),
            ("Butter Chicken", "Mains", "g", 16),
            ("Chana Masala", "Mains", "vng", 13),
            ("Lamb Rogan Josh", "Mains", "g", 18),
            ("Palak Paneer", "Mains", "vg", 14),
            ("Gulab Jamun", "Desserts", "v", 6),
            ("Mango Lassi", "Drinks", "vg", 5),
        ],
    ),
    "American": (
        ["Liberty Grill", "Main Street Diner", "Smokehouse 66", "Union Burger", "Blue Plate"],
        [
            ("Buffalo Wings", "Appetizers", "g", 10),
            ("Onion Rings", "Appetizers", "v", 6),
            ("Classic Cheeseburger", "Mains", "", 13),
            ("BBQ Pulled Pork Sandwich", "Mains", "", 14),
            ("Veggie Burger", "Mains", "vn", 12),
            ("Grilled Chicken Salad", "Mains", "g", 12),
            ("Mac and Cheese", "Mains", "v", 10),
            ("Apple Pie", "Desserts", "v", 7),
            ("Chocolate Milkshake", "Drinks", "vg", 6),
        ],
    ),
    "Greek": (
        ["Olive Tree", "Athena", "Santorini Blue", "Mykonos Grill", "The Parthenon"],
        [
            ("Hummus and Pita", "Appetizers", "vn", 7),
            ("Spanakopita", "Appetizers", "v", 8),
            ("Greek Salad", "Appetizers", "vg", 10),
            ("Chicken Souvlaki Plate", "Mains", "g", 15),
            ("Lamb Gyro", "Mains", "", 13),
            ("Falafel Wrap", "Mains", "vn", 11),
            ("Moussaka", "Mains", "", 16),
            ("Baklava", "Desserts", "v", 6),
            ("Greek Frappe", "Drinks", "vg", 4),
        ],
    ),
    "Korean": (
        ["Seoul Kitchen", "Kimchi House", "Gangnam Bites", "Bibim", "Han River"],
        [
            ("Kimchi Pancake", "Appetizers", "vn", 9),
            ("Japchae", "Appetizers", "vn", 10),
            ("Bibimbap", "Mains", "v", 14),
            ("Bulgogi Plate", "Mains", "", 17),
            ("Korean Fried Chicken", "Mains", "", 16),
            ("Tofu Soondubu", "Mains", "vng", 13),
            ("Spicy Pork Bulgogi", "Mains", "", 16),
            ("Hotteok", "Desserts", "v", 6),
            ("Barley Tea", "Drinks", "vng", 3),
        ],
    ),
    "Vietnamese": (
        ["Pho Saigon", "Little Hanoi", "Lotus Leaf", "Mekong Kitchen", "Banh Mi Co"],
        [
            ("Fresh Summer Rolls", "Appetizers", "vng", 7),
            ("Crispy Egg Rolls", "Appetizers", "", 7),
            ("Beef Pho", "Mains", "g", 14),
            ("Tofu Pho", "Mains", "vng", 13),
            ("Lemongrass Chicken Banh Mi", "Mains", "", 11),
            ("Grilled Pork Vermicelli", "Mains", "g", 14),
            ("Shaking Beef", "Mains", "g", 18),
            ("Coconut Jelly", "Desserts", "vng", 5),
            ("Vietnamese Iced Coffee", "Drinks", "vg", 5),
        ],
    ),
}
DESCRIPTIONS = ["Our classic {}", "House-made {}", "Chef's {}", "Freshly prepared {}", "Customer favourite {}"]
NOTES = ["Leave at door", "Ring doorbell", "Extra napkins", "No utensils please", "Call when outside"]
DELIVERY_FEES = [0.99, 1.49, 1.99, 2.49, 2.99, 3.49, 3.99, 4.99]
MINIMUM_ORDERS = [10.0, 15.0, 20.0, 25.0]
DELIVERY_TIMES = ["20-30 min", "25-35 min", "30-45 min", "35-50 min"]
TIPS = [0.0, 2.0, 3.0, 3.5, 4.0, 5.0, 6.0]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MEMBERSHIPS = {"basic": 45, "plus": 30, "premium": 25}
# status -> (weight, how long before NOW it was placed, in minutes; negative: scheduled ahead)
ORDER_STATUSES: dict[str, tuple[int, tuple[int, int]]] = {
    "scheduled": (8, (-4000, -600)),
    "placed": (12, (2, 10)),
    "confirmed": (11, (5, 15)),
    "preparing": (11, (10, 25)),
    "out_for_delivery": (8, (20, 40)),
    "delivered": (42, (120, 50_000)),
    "cancelled": (8, (300, 50_000)),
}
RECENT_DELIVERED_SHARE = 0.65  # delivered orders inside the 7-day refund window
RESTAURANTS_PER_CITY = 10
USER_COUNT = 60
ORDER_COUNT = 160


def _clock(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S")


def _street(fresh: FreshValues) -> str:
    return fresh.draw(lambda: f"{fresh.rng.randint(10, 9999)} {fresh.rng.choice(STREETS)}")


# --- restaurants -----------------------------------------------------------------------------


def _hours(rng: random.Random, open_now: bool) -> dict[str, str]:
    """Opening hours by weekday; a restaurant open now (a Wednesday, 19:00) is open then."""
    opening = rng.choice(["10:00", "11:00", "11:30", "12:00"])
    closing = rng.choice(["21:00", "22:00", "22:30", "23:00"])
    hours = {day: f"{opening}-{closing}" for day in WEEKDAYS}
    hours["friday"] = hours["saturday"] = f"{opening}-23:30"
    if not open_now:
        hours["wednesday"] = rng.choice(["closed", "11:00-15:00", "07:00-14:00"])
    return hours


def _menu(rng: random.Random, dishes: list[Dish], next_item: Callable[[], str]) -> dict:
    chosen = sorted(rng.sample(dishes, rng.randint(7, len(dishes))), key=dishes.index)
    categories = []
    for category in CATEGORIES:
        items = []
        for name, dish_category, diets, low in chosen:
            if dish_category != category:
                continue
            items.append(
                {
                    "id": next_item(),
                    "name": name,
                    "description": rng.choice(DESCRIPTIONS).format(name.lower()),
                    "price": two_decimal_amount(rng, low, low + 4),
                    "category": category,
                    "available": rng.random() < 0.88,
                    "dietary_info": [DIETS[code] for code in diets],
                    "calories": rng.randrange(90, 1100, 5),
                    "prep_time_minutes": rng.randint(5, 30),
                }
            )
        if items:
            categories.append({"name": category, "items": items})
    return {"categories": categories}


def _restaurants(rng: random.Random) -> dict[str, dict]:
    restaurants: dict[str, dict] = {}
    names = {cuisine: rng.sample(stems, len(stems)) for cuisine, (stems, _) in CUISINES.items()}
    item_count = 0
    streets = FreshValues(rng)
    restaurant_names = FreshValues(rng)

    def next_item() -> str:
        nonlocal item_count
        item_count += 1
        return f"MI{item_count:03d}"

    for city, (state, zips) in CITIES.items():
        cuisines = rng.sample(list(CUISINES), RESTAURANTS_PER_CITY - 2) + rng.sample(list(CUISINES), 2)
        closed = set(rng.sample(range(RESTAURANTS_PER_CITY), rng.randint(2, 3)))
        for index, cuisine in enumerate(cuisines):
            restaurant_id = f"R{len(restaurants) + 1:03d}"
            stems = names[cuisine]
            if stems:
                name = stems.pop()
                restaurant_names.used.add(name)
            else:  # more restaurants of this cuisine than names: '<name> <city>'
                name = restaurant_names.draw(lambda c=cuisine, at=city: f"{rng.choice(CUISINES[c][0])} {at}")
            menu = _menu(rng, CUISINES[cuisine][1], next_item)
            diets = {d for c in menu["categories"] for item in c["items"] for d in item["dietary_info"]}
            status = "closed" if index in closed else "open"
            restaurants[restaurant_id] = {
                "id": restaurant_id,
                "restaurant_id": restaurant_id,
                "name": name,
                "cuisine": cuisine,
                "address": f"{_street(streets)}, {city}, {state} {rng.choice(zips)}",
                "phone": f"+1-555-{rng.randint(1000, 9999)}",
                "rating": round(rng.uniform(3.4, 4.9), 1),
                "review_count": rng.randint(40, 2500),
                "price_range": rng.choices(["$", "$$", "$$$"], weights=[3, 5, 2])[0],
                "delivery_fee": rng.choice(DELIVERY_FEES),
                "minimum_order": rng.choice(MINIMUM_ORDERS),
                "estimated_delivery_time": rng.choice(DELIVERY_TIMES),
                "status": status,
                "hours": _hours(rng, status == "open"),
                "dietary_options": [d for d in DIETS.values() if d in diets],
                "delivery_radius_miles": rng.randint(3, 8),
                "accepts_cash": rng.random() < 0.5,
                "alcohol_available": rng.random() < 0.4,
                "full_menu": menu,
            }
    return restaurants


# --- users -----------------------------------------------------------------------------------


def _saved_address(rng: random.Random, label: str, city: str, fresh: FreshValues, default: bool) -> dict:
    state, zips = CITIES[city]
    return {
        "id": fresh.draw(lambda: f"addr_{rng.randint(100000, 999999)}"),
        "label": label,
        "street": _street(fresh),
        "city": city,
        "state": state,
        "zip": rng.choice(zips),
        "instructions": rng.choice(["", *NOTES[:2]]),
        "is_default": default,
    }


def _cards(rng: random.Random, fresh: FreshValues) -> list[dict]:
    cards = []
    for index in range(rng.choices([1, 2, 3], weights=[4, 4, 2])[0]):
        cards.append(
            {
                "id": fresh.draw(lambda: f"credit_card_{rng.randint(1_000_000, 9_999_999)}"),
                "type": "credit_card",
                "brand": rng.choice(CARD_BRANDS),
                "last_four": fresh.draw(lambda: f"{rng.randint(0, 9999):04d}"),
                "is_default": index == 0,
            }
        )
    return cards


def _users(rng: random.Random, restaurants: dict[str, dict]) -> dict[str, dict]:
    users = {}
    fresh = FreshValues(rng)
    names = sample_names(rng, FIRST_NAMES, LAST_NAMES, USER_COUNT)
    for number, (first, last) in enumerate(names, start=1):
        user_id = f"U{number:03d}"
        home_city = rng.choice(list(CITIES))
        work_default = rng.random() < 0.2
        addresses = [_saved_address(rng, "Home", home_city, fresh, True)]
        if rng.random() < 0.7:
            work_city = home_city if rng.random() < 0.7 else rng.choice([c for c in CITIES if c != home_city])
            addresses.append(_saved_address(rng, "Work", work_city, fresh, work_default))
            addresses[0]["is_default"] = not work_default
        home = addresses[0]
        local = [r for r, restaurant in restaurants.items() if restaurant["address"].split(", ")[1] == home_city]
        users[user_id] = {
            "id": user_id,
            "user_id": user_id,
            "name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{rng.randint(10, 9999)}@email.com",
            "phone": f"+1-555-{rng.randint(1000, 9999)}",
            "date_of_birth": f"{rng.randint(1955, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "address": {key: home[key] for key in ("street", "city", "state", "zip")},
            "membership": {
                "type": rng.choices(list(MEMBERSHIPS), weights=list(MEMBERSHIPS.values()))[0],
                "since": f"{rng.randint(2019, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                "points": rng.randint(0, 5000),
            },
            "payment_methods": _cards(rng, fresh),
            "delivery_addresses": addresses,
            "dietary_preferences": sorted(rng.sample(list(DIETS.values()), rng.choice([0, 0, 1, 2]))),
            "order_history": [],
            "favorite_restaurants": sorted(rng.sample(local, rng.randint(0, 2))),
            "account_stats": {"total_orders": 0, "total_spent": 0.0, "average_rating_given": 0.0},
        }
    return users


# --- orders ----------------------------------------------------------------------------------


def _order_lines(rng: random.Random, restaurant: dict, available_only: bool) -> list[dict]:
    """One to three menu items with quantities, adding units until the minimum order is met."""
    menu = [item for c in restaurant["full_menu"]["categories"] for item in c["items"]]
    menu = [item for item in menu if item["available"] or not available_only]
    chosen = rng.sample(menu, min(len(menu), rng.choices([1, 2, 3], weights=[3, 4, 3])[0]))
    quantities = [rng.choices([1, 2, 3], weights=[6, 3, 1])[0] for _ in chosen]
    while sum(item["price"] * q for item, q in zip(chosen, quantities, strict=True)) < restaurant["minimum_order"]:
        quantities[rng.randrange(len(quantities))] += 1
    return [
        {
            "item_id": item["id"],
            "name": item["name"],
            "quantity": quantity,
            "unit_price": item["price"],
            "total_price": round(item["price"] * quantity, 2),
        }
        for item, quantity in zip(chosen, quantities, strict=True)
    ]


def _order_date(rng: random.Random, status: str, now: datetime) -> datetime:
    low, high = ORDER_STATUSES[status][1]
    if status == "delivered":
        window = 7 * 24 * 60 - 30
        low, high = (low, window) if rng.random() < RECENT_DELIVERED_SHARE else (window + 90, high)
    return now - timedelta(minutes=rng.randint(low, high), seconds=rng.randint(0, 59))


def _order(rng: random.Random, user: dict, restaurants: dict[str, dict], now: datetime) -> dict:
    status = rng.choices(list(ORDER_STATUSES), weights=[w for w, _ in ORDER_STATUSES.values()])[0]
    addresses = user["delivery_addresses"]
    default = next(a for a in addresses if a["is_default"])
    address = default if rng.random() < 0.75 else rng.choice(addresses)
    active = status in ("placed", "confirmed", "preparing", "out_for_delivery")
    local = [
        r
        for r in restaurants.values()
        if r["address"].split(", ")[1] == address["city"] and (r["status"] == "open" or not active)
    ]
    restaurant = rng.choice(local)
    lines = _order_lines(rng, restaurant, available_only=active or status == "scheduled")
    subtotal = round(sum(line["total_price"] for line in lines), 2)
    delivery_fee = 0.0 if user["membership"]["type"] == "premium" else restaurant["delivery_fee"]
    tax = round(subtotal * 0.08, 2)
    tip = rng.choice(TIPS)
    cards = user["payment_methods"]
    return {
        "user_id": user["user_id"],
        "restaurant_id": restaurant["restaurant_id"],
        "restaurant_name": restaurant["name"],
        "items": lines,
        "subtotal": subtotal,
        "delivery_fee": delivery_fee,
        "tax": tax,
        "tip": tip,
        "total": round(subtotal + delivery_fee + tax + tip, 2),
        "status": status,
        "order_date": _clock(_order_date(rng, status, now)),
        "delivery_address": dict(address),
        "payment_method_id": (cards[0] if rng.random() < 0.7 else rng.choice(cards))["id"],
        "special_instructions": rng.choice(["", "", *NOTES]),
        "estimated_delivery_time": restaurant["estimated_delivery_time"],
        "driver_id": f"D{rng.randint(100, 999)}" if status in ("out_for_delivery", "delivered") else None,
        "rating": rng.choice([None, None, 3, 4, 5, 5, 2]) if status == "delivered" else None,
    }


def generate_database(seed: int = 0) -> dict[str, dict]:
    """A small, consistent food-delivery database: ``{"orders", "restaurants", "users"}`` keyed by id.

    Orders are numbered in date order; each is priced as the policy prices new orders (plus a tip)
    and goes to one of its customer's saved addresses in the restaurant's city.
    """
    rng = random.Random(seed)
    now = datetime.fromisoformat(NOW)
    restaurants = _restaurants(rng)
    users = _users(rng, restaurants)
    owners = list(users) + rng.choices(list(users), k=ORDER_COUNT - len(users))
    drafts = sorted((_order(rng, users[u], restaurants, now) for u in owners), key=lambda o: o["order_date"])
    orders = {}
    for number, draft in enumerate(drafts, start=1):
        order_id = f"O{number:04d}"
        orders[order_id] = {"id": order_id, "order_id": order_id, **draft}
        users[draft["user_id"]]["order_history"].append(order_id)
    for user in users.values():
        mine = [orders[o] for o in user["order_history"]]
        ratings = [o["rating"] for o in mine if o["rating"] is not None]
        user["account_stats"] = {
            "total_orders": len(mine),
            "total_spent": round(sum(o["total"] for o in mine if o["status"] != "cancelled"), 2),
            "average_rating_given": round(sum(ratings) / len(ratings), 1) if ratings else 0.0,
        }
    return {"orders": orders, "restaurants": restaurants, "users": users}


# --- tasks -----------------------------------------------------------------------------------

PERSONAS = [
    "You are polite and patient.",
    "You are in a hurry and keep your messages short.",
    "You are friendly and chatty.",
    "You are cautious and want each step explained before you agree to it.",
    "You are not comfortable with apps and need some guidance.",
    "You are direct and get straight to the point.",
    "You are a little annoyed but stay civil.",
    "You are hungry and want this sorted out quickly.",
]
CANCEL_REASONS = {
    "changed my mind": "you changed your mind",
    "ordered by mistake": "you placed it by mistake",
    "delivery too slow": "it is taking too long",
    "wrong order details": "you got some details of the order wrong",
}
REFUND_PROBLEMS = {
    "missing item": "never arrived (it was missing from the bag)",
    "wrong item": "was wrong (you received a different dish instead)",
    "damaged or spilled": "arrived spilled all over the bag",
}
NOT_REFUNDABLE = [
    "tasted too salty",
    "was colder than you like",
    "was not as good as last time",
    "was too spicy for you",
]
RATING_WORDS = {1: "terrible", 2: "poor", 3: "okay", 4: "good", 5: "excellent"}
TASK_FORMAT = TaskFormat("doordash", PERSONAS, test_every=3)


class _Writer:
    """Reads the generated database, phrases customers' goals and runs gold calls through the tools."""

    def __init__(self, db: dict[str, dict], rng: random.Random):
        self.rng = rng
        self.orders, self.restaurants, self.users = db["orders"], db["restaurants"], db["users"]
        self.replay = GoldReplay(TOOLS, Database(db))

    def draft(
        self,
        template: str,
        user_id: str,
        goal: str,
        actions: list[Action],
        rules: list[str],
        outputs: list[str] | None = None,
        refusal: bool = False,
    ) -> Draft:
        """A draft whose user introduces themself by name and customer id."""
        intro = f"You are {self.users[user_id]['name']}, DoorDash customer {user_id}."
        return Draft(template, user_id, intro, goal, actions, rules, outputs or [], refusal)

    # people and things as a customer names them

    @staticmethod
    def auth(user_id: str) -> Action:
        return Action("get_user_details", {"user_id": user_id})

    def city(self, restaurant: dict) -> str:
        return restaurant["address"].split(", ")[1]

    def restaurant_ref(self, restaurant: dict) -> str:
        article = "an" if restaurant["cuisine"][0] in "AEIOU" else "a"
        return f"{restaurant['name']} ({article} {restaurant['cuisine']} restaurant in {self.city(restaurant)})"

    def find_restaurant(self, restaurant: dict) -> list[Action]:
        """The calls that take an agent from the restaurant's name and cuisine to its menu."""
        return [
            Action("search_restaurants", {"cuisine": restaurant["cuisine"]}),
            Action("get_restaurant_menu", {"restaurant_id": restaurant["restaurant_id"]}),
        ]

    @staticmethod
    def card_text(card: dict) -> str:
        return f"your {card['brand']} card ending in {card['last_four']}"

    @staticmethod
    def address_text(address: dict) -> str:
        return f"your {address['label']} address ({address['street']}, {address['city']})"

    def menu(self, restaurant: dict, available: bool | None = True) -> list[dict]:
        items = [item for c in restaurant["full_menu"]["categories"] for item in c["items"]]
        return [item for item in items if available is None or item["available"] is available]

    def refer_to_order(self, order_id: str) -> tuple[str, list[Action]]:
        """The order by id, or by its restaurant when the customer has no other order from it."""
        order = self.orders[order_id]
        user_id = order["user_id"]
        same_place = [
            o for o in self.users[user_id]["order_history"] if self.orders[o]["restaurant_id"] == order["restaurant_id"]
        ]
        status = Action("get_order_status", {"order_id": order_id})
        if len(same_place) == 1 and self.rng.random() < 0.4:
            history = Action("get_user_order_history", {"user_id": user_id})
            return f"your order from {order['restaurant_name']}", [history, status]
        return f"your order {order_id} from {order['restaurant_name']}", [status]

    def orders_in(self, *statuses: str) -> list[str]:
        return [o for o, order in self.orders.items() if order["status"] in statuses]

    def recent(self, order_id: str) -> bool:
        """Inside the 7-day window for item refunds."""
        age = datetime.fromisoformat(NOW) - datetime.fromisoformat(self.orders[order_id]["order_date"])
        return age <= timedelta(days=7)

    def other_address(self, order: dict, same_city: bool) -> dict | None:
        """A saved address of the order's customer other than the order's, in (or out of) its restaurant's city."""
        city = self.city(self.restaurants[order["restaurant_id"]])
        others = [
            a
            for a in self.users[order["user_id"]]["delivery_addresses"]
            if a["id"] != order["delivery_address"]["id"] and (a["city"] == city) is same_city
        ]
        return self.rng.choice(others) if others else None

    def open_restaurants(self, city: str) -> list[dict]:
        return [r for r in self.restaurants.values() if self.city(r) == city and r["status"] == "open"]


def _wanted(lines: list[tuple[dict, int]]) -> str:
    return " and ".join(f"{quantity} x {item['name']}" for item, quantity in lines)


# Each template turns one candidate (an order or user id) into a draft, or None when it does not fit.


def _basket(w: _Writer, restaurant: dict) -> list[tuple[dict, int]] | None:
    """Available items with quantities whose subtotal reaches the restaurant's minimum order."""
    menu = w.menu(restaurant)
    if not menu:
        return None
    chosen = w.rng.sample(menu, min(len(menu), w.rng.choice([1, 2, 2, 3])))
    quantities = [w.rng.choice([1, 1, 2]) for _ in chosen]
    while sum(item["price"] * q for item, q in zip(chosen, quantities, strict=True)) < restaurant["minimum_order"]:
        quantities[w.rng.randrange(len(chosen))] += 1
    return list(zip(chosen, quantities, strict=True))


def _place_order(w: _Writer, user_id: str, ask_total: bool = False) -> Draft | None:
    user = w.users[user_id]
    address = w.rng.choice(user["delivery_addresses"])
    restaurants = w.open_restaurants(address["city"])
    if not restaurants:
        return None
    restaurant = w.rng.choice(restaurants)
    lines = _basket(w, restaurant)
    if lines is None:
        return None
    card = w.rng.choice(user["payment_methods"])
    kwargs = {
        "user_id": user_id,
        "restaurant_id": restaurant["restaurant_id"],
        "items": [{"item_id": item["id"], "quantity": quantity} for item, quantity in lines],
        "delivery_address": address["id"],
        "payment_method": card["id"],
    }
    goal = (
        f"You want to order {_wanted(lines)} from {w.restaurant_ref(restaurant)}, delivered to "
        f"{w.address_text(address)} and paid with {w.card_text(card)}."
    )
    if w.rng.random() < 0.3:
        kwargs["special_instructions"] = w.rng.choice(NOTES)
        goal += f' You want the note "{kwargs["special_instructions"]}" on the order.'
    actions = [w.auth(user_id), *w.find_restaurant(restaurant), Action("create_order", kwargs)]
    outputs = []
    if ask_total:
        total = money_text(w.replay.require(actions)[-1]["order"]["total"])
        if total is None:
            return None
        goal += " Before saying yes you want to know the total you will pay."
        outputs = [total]
    else:
        w.replay.require(actions)
    template = "place_order_total" if ask_total else "place_order"
    return w.draft(template, user_id, goal, actions, ["R1", "R3", "R4", "R5", "R6", "R7"], outputs)


def _place_order_total(w: _Writer, user_id: str) -> Draft | None:
    return _place_order(w, user_id, ask_total=True)


def _fill_cart(w: _Writer, user_id: str) -> Draft | None:
    user = w.users[user_id]
    default = next(a for a in user["delivery_addresses"] if a["is_default"])
    restaurants = w.open_restaurants(default["city"])
    if not restaurants:
        return None
    restaurant = w.rng.choice(restaurants)
    menu = w.menu(restaurant)
    if not menu:
        return None
    lines = [(item, w.rng.choice([1, 1, 2, 3])) for item in w.rng.sample(menu, min(len(menu), w.rng.randint(1, 2)))]
    adds = [
        Action(
            "add_item_to_cart",
            {"user_id": user_id, "restaurant_id": restaurant["restaurant_id"], "item_id": item["id"], "quantity": q},
        )
        for item, q in lines
    ]
    actions = [w.auth(user_id), *w.find_restaurant(restaurant), *adds]
    w.replay.require(actions)
    goal = (
        f"You want {_wanted(lines)} from {w.restaurant_ref(restaurant)} put in your cart so you can order later. "
        "You do not want to place the order now."
    )
    return w.draft("fill_cart", user_id, goal, actions, ["R1", "R3", "R4", "R8"])


def _cancel(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    user_id = order["user_id"]
    reason = w.rng.choice(list(CANCEL_REASONS))
    ref, lookups = w.refer_to_order(order_id)
    actions = [w.auth(user_id), *lookups, Action("cancel_order", {"order_id": order_id, "reason": reason})]
    refund = money_text(w.replay.require(actions)[-1]["refund_amount"])
    goal = f"You want to cancel {ref} because {CANCEL_REASONS[reason]}."
    outputs = []
    if refund is not None and w.rng.random() < 0.5:
        goal += " You want to know how much money you will get back."
        outputs = [refund]
    return w.draft("cancel_order", user_id, goal, actions, ["R1", "R2", "R3", "R10"], outputs)


def _cancel_preparing(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    user_id = order["user_id"]
    reason = w.rng.choice(["changed my mind", "delivery too slow"])
    ref, lookups = w.refer_to_order(order_id)
    actions = [w.auth(user_id), *lookups, Action("cancel_order", {"order_id": order_id, "reason": reason})]
    refund = money_text(w.replay.require(actions)[-1]["refund_amount"])
    if refund is None:
        return None
    goal = (
        f"You want to cancel {ref} because {CANCEL_REASONS[reason]}. You want to know how much you will get "
        "back; even if it is not the full amount, you still want to cancel."
    )
    return w.draft("cancel_preparing", user_id, goal, actions, ["R1", "R2", "R3", "R10"], [refund])


def _change_address(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    address = w.other_address(order, same_city=True)
    if address is None:
        return None
    ref, lookups = w.refer_to_order(order_id)
    actions = [
        w.auth(order["user_id"]),
        *lookups,
        Action("update_order", {"order_id": order_id, "delivery_address": address["id"]}),
    ]
    w.replay.require(actions)
    goal = f"You want {ref} delivered to {w.address_text(address)} instead."
    return w.draft("change_order_address", order["user_id"], goal, actions, ["R1", "R2", "R3", "R5", "R9"])


def _change_note(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    note = w.rng.choice([n for n in NOTES if n != order["special_instructions"]])
    ref, lookups = w.refer_to_order(order_id)
    actions = [
        w.auth(order["user_id"]),
        *lookups,
        Action("update_order", {"order_id": order_id, "special_instructions": note}),
    ]
    w.replay.require(actions)
    goal = f'You want the special instructions of {ref} to read exactly "{note}" (replacing what is there).'
    return w.draft("change_order_note", order["user_id"], goal, actions, ["R1", "R2", "R3", "R9"])


def _refund(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    if not w.recent(order_id):
        return None
    lines = w.rng.sample(order["items"], min(len(order["items"]), w.rng.choice([1, 1, 2])))
    reason = w.rng.choice(list(REFUND_PROBLEMS))
    ref, lookups = w.refer_to_order(order_id)
    call = Action("request_refund", {"order_id": order_id, "item_ids": [x["item_id"] for x in lines], "reason": reason})
    actions = [w.auth(order["user_id"]), *lookups, call]
    amount = money_text(w.replay.require(actions)[-1]["refund_amount"])
    if amount is None:
        return None
    dishes = " and the ".join(line["name"] for line in lines)
    goal = (
        f"In {ref}, delivered recently, the {dishes} {REFUND_PROBLEMS[reason]}. You want your money back for "
        f"{'them' if len(lines) > 1 else 'it'} and want to know how much will be refunded."
    )
    return w.draft("item_refund", order["user_id"], goal, actions, ["R1", "R2", "R3", "R11"], [amount])


def _promo(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    codes = ["WELCOME5", "SAVE15", "FREEDELIVERY", "PREMIUM20"]
    fitting = [
        c for c in codes if not w.replay.refused(Action("apply_promo_code", {"order_id": order_id, "promo_code": c}))
    ]
    if not fitting:
        return None
    code = w.rng.choice(fitting)
    ref, lookups = w.refer_to_order(order_id)
    actions = [
        w.auth(order["user_id"]),
        *lookups,
        Action("apply_promo_code", {"order_id": order_id, "promo_code": code}),
    ]
    total = money_text(w.replay.require(actions)[-1]["order"]["total"])
    if total is None:
        return None
    goal = f"You have the promo code {code} and want it applied to {ref}. You want to know the new total."
    return w.draft("apply_promo", order["user_id"], goal, actions, ["R1", "R2", "R3", "R12"], [total])


def _saved_address_change(w: _Writer, user_id: str) -> Draft | None:
    user = w.users[user_id]
    address = w.rng.choice(user["delivery_addresses"])
    kind = w.rng.choice(["moved", "instructions", "default"])
    kwargs: dict = {"user_id": user_id, "address_id": address["id"]}
    if kind == "default":
        if address["is_default"]:
            return None
        kwargs["make_default"] = True
        goal = f"You want {w.address_text(address)} to be your default delivery address from now on."
    elif kind == "instructions":
        note = w.rng.choice([n for n in NOTES if n != address["instructions"]])
        kwargs["instructions"] = note
        goal = f'You want the courier instructions of {w.address_text(address)} to read exactly "{note}".'
    else:
        state, zips = CITIES[address["city"]]
        kwargs["street"] = _street(FreshValues(w.rng, (a["street"] for a in user["delivery_addresses"])))
        kwargs["zip"] = w.rng.choice(zips)
        goal = (
            f"You moved within {address['city']}: your {address['label']} address is now {kwargs['street']}, "
            f"{address['city']}, {state} {kwargs['zip']}, and you want the saved address updated."
        )
    actions = [w.auth(user_id), Action("update_delivery_address", kwargs)]
    w.replay.require(actions)
    return w.draft("update_saved_address", user_id, goal, actions, ["R1", "R3", "R14"])


def _rate(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    if order["rating"] is not None:
        return None
    rating = w.rng.choice([1, 2, 3, 4, 5, 5, 4])
    ref, lookups = w.refer_to_order(order_id)
    actions = [w.auth(order["user_id"]), *lookups, Action("rate_order", {"order_id": order_id, "rating": rating})]
    w.replay.require(actions)
    goal = f"You want to rate {ref} {rating} out of 5: it was {RATING_WORDS[rating]}."
    return w.draft("rate_order", order["user_id"], goal, actions, ["R1", "R2", "R3", "R13"])


def _cancel_and_rate(w: _Writer, user_id: str) -> Draft | None:
    """Two requests in one conversation: cancel an order not yet being prepared, rate a delivered one."""
    mine = w.users[user_id]["order_history"]
    cancellable = [o for o in mine if w.orders[o]["status"] in BEFORE_PREPARATION]
    ratable = [o for o in mine if w.orders[o]["status"] == "delivered" and w.orders[o]["rating"] is None]
    if not cancellable or not ratable:
        return None
    cancel_id, rate_id = w.rng.choice(cancellable), w.rng.choice(ratable)
    reason, rating = w.rng.choice(list(CANCEL_REASONS)), w.rng.randint(1, 5)
    actions = [
        w.auth(user_id),
        Action("get_order_status", {"order_id": cancel_id}),
        Action("cancel_order", {"order_id": cancel_id, "reason": reason}),
        Action("get_order_status", {"order_id": rate_id}),
        Action("rate_order", {"order_id": rate_id, "rating": rating}),
    ]
    w.replay.require(actions)
    goal = (
        f"You want to cancel your order {cancel_id} because {CANCEL_REASONS[reason]}. You also want to rate your "
        f"earlier order {rate_id} from {w.orders[rate_id]['restaurant_name']} {rating} out of 5."
    )
    return w.draft("cancel_and_rate", user_id, goal, actions, ["R1", "R2", "R3", "R10", "R13"])


def _order_total(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    total = money_text(order["total"])
    if total is None:
        return None
    actions = [w.auth(order["user_id"]), Action("get_order_status", {"order_id": order_id})]
    goal = (
        f"You want to know the total you were charged for your order {order_id} from {order['restaurant_name']}. "
        "You do not want to change anything."
    )
    return w.draft("order_total", order["user_id"], goal, actions, ["R1", "R2"], [total])


def _points(w: _Writer, user_id: str) -> Draft | None:
    membership = w.users[user_id]["membership"]
    goal = "You want to know how many reward points you have and which membership level you are on."
    outputs = [str(membership["points"]), membership["type"]]
    return w.draft("membership_points", user_id, goal, [w.auth(user_id)], ["R1"], outputs)


def _cheapest(w: _Writer, user_id: str) -> Draft | None:
    home = w.users[user_id]["address"]["city"]
    restaurant = w.rng.choice([r for r in w.restaurants.values() if w.city(r) == home])
    diet = w.rng.choice([None, "vegetarian", "vegan", "gluten-free"])
    menu = [item for item in w.menu(restaurant) if diet is None or diet in item["dietary_info"]]
    prices = sorted(item["price"] for item in menu)
    if not prices or (len(prices) > 1 and prices[0] == prices[1]):
        return None
    cheapest = next(item for item in menu if item["price"] == prices[0])
    kind = f"{diet} dish" if diet else "dish"
    goal = (
        f"You are curious about {w.restaurant_ref(restaurant)}: which is the cheapest {kind} on its menu that is "
        "available right now, and what does it cost? You do not want to order anything."
    )
    actions = [w.auth(user_id), *w.find_restaurant(restaurant)]
    return w.draft("cheapest_dish", user_id, goal, actions, ["R1"], [cheapest["name"], str(cheapest["price"])])


def _best_rated(w: _Writer, user_id: str) -> Draft | None:
    city = w.users[user_id]["address"]["city"]
    diet = w.rng.choice(list(DIETS.values()))
    fitting = [r for r in w.open_restaurants(city) if diet in r["dietary_options"]]
    ratings = sorted((r["rating"] for r in fitting), reverse=True)
    if len(ratings) < 3 or ratings[0] == ratings[1]:
        return None
    best = next(r for r in fitting if r["rating"] == ratings[0])
    goal = (
        f"You want to know which restaurant in {city} that is open now and offers {diet} options has the highest "
        "rating. You only want its name; you do not want to order."
    )
    actions = [w.auth(user_id), Action("search_restaurants", {"location": city})]
    return w.draft("best_rated_restaurant", user_id, goal, actions, ["R1"], [best["name"]])


# refusals: the gold holds only the lookups an agent needs before it refuses


def _refusal(
    w: _Writer, order_id: str, template: str, goal: str, rules: list[str], refused: Action | None = None
) -> Draft | None:
    """A task the agent must refuse; None when ``refused``, the request as a call, is one the tools allow."""
    if refused is not None and not w.replay.refused(refused):
        return None
    order = w.orders[order_id]
    actions = [w.auth(order["user_id"]), Action("get_order_status", {"order_id": order_id})]
    return w.draft(template, order["user_id"], goal, actions, rules, refusal=True)


def _refuse_cancel(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    goal = (
        f"You want to cancel your order {order_id} from {order['restaurant_name']} because you changed your mind. "
        "If the agent says it cannot be cancelled, you accept that and want nothing else."
    )
    refused = Action("cancel_order", {"order_id": order_id})
    return _refusal(w, order_id, "refuse_cancel_late", goal, ["R1", "R10"], refused)


def _refuse_address(w: _Writer, order_id: str, same_city: bool) -> Draft | None:
    """A new address in the restaurant's city once it is too late, or one in another city (out of its zone)."""
    order = w.orders[order_id]
    address = w.other_address(order, same_city)
    if address is None:
        return None
    why = "that is no longer possible" if same_city else "the restaurant cannot deliver there"
    goal = (
        f"You want your order {order_id} from {order['restaurant_name']} delivered to {w.address_text(address)} "
        f"instead. If the agent says {why}, you keep the order as it is."
    )
    refused = Action("update_order", {"order_id": order_id, "delivery_address": address["id"]})
    if same_city:
        return _refusal(w, order_id, "refuse_address_change_late", goal, ["R1", "R9"], refused)
    return _refusal(w, order_id, "refuse_address_out_of_zone", goal, ["R1", "R5", "R9"], refused)


def _refuse_refund_old(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    if w.recent(order_id):
        return None
    line = w.rng.choice(order["items"])
    goal = (
        f"Looking back at your order {order_id} from {order['restaurant_name']}, you realise the {line['name']} "
        "never arrived, and you want a refund for it. If the agent says it is too late, you accept that."
    )
    refund = Action("request_refund", {"order_id": order_id, "item_ids": [line["item_id"]], "reason": "missing item"})
    return _refusal(w, order_id, "refuse_refund_expired", goal, ["R1", "R11"], refused=refund)


def _refuse_refund_taste(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    if not w.recent(order_id):
        return None
    line = w.rng.choice(order["items"])
    goal = (
        f"The {line['name']} in your order {order_id} from {order['restaurant_name']} arrived complete but "
        f"{w.rng.choice(NOT_REFUNDABLE)}, so you want your money back for it. If the agent says this is not "
        "grounds for a refund, you accept that and want nothing else."
    )
    return _refusal(w, order_id, "refuse_refund_taste", goal, ["R1", "R11"])


def _refuse_promo(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    codes = ("HOLIDAY25", "PREMIUM20", "WELCOME5", "SAVE15", "FREEDELIVERY")
    refused = [
        c for c in codes if w.replay.refused(Action("apply_promo_code", {"order_id": order_id, "promo_code": c}))
    ]
    if not refused:
        return None
    code = w.rng.choice(refused)
    goal = (
        f"You want the promo code {code} applied to your order {order_id} from {order['restaurant_name']}. "
        "If the agent says the code cannot be used on it, you accept that and do not try other codes."
    )
    return _refusal(w, order_id, "refuse_promo", goal, ["R1", "R12"])


def _refuse_rate_twice(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    if order["rating"] is None:
        return None
    rating = w.rng.choice([r for r in range(1, 6) if r != order["rating"]])
    goal = (
        f"You want to rate your order {order_id} from {order['restaurant_name']} {rating} out of 5. If the agent "
        "says it cannot be rated again, you accept that."
    )
    rate = Action("rate_order", {"order_id": order_id, "rating": rating})
    return _refusal(w, order_id, "refuse_rate_twice", goal, ["R1", "R13"], refused=rate)


def _refuse_other_user(w: _Writer, order_id: str) -> Draft | None:
    order = w.orders[order_id]
    owner = w.users[order["user_id"]]
    user_id = w.rng.choice([u for u in w.users if u != order["user_id"]])
    wish = w.rng.choice(["cancel it", "have it delivered to your place instead", "apply the promo code WELCOME5 to it"])
    goal = (
        f"Your friend {owner['name']} placed order {order_id} from {order['restaurant_name']} on their own account "
        f"and asked you to {wish} for them. If the agent refuses, you accept that and end the conversation."
    )
    return w.draft("refuse_other_customer", user_id, goal, [w.auth(user_id)], ["R1", "R2"], refusal=True)


def _refuse_restaurant(w: _Writer, user_id: str, problem: str) -> Draft | None:
    """Ordering from a closed restaurant, below the minimum order, or a sold-out item."""
    city = w.users[user_id]["address"]["city"]
    local = [r for r in w.restaurants.values() if w.city(r) == city]
    if problem == "closed":
        restaurants = [r for r in local if r["status"] == "closed" and w.menu(r)]
    elif problem == "minimum":
        restaurants = [
            r for r in local if r["status"] == "open" and min(i["price"] for i in w.menu(r)) < r["minimum_order"]
        ]
    else:
        restaurants = [r for r in local if r["status"] == "open" and w.menu(r, available=False)]
    if not restaurants:
        return None
    restaurant = w.rng.choice(restaurants)
    if problem == "minimum":
        item = w.rng.choice([i for i in w.menu(restaurant) if i["price"] < restaurant["minimum_order"]])
    else:
        item = w.rng.choice(w.menu(restaurant, available=None if problem == "closed" else False))
    order = Action(
        "create_order",
        {"user_id": user_id, "restaurant_id": restaurant["restaurant_id"], "items": [{"item_id": item["id"]}]},
    )
    if not w.replay.refused(order):
        return None
    goal = (
        f"You want to order just one {item['name']} from {w.restaurant_ref(restaurant)} right now, delivered to "
        "your default address. If the agent says it cannot be ordered, you accept that and do not want anything else."
    )
    actions = [w.auth(user_id), Action("search_restaurants", {"cuisine": restaurant["cuisine"]})]
    if problem != "closed":
        actions.append(Action("get_restaurant_menu", {"restaurant_id": restaurant["restaurant_id"]}))
    return w.draft(f"refuse_order_{problem}", user_id, goal, actions, ["R1", "R4"], refusal=True)


def _refuse_closed(w: _Writer, user_id: str) -> Draft | None:
    return _refuse_restaurant(w, user_id, "closed")


def _refuse_minimum(w: _Writer, user_id: str) -> Draft | None:
    return _refuse_restaurant(w, user_id, "minimum")


def _refuse_sold_out(w: _Writer, user_id: str) -> Draft | None:
    return _refuse_restaurant(w, user_id, "sold_out")


Template = Callable[[_Writer, str], Draft | None]


def _templates(w: _Writer) -> Iterator[tuple[Template, list[str], int]]:
    """Each template with the candidates it draws from and how many tasks to write with it."""
    users = list(w.users)
    before_preparation = w.orders_in(*BEFORE_PREPARATION)
    delivered = w.orders_in("delivered")
    yield _place_order, users, 30
    yield _place_order_total, users, 14
    yield _fill_cart, users, 18
    yield _cancel, before_preparation, 24
    yield _cancel_preparing, w.orders_in("preparing"), 12
    yield _change_address, before_preparation, 14
    yield _change_note, w.orders_in(*BEFORE_PREPARATION, "preparing"), 14
    yield _refund, delivered, 24
    yield _promo, before_preparation, 18
    yield _saved_address_change, users, 14
    yield _rate, delivered, 12
    yield _cancel_and_rate, users, 10
    yield _order_total, w.orders_in("placed", "confirmed", "preparing", "out_for_delivery", "delivered"), 10
    yield _points, users, 6
    yield _cheapest, users, 12
    yield _best_rated, users, 10
    yield _refuse_cancel, w.orders_in("out_for_delivery", "delivered", "cancelled"), 10
    yield (
        functools.partial(_refuse_address, same_city=True),
        w.orders_in("preparing", "out_for_delivery", "delivered"),
        8,
    )
    yield functools.partial(_refuse_address, same_city=False), before_preparation, 6
    yield _refuse_refund_old, delivered, 8
    yield _refuse_refund_taste, delivered, 8
    yield _refuse_promo, w.orders_in(*BEFORE_PREPARATION, "preparing"), 12
    yield _refuse_rate_twice, delivered, 6
    yield _refuse_other_user, w.orders_in(*BEFORE_PREPARATION), 8
    yield _refuse_closed, users, 8
    yield _refuse_minimum, users, 6
    yield _refuse_sold_out, users, 6


def generate_tasks(db: dict[str, dict], seed: int = 0) -> dict[str, list[Task]]:
    """Tasks over ``db`` (from :func:`generate_database`): ``{"train": [...], "test": [...]}``.

    Every template contributes to both splits (a third of its tasks go to test). Each task starts
    from the untouched database, so tasks may concern the same order.
    """
    rng = random.Random(seed)
    writer = _Writer(db, rng)
    return draft_tasks(writer, _templates(writer), rng, TASK_FORMAT, writer.replay)


__all__ = ["generate_database", "generate_tasks"]
