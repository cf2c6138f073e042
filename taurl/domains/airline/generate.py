"""A small synthetic airline world and tasks over it, shaped exactly like τ-bench's airline data.

``generate_database`` builds flights, users and reservations with τ-bench's record schema from
``random.Random(seed)`` and the constants below: 40 flights over May 2024 between ten airports (past
dates landed or cancelled, today's flights flying, on time or delayed, later dates open for sale),
50 users and 100 reservations whose prices, bags and payments add up. ``generate_reference`` builds
the static tables beside it: the twenty airports τ-bench lists, nine aircraft types, and which type
flies each flight number HAT001-HAT300 (τ-bench's flight numbers included).

``generate_tasks`` writes tasks for that database. Each task template scans the data for
reservations or trips it fits, works out the gold actions the policy calls for, and every task is
replayed through the airline tools before it is returned, so gold actions never fail.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from taurl.core.db import Database
from taurl.core.types import Action, Task
from taurl.domains.airline.tools import (
    AIRPORTS,
    BAG_FEE,
    CABINS,
    INSURANCE_PER_PASSENGER,
    NEW_CERTIFICATE_IDS,
    NEW_RESERVATION_IDS,
    TODAY,
    TOOLS,
    search_onestop_flight,
)
from taurl.domains.generation import (
    Draft,
    FreshValues,
    GoldReplay,
    TaskFormat,
    sample_names,
    shift_day,
    street_address,
    write_tasks,
)

Record = dict[str, Any]

# --- the world --------------------------------------------------------------------------------------

#: Latitude and longitude of the airports flown, for flight durations.
COORDINATES = {
    "JFK": (40.64, -73.78),
    "BOS": (42.36, -71.01),
    "ORD": (41.98, -87.90),
    "ATL": (33.64, -84.43),
    "MIA": (25.79, -80.29),
    "DFW": (32.90, -97.04),
    "DEN": (39.86, -104.67),
    "SEA": (47.45, -122.31),
    "SFO": (37.62, -122.38),
    "LAX": (33.94, -118.41),
}
#: Airport pairs with a flight each way; pairs left out are reachable with one stop.
ROUTES = [
    ("JFK", "LAX"),
    ("JFK", "SFO"),
    ("JFK", "ORD"),
    ("JFK", "ATL"),
    ("JFK", "MIA"),
    ("BOS", "JFK"),
    ("BOS", "ORD"),
    ("BOS", "ATL"),
    ("ORD", "SEA"),
    ("ORD", "DEN"),
    ("ORD", "LAX"),
    ("ATL", "MIA"),
    ("ATL", "DFW"),
    ("DFW", "LAX"),
    ("DFW", "DEN"),
    ("DEN", "SEA"),
    ("DEN", "SFO"),
    ("SEA", "SFO"),
    ("SFO", "LAX"),
    ("MIA", "DFW"),
]
DATES = [f"2024-05-{day:02d}" for day in range(1, 31)]
#: The policy's "now" is 2024-05-15 15:00; bookings after this moment are less than a day old.
DAY_BEFORE_NOW = "2024-05-14T15:00:00"
CABIN_WORDS = {"basic_economy": "basic economy", "economy": "economy", "business": "business"}
#: Free checked bags per passenger, by membership then cabin (the policy's table).
FREE_BAGS = {
    "regular": {"basic_economy": 0, "economy": 1, "business": 2},
    "silver": {"basic_economy": 1, "economy": 2, "business": 3},
    "gold": {"basic_economy": 2, "economy": 3, "business": 3},
}
CERTIFICATE_VALUES = (100, 150, 250, 500)
N_USERS = 50
N_RESERVATIONS = 100
#: How reservations are spread over time; cycled so every seed has each kind. "underway": the
#: outbound flight has landed and the return is still to come.
TIMINGS = ("future", "future", "recent", "future", "past", "future", "disrupted", "future", "today", "underway")

FIRST_NAMES = [
    "Amara",
    "Ben",
    "Carmen",
    "Daniel",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Isabel",
    "Jamal",
    "Keiko",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Samuel",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aditya",
    "Beatriz",
    "Chloe",
    "Diego",
    "Esther",
    "Felix",
]
LAST_NAMES = [
    "Okafor",
    "Lindqvist",
    "Moreno",
    "Nakamura",
    "Petrov",
    "Haddad",
    "Kowalski",
    "Singh",
    "Brennan",
    "Castillo",
    "Dubois",
    "Ferreira",
    "Gupta",
    "Ibrahim",
    "Jensen",
    "Kim",
    "Larsen",
    "Mensah",
    "Novak",
    "Ortiz",
    "Park",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Varga",
    "Walsh",
    "Yilmaz",
    "Zhang",
    "Abbott",
]
STREETS = [
    "Maple Avenue",
    "Harbor Road",
    "Cedar Lane",
    "Sunset Boulevard",
    "Oak Street",
    "Lakeview Drive",
    "Willow Way",
    "Pine Court",
    "River Road",
    "Elm Street",
]
CITIES = [
    ("Austin", "TX", "787"),
    ("Portland", "OR", "972"),
    ("Columbus", "OH", "432"),
    ("Denver", "CO", "802"),
    ("Raleigh", "NC", "276"),
    ("Tucson", "AZ", "857"),
    ("Madison", "WI", "537"),
    ("Boise", "ID", "837"),
    ("Richmond", "VA", "232"),
    ("Omaha", "NE", "681"),
]


def _distance_km(a: str, b: str) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, COORDINATES[code])) for code in (a, b))
    cos_angle = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return 6371 * math.acos(min(1.0, cos_angle))


def _clock(minutes: int) -> str:
    """'HH:MM:00', with τ-bench's '+1' suffix for a time past midnight of the departure day."""
    day, minute = divmod(minutes, 24 * 60)
    return f"{minute // 60:02d}:{minute % 60:02d}:00" + ("+1" if day else "")


def _stamp(date: str, minutes: int) -> str:
    return (datetime.fromisoformat(date) + timedelta(minutes=minutes)).isoformat()


def _day_status(rng: random.Random, date: str, departure: int, duration: int, base: Mapping[str, int]) -> Record:
    """One date of a flight as it stands at 2024-05-15 15:00: flown, in the air, waiting, or on sale."""
    if date > TODAY:
        return {
            "status": "available",
            "available_seats": {cabin: rng.randint(0, 20) for cabin in CABINS},
            "prices": {cabin: round(base[cabin] * rng.uniform(0.85, 1.2)) for cabin in CABINS},
        }
    took_off = departure + rng.randint(-15, 40)
    landed = took_off + duration + rng.randint(-20, 15)
    now = 15 * 60
    if date < TODAY or landed < now - 30:
        if date < TODAY and rng.random() < 0.07:
            return {"status": "cancelled"}
        return {
            "status": "landed",
            "actual_departure_time_est": _stamp(date, took_off),
            "actual_arrival_time_est": _stamp(date, landed),
        }
    if departure < now:
        return {
            "status": "flying",
            "actual_departure_time_est": _stamp(date, took_off),
            "estimated_arrival_time_est": _stamp(date, landed),
        }
    delay = rng.randint(60, 180) if rng.random() < 0.4 else 0
    return {
        "status": "delayed" if delay else "on time",
        "estimated_departure_time_est": _stamp(date, departure + delay),
        "estimated_arrival_time_est": _stamp(date, departure + duration + delay),
    }


def _make_flights(rng: random.Random) -> dict[str, Record]:
    legs = [leg for a, b in ROUTES for leg in ((a, b), (b, a))]
    rng.shuffle(legs)
    numbers = sorted(rng.sample(range(1, 100), len(legs)))
    flights = {}
    for number, (origin, destination) in zip(numbers, legs, strict=True):
        duration = round((35 + _distance_km(origin, destination) / 12.5) / 30) * 30
        departure = rng.randrange(5 * 60, 23 * 60, 30)
        basic = 40 + duration // 6 + rng.randint(0, 30)
        base = {
            "basic_economy": basic,
            "economy": round(basic * rng.uniform(1.4, 1.9)),
            "business": round(basic * rng.uniform(4.0, 6.0)),
        }
        flight_number = f"HAT{number:03d}"
        flights[flight_number] = {
            "flight_number": flight_number,
            "origin": origin,
            "destination": destination,
            "scheduled_departure_time_est": _clock(departure),
            "scheduled_arrival_time_est": _clock(departure + duration),
            "dates": {date: _day_status(rng, date, departure, duration, base) for date in DATES},
        }
    return flights


def _birthday(rng: random.Random) -> str:
    return (datetime(1950, 1, 1) + timedelta(days=rng.randint(0, 52 * 365))).date().isoformat()


def _person(rng: random.Random) -> Record:
    return {"first_name": rng.choice(FIRST_NAMES), "last_name": rng.choice(LAST_NAMES), "dob": _birthday(rng)}


class _Ids(FreshValues):
    """Unique random ids, never one of the ids the tools hand out themselves."""

    def __init__(self, rng: random.Random):
        super().__init__(rng, [*NEW_RESERVATION_IDS, *NEW_CERTIFICATE_IDS])

    def payment(self, source: str) -> str:
        return self.draw(lambda: f"{source}_{self.rng.randint(1_000_000, 9_999_999)}")

    def reservation(self) -> str:
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        return self.draw(lambda: "".join(self.rng.choice(alphabet) for _ in range(6)))

    def user(self, first: str, last: str) -> str:
        return self.draw(lambda: f"{first.lower()}_{last.lower()}_{self.rng.randint(1000, 9999)}")


def _payment_methods(rng: random.Random, ids: _Ids) -> dict[str, Record]:
    methods = []
    for _ in range(rng.randint(1, 2)):
        methods.append(
            {
                "source": "credit_card",
                "brand": rng.choice(["visa", "mastercard"]),
                "last_four": f"{rng.randint(0, 9999):04d}",
                "id": ids.payment("credit_card"),
            }
        )
    for _ in range(rng.choice([0, 1, 1, 2])):
        methods.append({"source": "gift_card", "amount": rng.randint(0, 300), "id": ids.payment("gift_card")})
    for _ in range(rng.choice([0, 0, 1, 2])):
        methods.append(
            {"source": "certificate", "amount": rng.choice(CERTIFICATE_VALUES), "id": ids.payment("certificate")}
        )
    rng.shuffle(methods)
    return {method["id"]: method for method in methods}


def _make_users(rng: random.Random, ids: _Ids) -> dict[str, Record]:
    users = {}
    for first, last in sample_names(rng, FIRST_NAMES, LAST_NAMES, N_USERS):
        place = rng.choice(CITIES)
        user_id = ids.user(first, last)
        users[user_id] = {
            "name": {"first_name": first, "last_name": last},
            "address": street_address(rng, place, STREETS),
            "email": f"{first.lower()}.{last.lower()}{rng.randint(1000, 9999)}@example.com",
            "dob": _birthday(rng),
            "payment_methods": _payment_methods(rng, ids),
            "saved_passengers": [_person(rng) for _ in range(rng.randint(1, 2))],
            "membership": rng.choices(["regular", "silver", "gold"], weights=[4, 3, 3])[0],
            "reservations": [],
        }
    return users


class _Network:
    """Which flight serves which leg, and which two-flight connections work on the same day."""

    def __init__(self, flights: Mapping[str, Record]):
        self.flights = flights
        self.direct = {(f["origin"], f["destination"]): number for number, f in flights.items()}
        self.connections: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for first, second in ((a, b) for a in flights.values() for b in flights.values()):
            arrival, departure = first["scheduled_arrival_time_est"], second["scheduled_departure_time_est"]
            if (
                first["destination"] == second["origin"]
                and first["origin"] != second["destination"]
                and "+1" not in arrival
                and arrival <= departure
            ):
                key = (first["origin"], second["destination"])
                self.connections.setdefault(key, []).append((first["flight_number"], second["flight_number"]))

    def status(self, number: str, date: str) -> str:
        return self.flights[number]["dates"][date]["status"]


def _itinerary(rng: random.Random, network: _Network, timing: str) -> tuple[str, str, str, list[tuple[str, str]]]:
    """(origin, destination, flight type, [(flight number, date)...]) for a reservation of ``timing``."""
    if timing == "disrupted":
        cancelled = [(n, d) for n in network.flights for d in DATES if network.status(n, d) == "cancelled"]
        number, date = rng.choice(cancelled)
        flight = network.flights[number]
        origin, destination = flight["origin"], flight["destination"]
        legs = [(number, date)]
        if rng.random() < 0.5:
            legs.append((network.direct[(destination, origin)], shift_day(date, rng.randint(1, 3))))
        return origin, destination, "round_trip" if len(legs) == 2 else "one_way", legs
    if timing == "today":
        delayed = [n for n in network.flights if network.status(n, TODAY) == "delayed"]
        number = rng.choice(delayed or [n for n in network.flights if network.status(n, TODAY) == "on time"])
        origin, destination = network.flights[number]["origin"], network.flights[number]["destination"]
        back = network.direct[(destination, origin)]
        return origin, destination, "round_trip", [(number, TODAY), (back, shift_day(TODAY, rng.randint(2, 6)))]
    if timing == "underway":
        flown = [(n, d) for n in network.flights for d in DATES[8:14] if network.status(n, d) == "landed"]
        number, date = rng.choice(flown)
        origin, destination = network.flights[number]["origin"], network.flights[number]["destination"]
        return (
            origin,
            destination,
            "round_trip",
            [(number, date), (network.direct[(destination, origin)], rng.choice(DATES[16:24]))],
        )
    start = rng.choice(DATES[:12] if timing == "past" else DATES[15:27])
    if rng.random() < 0.2:
        (origin, destination), options = rng.choice(sorted(network.connections.items()))
        first, second = rng.choice(options)
        return origin, destination, "one_way", [(first, start), (second, start)]
    origin, destination = rng.choice(sorted(network.direct))
    legs = [(network.direct[(origin, destination)], start)]
    if rng.random() < 0.55:
        back = shift_day(start, rng.randint(1, 4))
        if back <= (DATES[13] if timing == "past" else DATES[-1]):
            legs.append((network.direct[(destination, origin)], back))
    return origin, destination, "round_trip" if len(legs) == 2 else "one_way", legs


def _paid_fare(rng: random.Random, network: _Network, number: str, date: str, cabin: str) -> int:
    """What was paid for a seat: around today's price for open dates, a plausible fare for past ones."""
    day = network.flights[number]["dates"].get(date, {})
    if "prices" in day:
        return round(day["prices"][cabin] * rng.uniform(0.85, 1.1))
    scale = {"basic_economy": 1.0, "economy": 1.6, "business": 5.0}[cabin]
    return round((60 + rng.randint(0, 60)) * scale)


def _created_at(rng: random.Random, timing: str, first_date: str) -> str:
    if timing == "recent":
        start, span = datetime.fromisoformat(DAY_BEFORE_NOW), 24 * 3600 - 2
        return (start + timedelta(seconds=rng.randint(1, span))).isoformat()
    latest = min(datetime.fromisoformat(DAY_BEFORE_NOW), datetime.fromisoformat(first_date) - timedelta(days=1))
    return (latest - timedelta(seconds=rng.randint(3600, 20 * 24 * 3600))).isoformat()


def _make_reservation(
    rng: random.Random, network: _Network, ids: _Ids, user_id: str, user: Record, timing: str
) -> Record:
    """A reservation of ``timing`` whose payment covers its fares, insurance and paid bags."""
    origin, destination, flight_type, legs = _itinerary(rng, network, timing)
    cabin = rng.choice(CABINS)
    segments = []
    for number, date in legs:
        flight = network.flights[number]
        segments.append(
            {
                "origin": flight["origin"],
                "destination": flight["destination"],
                "flight_number": number,
                "date": date,
                "price": _paid_fare(rng, network, number, date, cabin),
            }
        )
    traveller = {"first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"], "dob": user["dob"]}
    companions = list(user["saved_passengers"]) + [_person(rng) for _ in range(2)]
    wanted = rng.choices([1, 2, 3, 4], weights=[50, 30, 15, 5])[0]
    passengers = [dict(p) for p in (([traveller] if rng.random() < 0.85 else []) + companions)[:wanted]]
    count = len(passengers)
    allowance = FREE_BAGS[user["membership"]][cabin] * count
    total_bags = rng.randint(0, allowance + 2)
    nonfree = max(0, total_bags - allowance)
    insurance = "yes" if rng.random() < 0.35 else "no"
    price = sum(s["price"] for s in segments) * count + (INSURANCE_PER_PASSENGER * count if insurance == "yes" else 0)
    payable = [m["id"] for m in user["payment_methods"].values() if m["source"] != "certificate"]
    return {
        "reservation_id": ids.reservation(),
        "user_id": user_id,
        "origin": origin,
        "destination": destination,
        "flight_type": flight_type,
        "cabin": cabin,
        "flights": segments,
        "passengers": passengers,
        "payment_history": [{"payment_id": rng.choice(payable), "amount": price + BAG_FEE * nonfree}],
        "created_at": _created_at(rng, timing, segments[0]["date"]),
        "total_baggages": total_bags,
        "nonfree_baggages": nonfree,
        "insurance": insurance,
    }


def generate_database(seed: int = 0) -> dict[str, dict]:
    """A small, consistent airline database in τ-bench's format, fully determined by ``seed``."""
    rng = random.Random(seed)
    ids = _Ids(rng)
    flights = _make_flights(rng)
    users = _make_users(rng, ids)
    network = _Network(flights)
    owners = list(users) + [rng.choice(list(users)) for _ in range(N_RESERVATIONS - len(users))]
    rng.shuffle(owners)
    reservations = {}
    for index, user_id in enumerate(owners):
        reservation = _make_reservation(rng, network, ids, user_id, users[user_id], TIMINGS[index % len(TIMINGS)])
        reservations[reservation["reservation_id"]] = reservation
        users[user_id]["reservations"].append(reservation["reservation_id"])
    return {"flights": flights, "reservations": reservations, "users": users}


# --- static reference tables --------------------------------------------------------------------------

#: Code -> (airport name, city, state, time zone), for every airport ``list_all_airports`` reports.
AIRPORT_FACTS = {
    "SFO": ("San Francisco International Airport", "San Francisco", "CA", "America/Los_Angeles"),
    "JFK": ("John F. Kennedy International Airport", "New York", "NY", "America/New_York"),
    "LAX": ("Los Angeles International Airport", "Los Angeles", "CA", "America/Los_Angeles"),
    "ORD": ("O'Hare International Airport", "Chicago", "IL", "America/Chicago"),
    "DFW": ("Dallas Fort Worth International Airport", "Dallas", "TX", "America/Chicago"),
    "DEN": ("Denver International Airport", "Denver", "CO", "America/Denver"),
    "SEA": ("Seattle-Tacoma International Airport", "Seattle", "WA", "America/Los_Angeles"),
    "ATL": ("Hartsfield-Jackson Atlanta International Airport", "Atlanta", "GA", "America/New_York"),
    "MIA": ("Miami International Airport", "Miami", "FL", "America/New_York"),
    "BOS": ("Logan International Airport", "Boston", "MA", "America/New_York"),
    "PHX": ("Phoenix Sky Harbor International Airport", "Phoenix", "AZ", "America/Phoenix"),
    "IAH": ("George Bush Intercontinental Airport", "Houston", "TX", "America/Chicago"),
    "LAS": ("Harry Reid International Airport", "Las Vegas", "NV", "America/Los_Angeles"),
    "MCO": ("Orlando International Airport", "Orlando", "FL", "America/New_York"),
    "EWR": ("Newark Liberty International Airport", "Newark", "NJ", "America/New_York"),
    "CLT": ("Charlotte Douglas International Airport", "Charlotte", "NC", "America/New_York"),
    "MSP": ("Minneapolis-Saint Paul International Airport", "Minneapolis", "MN", "America/Chicago"),
    "DTW": ("Detroit Metropolitan Wayne County Airport", "Detroit", "MI", "America/Detroit"),
    "PHL": ("Philadelphia International Airport", "Philadelphia", "PA", "America/New_York"),
    "LGA": ("LaGuardia Airport", "New York", "NY", "America/New_York"),
}
#: Code -> (manufacturer, model, seats in all, range in miles).
AIRCRAFT_TYPES = {
    "319": ("Airbus", "A319", 128, 3700),
    "320": ("Airbus", "A320", 150, 3300),
    "321": ("Airbus", "A321", 190, 3200),
    "32Q": ("Airbus", "A321neo", 196, 4000),
    "738": ("Boeing", "737-800", 160, 3500),
    "739": ("Boeing", "737-900", 178, 3200),
    "752": ("Boeing", "757-200", 200, 4500),
    "763": ("Boeing", "767-300", 214, 6000),
    "E75": ("Embraer", "E175", 76, 2200),
}
#: Flight numbers the fleet table covers: all of τ-bench's (HAT001-HAT300) and every generated one.
FLEET_FLIGHTS = range(1, 301)


def generate_reference(seed: int = 0) -> dict[str, dict]:
    """The static tables beside the database: ``airports``, ``aircraft`` and ``fleet`` (flight -> aircraft).

    Names, cities, time zones, models and ranges are constants; the airline's own operating facts
    (minimum connection times, lounges, cabin layouts, wifi, which type flies which flight) are seeded.
    """
    rng = random.Random(seed)
    airports = {}
    for code, (name, city, state, timezone) in AIRPORT_FACTS.items():
        airports[code] = {
            "airport_code": code,
            "name": name,
            "city": city,
            "state": state,
            "country": "USA",
            "timezone": timezone,
            "minimum_connection_minutes": rng.choice([30, 35, 40, 45, 50, 60, 75, 90]),
            "lounge": rng.random() < 0.5,
        }
    aircraft = {}
    for code, (manufacturer, model, seats, range_miles) in AIRCRAFT_TYPES.items():
        business = round(seats * rng.uniform(0.06, 0.14))
        basic = round(seats * rng.uniform(0.1, 0.2))
        aircraft[code] = {
            "aircraft_code": code,
            "manufacturer": manufacturer,
            "model": model,
            "seats": {"basic_economy": basic, "economy": seats - business - basic, "business": business},
            "range_miles": range_miles,
            "wifi": rng.random() < 0.7,
        }
    fleet = {f"HAT{number:03d}": rng.choice(list(AIRCRAFT_TYPES)) for number in FLEET_FLIGHTS}
    return {"airports": airports, "aircraft": aircraft, "fleet": fleet}


# --- tasks -------------------------------------------------------------------------------------------

PERSONAS = (
    "You are reactive to the agent and will not say anything that is not asked.",
    "You are friendly and chatty, but you answer questions directly.",
    "You are in a hurry and want short answers.",
    "You are polite and careful, and you double-check the details before agreeing to anything.",
    "You are frustrated after earlier trouble with the airline, but you cooperate with the agent.",
    "You are not good with numbers, so you want the agent to work out the amounts for you.",
    "You are a frequent traveller who knows airline jargon and expects precise answers.",
    "You are calm and patient, and you give one piece of information at a time.",
    "You are anxious about travelling and ask the agent to confirm things before moving on.",
    "You are curt and slightly impatient, but you never refuse to answer a question.",
)
TASK_FORMAT = TaskFormat(
    "airline",
    PERSONAS,
    id_digits=3,
    metadata_keys=("template", "persona", "goal", "rules", "refusal"),
    shuffle_in_place=True,
)


#: Given a booking's total, the payment split and how the user words it.
Payer = Callable[[int], tuple[list[dict[str, Any]], str]]


@dataclass(frozen=True)
class _Trip:
    """A trip the user wants to book, with the flight combinations that would serve it."""

    origin: str
    destination: str
    cabin: str
    options: list[list[dict[str, str]]]
    one_stop: bool
    round_trip: bool

    def words(self) -> str:
        legs = self.options[0]
        when = f"leaving {_when(legs[0]['date'])}" + (
            f" and coming back {_when(legs[-1]['date'])}" if self.round_trip else ""
        )
        how = (
            "with one stop (there is no direct flight), taking the cheapest connection"
            if self.one_stop
            else "on direct flights"
            if self.round_trip
            else "on a direct flight"
        )
        kind = "a round trip" if self.round_trip else "a one-way trip"
        return f"{kind} from {_city(self.origin)} to {_city(self.destination)} {when}, {how}"

    def searches(self) -> list[Action]:
        where = {"origin": self.origin, "destination": self.destination, "date": self.options[0][0]["date"]}
        found = [Action("search_direct_flight", where)]
        if self.one_stop:
            found.append(Action("search_onestop_flight", where))
        if self.round_trip:
            found.append(
                Action(
                    "search_direct_flight",
                    {"origin": self.destination, "destination": self.origin, "date": self.options[0][-1]["date"]},
                )
            )
        return found


def _when(date: str) -> str:
    return f"May {int(date[-2:])}"


def _city(code: str) -> str:
    return AIRPORTS[code]


def _full_name(person: Mapping[str, str]) -> str:
    return f"{person['first_name']} {person['last_name']}"


def _count(number: int, noun: str) -> str:
    return f"{number or 'no'} {noun}{'' if number == 1 else 's'}"


def _fare(segments: list[Mapping[str, Any]]) -> Any:
    return sum(segment["price"] for segment in segments)


def _legs(reservation: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"flight_number": s["flight_number"], "date": s["date"]} for s in reservation["flights"]]


def _calculation(expression: str) -> Action:
    """A ``calculate`` call whose answer shows a computed output (it is not scored as an action)."""
    return Action("calculate", {"expression": expression})


def _plus(amounts: list[Any]) -> str:
    return " + ".join(str(amount) for amount in amounts)


class _TaskWriter:
    """Scans one generated database for situations each task template fits."""

    def __init__(self, db: Mapping[str, Mapping[str, Record]], reference: Mapping[str, Any], rng: random.Random):
        self.db = db
        self.reference = reference
        self.rng = rng
        self.flights = db["flights"]
        self.users = db["users"]
        self.reservations = list(db["reservations"].values())
        self.network = _Network(self.flights)

    # -- facts about the data

    def day(self, number: str, date: str) -> Record:
        return self.flights[number]["dates"][date]

    def user(self, reservation: Mapping[str, Any]) -> Record:
        return self.users[reservation["user_id"]]

    def upcoming(self, reservation: Mapping[str, Any]) -> bool:
        return reservation["flights"][0]["date"] > TODAY

    def underway(self, reservation: Mapping[str, Any]) -> bool:
        """Some flight of the trip has landed and another is still on sale."""
        statuses = self.statuses(reservation)
        return "landed" in statuses and "available" in statuses

    def recent(self, reservation: Mapping[str, Any]) -> bool:
        return reservation["created_at"] > DAY_BEFORE_NOW

    def statuses(self, reservation: Mapping[str, Any]) -> set[str]:
        return {self.day(s["flight_number"], s["date"])["status"] for s in reservation["flights"]}

    def sellable(self, legs: list[Mapping[str, str]], cabin: str, travellers: int) -> bool:
        days = [self.day(leg["flight_number"], leg["date"]) for leg in legs]
        return all(d["status"] == "available" and d["available_seats"][cabin] >= travellers for d in days)

    def price(self, legs: list[Mapping[str, str]], cabin: str) -> int:
        return sum(self.day(leg["flight_number"], leg["date"])["prices"][cabin] for leg in legs)

    def fares(self, legs: list[Mapping[str, str]], cabin: str) -> list[int]:
        return [self.day(leg["flight_number"], leg["date"])["prices"][cabin] for leg in legs]

    def free_bags(self, reservation: Mapping[str, Any]) -> int:
        return FREE_BAGS[self.user(reservation)["membership"]][reservation["cabin"]]

    def allowance(self, reservation: Mapping[str, Any]) -> int:
        return self.free_bags(reservation) * len(reservation["passengers"])

    def compensable(self, reservation: Mapping[str, Any]) -> bool:
        """The policy's test for goodwill certificates: status, insurance or business cabin."""
        return (
            self.user(reservation)["membership"] != "regular"
            or reservation["insurance"] == "yes"
            or reservation["cabin"] == "business"
        )

    def cancel_reason(self, reservation: Mapping[str, Any]) -> str | None:
        """Why the policy lets this reservation be cancelled, in the user's words, or None."""
        if not self.upcoming(reservation):
            return None
        if self.recent(reservation):
            return "You booked it less than a day ago and your plans have changed."
        if reservation["cabin"] == "business":
            return "Your plans have changed and you no longer need the trip."
        if reservation["insurance"] == "yes":
            return "You have fallen ill and your doctor told you not to travel. You remember buying travel insurance."
        return None

    def methods(self, user: Mapping[str, Any], source: str) -> list[Record]:
        return [m for m in user["payment_methods"].values() if m["source"] == source]

    def card_for(self, user: Mapping[str, Any], charge: int) -> Record:
        """A gift card that covers ``charge`` if the user has one (sometimes), else a credit card."""
        gift_cards = [m for m in self.methods(user, "gift_card") if m["amount"] >= max(charge, 0)]
        if gift_cards and self.rng.random() < 0.5:
            return self.rng.choice(gift_cards)
        return self.rng.choice(self.methods(user, "credit_card"))

    def original_card(self, reservation: Mapping[str, Any]) -> Record | None:
        """The credit card or gift card that paid for the reservation, as ``upgrade_seat`` picks it."""
        saved = self.user(reservation)["payment_methods"]
        for payment in reservation["payment_history"]:
            method = saved.get(payment["payment_id"])
            if method is not None and method["source"] in ("credit_card", "gift_card"):
                return method
        return None

    # -- words and identification

    @staticmethod
    def payment_words(method: Mapping[str, Any]) -> str:
        if method["source"] == "credit_card":
            return f"your {method['brand'].title()} credit card ending in {method['last_four']}"
        if method["source"] == "gift_card":
            return f"your gift card ending in {method['id'][-4:]}"
        return f"your {method['amount']} dollar travel certificate"

    def trip_words(self, reservation: Mapping[str, Any]) -> str:
        kind = "round trip" if reservation["flight_type"] == "round_trip" else "one-way trip"
        return (
            f"your {kind} from {_city(reservation['origin'])} to {_city(reservation['destination'])} "
            f"departing {_when(reservation['flights'][0]['date'])}"
        )

    def name(self, user_id: str) -> str:
        return _full_name(self.users[user_id]["name"])

    def intro(self, user_id: str) -> str:
        return f"You are {self.name(user_id)}, and your user id is {user_id}."

    def email_intro(self, user_id: str) -> tuple[str, list[Action]]:
        """The user knows only their email: the lookup that finds their id."""
        email = self.users[user_id]["email"]
        return (
            f"You are {self.name(user_id)}. You do not remember your user id, but your email address is {email}.",
            [Action("lookup_passenger", {"email": email})],
        )

    def confirmation_intro(self, reservation: Mapping[str, Any]) -> tuple[str, list[Action]]:
        """The user knows only a booking's confirmation number (its reservation id)."""
        rid = reservation["reservation_id"]
        return (
            f"You are {self.name(reservation['user_id'])}. You do not remember your user id, but you have the "
            f"confirmation number of your booking: {rid}.",
            [Action("lookup_passenger", {"confirmation_number": rid})],
        )

    def refer(self, reservation: Mapping[str, Any], profile: bool = False) -> tuple[str, list[Action]]:
        """How the user names the reservation, and the lookups an agent needs to find it.

        ``profile``: the agent must read the user's profile anyway (membership, payment methods).
        """
        lookup = Action("get_reservation_details", {"reservation_id": reservation["reservation_id"]})
        siblings = [self.db["reservations"][rid] for rid in self.user(reservation)["reservations"]]
        ambiguous = sum(self.trip_words(other) == self.trip_words(reservation) for other in siblings) > 1
        remembered = ambiguous or self.rng.random() < 0.6
        if remembered and not profile:
            return f"reservation {reservation['reservation_id']}", [lookup]
        words = (
            f"reservation {reservation['reservation_id']}"
            if remembered
            else f"{self.trip_words(reservation)} (you do not remember the reservation id)"
        )
        return words, [Action("get_user_details", {"user_id": reservation["user_id"]}), lookup]

    def draft(
        self,
        template: str,
        group: str,
        reservation_or_user: Mapping[str, Any] | str,
        request: str,
        actions: list[Action],
        rules: list[str],
        outputs: list[str] | None = None,
        *,
        intro: str | None = None,
        tool_set: str = "default",
    ) -> Draft:
        """``group`` is "write", "info" or "refusal"; ``request`` is the user's goal."""
        user_id = reservation_or_user if isinstance(reservation_or_user, str) else reservation_or_user["user_id"]
        intro = intro or self.intro(user_id)
        refusal = group == "refusal"
        return Draft(template, user_id, intro, request, actions, rules, list(outputs or []), refusal, tool_set)

    # -- cancelling

    def cancel(self, kind: str, fits: Callable[[Record], bool], reason: str, rules: list[str]) -> Iterator[Draft]:
        for r in self.reservations:
            if fits(r):
                ref, lookups = self.refer(r)
                cancel = Action("cancel_reservation", {"reservation_id": r["reservation_id"]})
                yield self.draft(kind, "write", r, f"You want to cancel {ref}. {reason}", [*lookups, cancel], rules)

    def cancel_recent(self) -> Iterator[Draft]:
        yield from self.cancel(
            "cancel_recent",
            lambda r: self.upcoming(r) and self.recent(r),
            "You booked it less than a day ago and your plans have changed.",
            ["R1", "R2", "R12"],
        )

    def cancel_business(self) -> Iterator[Draft]:
        yield from self.cancel(
            "cancel_business",
            lambda r: self.upcoming(r) and not self.recent(r) and r["cabin"] == "business",
            "Your plans have changed and you no longer need the trip.",
            ["R1", "R2", "R12"],
        )

    def cancel_insured(self) -> Iterator[Draft]:
        yield from self.cancel(
            "cancel_insured",
            lambda r: self.upcoming(r) and not self.recent(r) and r["cabin"] != "business" and r["insurance"] == "yes",
            "You have fallen ill and your doctor told you not to travel. You remember buying travel insurance.",
            ["R1", "R2", "R6", "R12"],
        )

    def cancel_airline_cancelled(self) -> Iterator[Draft]:
        yield from self.cancel(
            "cancel_airline_cancelled",
            lambda r: "cancelled" in self.statuses(r) and not self.statuses(r) & {"landed", "flying"},
            "The airline cancelled a flight in it, and you want your money back.",
            ["R1", "R2", "R12"],
        )

    def cancel_by_confirmation(self) -> Iterator[Draft]:
        for r in self.reservations:
            reason = self.cancel_reason(r)
            if reason is None:
                continue
            intro, lookup = self.confirmation_intro(r)
            actions = [
                *lookup,
                Action("get_reservation_details", {"reservation_id": r["reservation_id"]}),
                Action("cancel_reservation", {"reservation_id": r["reservation_id"]}),
            ]
            request = f"You want to cancel that booking. {reason}"
            yield self.draft(
                "cancel_by_confirmation",
                "write",
                r,
                request,
                actions,
                ["R1", "R2", "R12"],
                intro=intro,
                tool_set="extended",
            )

    # -- bags and passengers

    def add_bags(self, by_email: bool = False) -> Iterator[Draft]:
        for r in self.reservations:
            if not self.upcoming(r):
                continue
            user, extra = self.user(r), self.rng.randint(1, 3)
            total = r["total_baggages"] + extra
            nonfree = max(r["nonfree_baggages"], total - self.allowance(r))
            card = self.card_for(user, BAG_FEE * (nonfree - r["nonfree_baggages"]))
            ref, lookups = self.refer(r, profile=True)
            change = Action(
                "update_reservation_baggages",
                {
                    "reservation_id": r["reservation_id"],
                    "total_baggages": total,
                    "nonfree_baggages": nonfree,
                    "payment_id": card["id"],
                },
            )
            request = (
                f"You want to add {_count(extra, 'checked bag')} to {ref}. "
                f"If there is a fee, you pay it with {self.payment_words(card)}."
            )
            rules = ["R1", "R2", "R5", "R9", "R11"]
            if by_email:
                intro, lookup = self.email_intro(r["user_id"])
                yield self.draft(
                    "add_bags_by_email",
                    "write",
                    r,
                    request,
                    [*lookup, *lookups, change],
                    rules,
                    intro=intro,
                    tool_set="extended",
                )
            else:
                yield self.draft("add_bags", "write", r, request, [*lookups, change], rules)

    def add_bags_by_email(self) -> Iterator[Draft]:
        yield from self.add_bags(by_email=True)

    def swap_passenger(self) -> Iterator[Draft]:
        for r in self.reservations:
            on_board = {_full_name(p) for p in r["passengers"]}
            newcomers = [p for p in self.user(r)["saved_passengers"] if _full_name(p) not in on_board]
            if not self.upcoming(r) or not newcomers:
                continue
            index, newcomer = len(r["passengers"]) - 1, self.rng.choice(newcomers)
            leaving = _full_name(r["passengers"][index])
            passengers = [dict(p) for p in r["passengers"][:index]] + [dict(newcomer)]
            you = leaving == self.name(r["user_id"])
            ref, lookups = self.refer(r)
            request = (
                f"On {ref}, {'you' if you else leaving} can no longer travel; you want "
                f"{_full_name(newcomer)} (born {newcomer['dob']}) to take {'your' if you else 'that'} place. "
                "Everything else stays the same."
            )
            yield self.passengers_draft("swap_passenger", r, request, lookups, passengers)

    def fix_birth_date(self) -> Iterator[Draft]:
        for r in self.reservations:
            if not self.upcoming(r):
                continue
            index = self.rng.randrange(len(r["passengers"]))
            person = r["passengers"][index]
            born = datetime.fromisoformat(person["dob"])
            corrected = born.replace(year=born.year + self.rng.choice([-1, 1]), day=min(born.day, 28))
            passengers = [dict(p) for p in r["passengers"]]
            passengers[index]["dob"] = corrected.date().isoformat()
            ref, lookups = self.refer(r)
            request = (
                f"The date of birth of {_full_name(person)} on {ref} is wrong: it should be "
                f"{passengers[index]['dob']}. Nothing else about the reservation should change."
            )
            yield self.passengers_draft("fix_birth_date", r, request, lookups, passengers)

    def passengers_draft(
        self, template: str, r: Record, request: str, lookups: list[Action], passengers: list[dict]
    ) -> Draft:
        """A task that looks the reservation up and gives it ``passengers`` (policy: R1, R2, R10)."""
        change = Action(
            "update_reservation_passengers", {"reservation_id": r["reservation_id"], "passengers": passengers}
        )
        return self.draft(template, "write", r, request, [*lookups, change], ["R1", "R2", "R10"])

    # -- cabins and flights

    def change_cabin(self, r: Record, cabin: str, card: Record) -> Action:
        return Action(
            "update_reservation_flights",
            {"reservation_id": r["reservation_id"], "cabin": cabin, "flights": _legs(r), "payment_id": card["id"]},
        )

    def searches(self, legs: list[Mapping[str, str]]) -> list[Action]:
        """The direct-flight searches that show today's prices of these legs."""
        actions = []
        for leg in legs:
            flight = self.flights[leg["flight_number"]]
            actions.append(
                Action(
                    "search_direct_flight",
                    {"origin": flight["origin"], "destination": flight["destination"], "date": leg["date"]},
                )
            )
        return actions

    def cabin_change_cost(self, r: Mapping[str, Any], cabin: str) -> tuple[int, Action]:
        """What moving everyone on ``r`` to ``cabin`` costs (negative: a refund), with a calculation showing it."""
        travellers = len(r["passengers"])
        new, old = self.fares(_legs(r), cabin), [s["price"] for s in r["flights"]]
        cost = (sum(new) - sum(old)) * travellers
        return cost, _calculation(f"({_plus(new)} - ({_plus(old)})) * {travellers}")

    def upgrade(self) -> Iterator[Draft]:
        for r in self.reservations:
            travellers = len(r["passengers"])
            if not self.upcoming(r) or r["cabin"] == "business" or not self.sellable(_legs(r), "business", travellers):
                continue
            charge, _ = self.cabin_change_cost(r, "business")
            card = self.card_for(self.user(r), charge)
            ref, lookups = self.refer(r)
            request = (
                f"You want to upgrade {ref} to business class for everyone on it, keeping the same flights. "
                f"You pay the difference with {self.payment_words(card)}."
            )
            actions = [*lookups, *self.searches(_legs(r)), self.change_cabin(r, "business", card)]
            yield self.draft("upgrade_cabin", "write", r, request, actions, ["R1", "R2", "R8", "R11"])

    def upgrade_seat(self) -> Iterator[Draft]:
        for r in self.reservations:
            travellers, above = len(r["passengers"]), CABINS[CABINS.index(r["cabin"]) + 1 :]
            if not self.upcoming(r) or not above:
                continue
            cabin = self.rng.choice(above)
            card = self.original_card(r)
            if card is None or not self.sellable(_legs(r), cabin, travellers):
                continue
            charge, calculation = self.cabin_change_cost(r, cabin)
            if card["source"] == "gift_card" and card["amount"] < charge:
                continue
            ref, lookups = self.refer(r)
            asks_price = charge > 0 and self.rng.random() < 0.5
            request = (
                f"You want to upgrade {ref} to {CABIN_WORDS[cabin]} for everyone on it, on the same flights, and "
                f"pay the difference with the card you booked with ({self.payment_words(card)})."
                + (" You want to know how much the upgrade costs in total." if asks_price else "")
            )
            upgrade = Action("upgrade_seat", {"reservation_id": r["reservation_id"], "seat_class": cabin})
            actions = [*lookups, *self.searches(_legs(r)), calculation, upgrade]
            outputs = [str(charge)] if asks_price else []
            yield self.draft(
                "upgrade_seat", "write", r, request, actions, ["R1", "R2", "R8", "R11"], outputs, tool_set="extended"
            )

    def downgrade(self) -> Iterator[Draft]:
        for r in self.reservations:
            travellers = len(r["passengers"])
            if not self.upcoming(r) or r["cabin"] != "business" or not self.sellable(_legs(r), "economy", travellers):
                continue
            cost, calculation = self.cabin_change_cost(r, "economy")
            if cost >= 0:
                continue
            original = self.user(r)["payment_methods"][r["payment_history"][0]["payment_id"]]
            ref, lookups = self.refer(r)
            request = (
                f"Money is tight, so you want to downgrade {ref} from business to economy, keeping the same "
                "flights and passengers. The refund should go back to the original payment method. "
                "You want to know exactly how much you will get back."
            )
            actions = [*lookups, *self.searches(_legs(r)), calculation, self.change_cabin(r, "economy", original)]
            yield self.draft("downgrade_cabin", "write", r, request, actions, ["R1", "R2", "R8", "R11"], [str(-cost)])

    def reschedule(self, kind: str, r: Record, keep: int) -> Iterator[Draft]:
        """Move the leg after the first ``keep`` legs to another date on the same flight."""
        travellers, legs = len(r["passengers"]), _legs(r)
        moving = legs[keep]
        dates = [d for d in DATES if d > (legs[keep - 1]["date"] if keep else TODAY) and d != moving["date"]]
        options = [d for d in dates if self.sellable([{**moving, "date": d}], r["cabin"], travellers)]
        if not options:
            return
        new_date = self.rng.choice(options)
        new_legs = [*legs[:keep], {**moving, "date": new_date}]
        charge = (
            _fare(r["flights"][:keep]) + self.price(new_legs[keep:], r["cabin"]) - _fare(r["flights"])
        ) * travellers
        card = self.card_for(self.user(r), charge)
        ref, lookups = self.refer(r)
        flight = self.flights[moving["flight_number"]]
        change = Action(
            "update_reservation_flights",
            {"reservation_id": r["reservation_id"], "cabin": r["cabin"], "flights": new_legs, "payment_id": card["id"]},
        )
        which = "return flight" if keep else "flight"
        request = (
            f"On {ref}, you want to move your {which} from {_city(flight['origin'])} to "
            f"{_city(flight['destination'])} from {_when(moving['date'])} to {_when(new_date)}, on the same "
            f"flight and in the same cabin{'; the other flight stays as it is' if keep else ''}. "
            f"Any difference in price is paid or refunded with {self.payment_words(card)}."
        )
        actions = [*lookups, *self.searches([{**moving, "date": new_date}]), change]
        yield self.draft(kind, "write", r, request, actions, ["R1", "R2", "R7", "R11"])

    def change_date(self) -> Iterator[Draft]:
        for r in self.reservations:
            if self.upcoming(r) and r["cabin"] != "basic_economy" and len(r["flights"]) == 1:
                yield from self.reschedule("change_date", r, 0)

    def change_return(self) -> Iterator[Draft]:
        for r in self.reservations:
            if self.upcoming(r) and r["cabin"] != "basic_economy" and r["flight_type"] == "round_trip":
                yield from self.reschedule("change_return", r, 1)

    # -- booking

    def trip_options(self, origin: str, destination: str, date: str, one_stop: bool) -> list[list[dict[str, str]]]:
        """Every way to fly the trip that day, as the search tools show it; overnight connections excluded
        (τ-bench's one-stop search prices their second leg from the wrong date)."""
        if not one_stop:
            return [[{"flight_number": self.network.direct[(origin, destination)], "date": date}]]
        found = json.loads(search_onestop_flight(Database(self.db), origin, destination, date))
        options = [[{"flight_number": leg["flight_number"], "date": leg["date"]} for leg in pair] for pair in found]
        return options if all(leg["date"] == date for legs in options for leg in legs) else []

    def book(self, kind: str, user_id: str, trip: _Trip, pay: Payer) -> Draft | None:
        """A booking for the user (and maybe saved passengers) on the cheapest sellable option, if any."""
        user = self.users[user_id]
        companions = user["saved_passengers"][: self.rng.choice([0, 0, 1, 2])]
        passengers = [
            {"first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"], "dob": user["dob"]}
        ] + [dict(p) for p in companions]
        sellable = [legs for legs in trip.options if self.sellable(legs, trip.cabin, len(passengers))]
        prices = sorted(self.price(legs, trip.cabin) for legs in sellable)
        if not sellable or (len(prices) > 1 and prices[0] == prices[1]):
            return None  # nothing to book, or no single cheapest option to ask for
        legs = min(sellable, key=lambda option: self.price(option, trip.cabin))
        allowance = FREE_BAGS[user["membership"]][trip.cabin] * len(passengers)
        bags = self.rng.randint(0, allowance + 2)
        insurance = self.rng.choice(["yes", "no"])
        total = (
            prices[0] * len(passengers)
            + BAG_FEE * max(0, bags - allowance)
            + (INSURANCE_PER_PASSENGER * len(passengers) if insurance == "yes" else 0)
        )
        payments, pay_words = pay(total)
        who = "yourself" + "".join(f" and {_full_name(p)} (born {p['dob']})" for p in companions)
        booking = Action(
            "book_reservation",
            {
                "user_id": user_id,
                "origin": trip.origin,
                "destination": trip.destination,
                "flight_type": "round_trip" if trip.round_trip else "one_way",
                "cabin": trip.cabin,
                "flights": legs,
                "passengers": passengers,
                "payment_methods": payments,
                "total_baggages": bags,
                "nonfree_baggages": max(0, bags - allowance),
                "insurance": insurance,
            },
        )
        request = (
            f"You want to book {trip.words()}, in {CABIN_WORDS[trip.cabin]}, for {who}; your own details "
            f"are in your profile. You have {_count(bags, 'checked bag')} in total. You "
            f"{'want' if insurance == 'yes' else 'do not want'} travel insurance. {pay_words}"
        )
        actions = [Action("get_user_details", {"user_id": user_id}), *trip.searches(), booking]
        rules = ["R1", "R2", "R3", "R4", "R5", "R6"]
        return self.draft(kind, "write", user_id, request, actions, rules)

    def bookings(
        self, kind: str, one_stop: bool, round_trip: bool, payer: Callable[[Record], Payer | None]
    ) -> Iterator[Draft]:
        airports = sorted(COORDINATES)
        routes = [(a, b) for a in airports for b in airports if a != b and ((a, b) in self.network.direct) != one_stop]
        self.rng.shuffle(routes)
        for origin, destination in routes:
            date = self.rng.choice(DATES[16:25])
            options = self.trip_options(origin, destination, date, one_stop)
            if round_trip:
                back = {
                    "flight_number": self.network.direct[(destination, origin)],
                    "date": shift_day(date, self.rng.randint(2, 5)),
                }
                options = [[*legs, back] for legs in options]
            user_id = self.rng.choice(list(self.users))
            pay = payer(self.users[user_id])
            trip = _Trip(origin, destination, self.rng.choice(CABINS), options, one_stop, round_trip)
            draft = self.book(kind, user_id, trip, pay) if pay and options else None
            if draft:
                yield draft

    def pay_by_card(self, user: Record) -> Payer:
        card = self.rng.choice(self.methods(user, "credit_card"))
        return lambda total: (
            [{"payment_id": card["id"], "amount": total}],
            f"You pay with {self.payment_words(card)}.",
        )

    def pay_gift_first(self, user: Record) -> Payer | None:
        gift_cards = [m for m in self.methods(user, "gift_card") if m["amount"] > 0]
        if not gift_cards:
            return None
        gift, card = gift_cards[0], self.methods(user, "credit_card")[0]
        words = (
            f"You want to use as much of {self.payment_words(gift)} as possible and pay anything left with "
            f"{self.payment_words(card)}."
        )
        return lambda total: (_split(gift, card, total), words)

    def pay_certificate_first(self, user: Record) -> Payer | None:
        certificates = self.methods(user, "certificate")
        if not certificates:
            return None
        certificate = max(certificates, key=lambda m: m["amount"])
        card = self.methods(user, "credit_card")[0]
        words = (
            f"You want to use {self.payment_words(certificate)} and pay anything left with "
            f"{self.payment_words(card)}; you understand unused certificate value is lost."
        )
        return lambda total: (_split(certificate, card, total), words)

    def book_direct(self) -> Iterator[Draft]:
        yield from self.bookings("book_one_way", False, False, self.pay_by_card)

    def book_round_trip(self) -> Iterator[Draft]:
        yield from self.bookings("book_round_trip", False, True, self.pay_gift_first)

    def book_with_certificate(self) -> Iterator[Draft]:
        yield from self.bookings("book_with_certificate", False, False, self.pay_certificate_first)

    def book_one_stop(self) -> Iterator[Draft]:
        yield from self.bookings("book_one_stop", True, False, self.pay_by_card)

    # -- compensation

    def compensate_cancelled(self) -> Iterator[Draft]:
        for r in self.reservations:
            cancelled = [s for s in r["flights"] if self.day(s["flight_number"], s["date"])["status"] == "cancelled"]
            if not cancelled or not self.compensable(r):
                continue
            flight = cancelled[0]
            request = (
                f"Your flight {flight['flight_number']} from {_city(flight['origin'])} to "
                f"{_city(flight['destination'])} on {_when(flight['date'])} (reservation "
                f"{r['reservation_id']}) was cancelled by the airline. You are upset and ask for compensation; "
                "you do not want to change or cancel anything."
            )
            actions = [
                Action("get_user_details", {"user_id": r["user_id"]}),
                Action("get_reservation_details", {"reservation_id": r["reservation_id"]}),
                Action("send_certificate", {"user_id": r["user_id"], "amount": 100 * len(r["passengers"])}),
            ]
            yield self.draft("compensate_cancelled", "write", r, request, actions, ["R1", "R2", "R14", "R15"])

    def delayed_cancel(self) -> Iterator[Draft]:
        for r in self.reservations:
            first = r["flights"][0]
            if (
                self.day(first["flight_number"], first["date"])["status"] != "delayed"
                or not (r["cabin"] == "business" or self.recent(r))
                or not self.compensable(r)
            ):
                continue
            request = (
                f"Your flight {first['flight_number']} today (reservation {r['reservation_id']}) is delayed, "
                "so you no longer want the trip: you want to cancel the whole reservation. After that you "
                "complain about the delay and ask for compensation."
            )
            actions = [
                Action("get_user_details", {"user_id": r["user_id"]}),
                Action("get_reservation_details", {"reservation_id": r["reservation_id"]}),
                Action("cancel_reservation", {"reservation_id": r["reservation_id"]}),
                Action("send_certificate", {"user_id": r["user_id"], "amount": 50 * len(r["passengers"])}),
            ]
            yield self.draft("delayed_cancel", "write", r, request, actions, ["R1", "R2", "R12", "R14", "R15"])

    # -- information requests

    def wallet(self) -> Iterator[Draft]:
        for user_id, user in self.users.items():
            balances = {
                source: [m["amount"] for m in self.methods(user, source)]
                for source in ("gift_card", "certificate")
                if self.methods(user, source)
            }
            several = len(balances) > 1 or any(len(amounts) > 1 for amounts in balances.values())
            if not several or 0 in (sum(amounts) for amounts in balances.values()):
                continue
            asked = " and ".join(
                {
                    "gift_card": "the total balance of your gift cards",
                    "certificate": "the total value of your travel certificates",
                }[s]
                for s in balances
            )
            request = (
                f"You want to know {asked}. If the agent lists them one by one, you ask for the totals. "
                "You do not want to change anything."
            )
            actions = [Action("get_user_details", {"user_id": user_id})]
            actions += [_calculation(_plus(amounts)) for amounts in balances.values() if len(amounts) > 1]
            outputs = [str(sum(amounts)) for amounts in balances.values()]
            yield self.draft("wallet_totals", "info", user_id, request, actions, ["R2"], outputs)

    def bag_allowance(self) -> Iterator[Draft]:
        for r in self.reservations:
            if self.upcoming(r):
                ref, lookups = self.refer(r, profile=True)
                request = (
                    f"You want to know how many checked bags in total your party can bring for free on {ref}. "
                    "You do not want to change anything."
                )
                calculation = _calculation(f"{self.free_bags(r)} * {len(r['passengers'])}")
                actions = [*lookups, calculation]
                yield self.draft("bag_allowance", "info", r, request, actions, ["R2", "R5"], [str(self.allowance(r))])

    def fare_quote(self) -> Iterator[Draft]:
        routes = sorted(self.network.direct)
        self.rng.shuffle(routes)
        for origin, destination in routes:
            legs = [{"flight_number": self.network.direct[(origin, destination)], "date": self.rng.choice(DATES[16:])}]
            prices = self.day(legs[0]["flight_number"], legs[0]["date"])["prices"]
            request = (
                f"You are thinking about flying from {_city(origin)} to {_city(destination)} on "
                f"{_when(legs[0]['date'])} and want the economy and the business price of the direct flight "
                "for one person. You do not want to book anything yet."
            )
            outputs = [str(prices["economy"]), str(prices["business"])]
            user_id = self.rng.choice(list(self.users))
            yield self.draft("fare_quote", "info", user_id, request, self.searches(legs), ["R2"], outputs)

    def amount_paid(self) -> Iterator[Draft]:
        for r in self.reservations:
            ref, lookups = self.refer(r)
            amounts = [p["amount"] for p in r["payment_history"]]
            if len(amounts) > 1:
                lookups.append(_calculation(_plus(amounts)))
            request = f"You want to know how much you paid in total for {ref}. You do not want to change anything."
            yield self.draft("amount_paid", "info", r, request, lookups, ["R2"], [str(sum(amounts))])

    def upgrade_quote(self) -> Iterator[Draft]:
        for r in self.reservations:
            travellers = len(r["passengers"])
            if not self.upcoming(r) or r["cabin"] != "economy" or not self.sellable(_legs(r), "business", travellers):
                continue
            cost, calculation = self.cabin_change_cost(r, "business")
            if cost <= 0:
                continue
            ref, lookups = self.refer(r)
            request = (
                f"You want to know how much it would cost in total to upgrade {ref} to business class for "
                "everyone on it. You only want the number: you do not want to upgrade now."
            )
            actions = [*lookups, *self.searches(_legs(r)), calculation]
            yield self.draft("upgrade_quote", "info", r, request, actions, ["R2", "R8"], [str(cost)])

    def flight_status(self) -> Iterator[Draft]:
        for r in self.reservations:
            flown = [s for s in r["flights"] if s["date"] <= TODAY]
            if not flown:
                continue
            segment = self.rng.choice(flown)
            status = self.day(segment["flight_number"], segment["date"])["status"]
            when = "today" if segment["date"] == TODAY else f"on {_when(segment['date'])}"
            request = (
                f"You want to know the current status of your flight from {_city(segment['origin'])} to "
                f"{_city(segment['destination'])} {when}, which is part of reservation {r['reservation_id']}: "
                "for example whether it is on time, delayed, in the air, landed or cancelled. You do not want "
                "to change anything."
            )
            check = {"flight_number": segment["flight_number"]}
            if segment["date"] != TODAY:  # for today's flight the agent may leave the date out
                check["date"] = segment["date"]
            actions = [
                Action("get_reservation_details", {"reservation_id": r["reservation_id"]}),
                Action("check_flight_status", check),
            ]
            yield self.draft("flight_status", "info", r, request, actions, ["R2"], [status], tool_set="extended")

    def aircraft_info(self) -> Iterator[Draft]:
        for r in self.reservations:
            if not self.upcoming(r):
                continue
            segment = self.rng.choice(r["flights"])
            code = self.reference["fleet"][segment["flight_number"]]
            aircraft = self.reference["aircraft"][code]
            question, answer = self.rng.choice(
                [
                    ("how many business seats it has", str(aircraft["seats"]["business"])),
                    ("how many economy seats it has (not counting basic economy)", str(aircraft["seats"]["economy"])),
                    ("what its range is in miles", str(aircraft["range_miles"])),
                ]
            )
            request = (
                f"You are curious about the plane for your flight from {_city(segment['origin'])} to "
                f"{_city(segment['destination'])} on {_when(segment['date'])} (reservation {r['reservation_id']}): "
                f"you want to know which aircraft model it is and {question}. You do not want to change anything."
            )
            actions = [
                Action("get_reservation_details", {"reservation_id": r["reservation_id"]}),
                Action("check_flight_status", {"flight_number": segment["flight_number"], "date": segment["date"]}),
                Action("get_aircraft_info", {"aircraft_code": code}),
            ]
            outputs = [aircraft["model"], answer]
            yield self.draft("aircraft_info", "info", r, request, actions, ["R2"], outputs, tool_set="extended")

    def airport_info(self) -> Iterator[Draft]:
        for r in self.reservations:
            if not self.upcoming(r):
                continue
            first = r["flights"][0]
            if len(r["flights"]) > 1 and first["destination"] != r["destination"]:
                code, where = first["destination"], "the airport where you change planes"
            else:
                code, where = r["destination"], "your destination airport, where you will catch a connecting flight"
            airport = self.reference["airports"][code]
            request = (
                f"For {where} on reservation {r['reservation_id']}, you want to know the airline's minimum "
                "connection time in minutes. You do not want to change anything."
            )
            actions = [
                Action("get_reservation_details", {"reservation_id": r["reservation_id"]}),
                Action("get_airport_info", {"airport_code": code}),
            ]
            outputs = [str(airport["minimum_connection_minutes"])]
            yield self.draft("airport_info", "info", r, request, actions, ["R2"], outputs, tool_set="extended")

    def passenger_birth_date(self) -> Iterator[Draft]:
        for r in self.reservations:
            intro, lookup = self.confirmation_intro(r)
            person = self.rng.choice(r["passengers"])
            request = (
                f"You want to check which date of birth is on that booking for {_full_name(person)}. "
                "You do not want to change anything."
            )
            yield self.draft(
                "passenger_birth_date",
                "info",
                r,
                request,
                lookup,
                ["R2"],
                [person["dob"]],
                intro=intro,
                tool_set="extended",
            )

    # -- requests the policy refuses (gold actions are the lookups only)

    def refuse(
        self,
        kind: str,
        fits: Callable[[Record], bool],
        words: Callable[[Record, str], str],
        rules: list[str],
        profile: bool = False,
        tool_set: str = "default",
    ) -> Iterator[Draft]:
        for r in self.reservations:
            if fits(r):
                ref, lookups = self.refer(r, profile)
                request = (
                    words(r, ref) + " If the agent explains that this is not possible, you accept it and end the "
                    "conversation without any other change."
                )
                yield self.draft(kind, "refusal", r, request, lookups, rules, tool_set=tool_set)

    def refuse_cancel(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_cancel",
            lambda r: self.upcoming(r) and not self.recent(r) and r["cabin"] != "business" and r["insurance"] == "no",
            lambda r, ref: f"Your plans have changed and you want to cancel {ref} for a full refund.",
            ["R2", "R12"],
        )

    def refuse_basic_change(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_basic_economy_change",
            lambda r: self.upcoming(r) and r["cabin"] == "basic_economy",
            lambda r, ref: (
                f"You want to move {ref} to {_when(shift_day(r['flights'][0]['date'], 1))}, one day later, "
                "keeping the cabin you have."
            ),
            ["R2", "R7"],
        )

    def refuse_change_destination(self) -> Iterator[Draft]:
        def words(r: Record, ref: str) -> str:
            others = sorted(set(COORDINATES) - {r["origin"], r["destination"]})
            return (
                f"You want to keep the dates of {ref} but fly to {_city(self.rng.choice(others))} instead of "
                f"{_city(r['destination'])}."
            )

        yield from self.refuse(
            "refuse_change_destination",
            lambda r: self.upcoming(r) and r["cabin"] != "basic_economy",
            words,
            ["R2", "R7"],
        )

    def refuse_remove_bags(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_remove_bags",
            lambda r: self.upcoming(r) and r["total_baggages"] > 0,
            lambda r, ref: f"You want to remove one checked bag from {ref} and get its cost back.",
            ["R2", "R9"],
        )

    def refuse_add_passenger(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_add_passenger",
            lambda r: self.upcoming(r) and len(r["passengers"]) < 5,
            lambda r, ref: (
                f"A friend, {_full_name(_person(self.rng))} (born {_birthday(self.rng)}), wants to join you: "
                f"you want to add them to {ref}."
            ),
            ["R2", "R10"],
        )

    def refuse_add_insurance(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_add_insurance",
            lambda r: self.upcoming(r) and r["insurance"] == "no",
            lambda r, ref: f"You want to add travel insurance to {ref}.",
            ["R2", "R9"],
        )

    def refuse_compensation(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_compensation",
            lambda r: "cancelled" in self.statuses(r) and not self.compensable(r),
            lambda r, ref: (
                f"A flight in {ref} was cancelled by the airline. You are annoyed and ask for a travel "
                "certificate as compensation."
            ),
            ["R2", "R14"],
            profile=True,
        )

    def refuse_partly_flown(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_cancel_partly_flown",
            self.underway,
            lambda r, ref: (
                f"You have already flown the first flight of {ref}, and now you want to cancel the rest of the "
                "trip for a refund. If the agent offers to transfer you to a human agent, you accept."
            ),
            ["R2", "R13"],
        )

    def refuse_upgrade_partly_flown(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_upgrade_partly_flown",
            lambda r: self.underway(r) and r["cabin"] != "business",
            lambda r, ref: f"You have already flown part of {ref} and want the rest of the trip upgraded to business.",
            ["R2", "R8"],
        )

    def refuse_first_class(self) -> Iterator[Draft]:
        yield from self.refuse(
            "refuse_first_class",
            self.upcoming,
            lambda r, ref: f"You want to upgrade {ref} to first class for everyone on it.",
            ["R2", "R8"],
            tool_set="extended",
        )

    def refuse_other_user(self) -> Iterator[Draft]:
        for r in self.reservations:
            if not self.upcoming(r):
                continue
            user_id = self.rng.choice(sorted(set(self.users) - {r["user_id"]}))
            request = (
                f"Your friend {self.name(r['user_id'])} asked you to cancel their reservation {r['reservation_id']} "
                "for them. If the agent refuses, you accept that and end the conversation."
            )
            actions = [
                Action("get_user_details", {"user_id": user_id}),
                Action("get_reservation_details", {"reservation_id": r["reservation_id"]}),
            ]
            yield self.draft("refuse_other_user", "refusal", user_id, request, actions, ["R2"])

    def refuse_six_passengers(self) -> Iterator[Draft]:
        for user_id in self.users:
            origin, destination = self.rng.choice(sorted(self.network.direct))
            request = (
                f"You want to book a one-way trip from {_city(origin)} to {_city(destination)} on "
                f"{_when(self.rng.choice(DATES[16:25]))} in economy for yourself and five friends, all on one "
                "reservation. If the agent says that is not possible, you accept it and book nothing."
            )
            actions = [Action("get_user_details", {"user_id": user_id})]
            yield self.draft("refuse_six_passengers", "refusal", user_id, request, actions, ["R2", "R3"])

    def templates(self) -> list[tuple[Callable[[], Iterator[Draft]], int]]:
        """Every template with how many tasks to write with it."""
        return [
            (self.cancel_recent, 8),
            (self.cancel_business, 10),
            (self.cancel_insured, 10),
            (self.cancel_airline_cancelled, 8),
            (self.cancel_by_confirmation, 10),
            (self.add_bags, 16),
            (self.add_bags_by_email, 8),
            (self.swap_passenger, 12),
            (self.fix_birth_date, 10),
            (self.upgrade, 10),
            (self.upgrade_seat, 12),
            (self.downgrade, 8),
            (self.change_date, 10),
            (self.change_return, 8),
            (self.book_direct, 14),
            (self.book_round_trip, 10),
            (self.book_with_certificate, 8),
            (self.book_one_stop, 8),
            (self.compensate_cancelled, 8),
            (self.delayed_cancel, 4),
            (self.wallet, 6),
            (self.bag_allowance, 8),
            (self.fare_quote, 8),
            (self.amount_paid, 8),
            (self.upgrade_quote, 8),
            (self.flight_status, 10),
            (self.aircraft_info, 8),
            (self.airport_info, 8),
            (self.passenger_birth_date, 6),
            (self.refuse_cancel, 8),
            (self.refuse_basic_change, 8),
            (self.refuse_change_destination, 6),
            (self.refuse_remove_bags, 6),
            (self.refuse_add_passenger, 6),
            (self.refuse_add_insurance, 6),
            (self.refuse_compensation, 4),
            (self.refuse_partly_flown, 6),
            (self.refuse_upgrade_partly_flown, 5),
            (self.refuse_first_class, 6),
            (self.refuse_other_user, 6),
            (self.refuse_six_passengers, 4),
        ]


def _split(first: Mapping[str, Any], card: Mapping[str, Any], total: int) -> list[dict[str, Any]]:
    """Use a stored balance first and the card for the rest."""
    used = min(first["amount"], total)
    payments = [{"payment_id": first["id"], "amount": used}]
    if total > used:
        payments.append({"payment_id": card["id"], "amount": total - used})
    return payments


def generate_tasks(db: dict, seed: int = 0) -> dict[str, list[Task]]:
    """Tasks over ``db`` (from :func:`generate_database`) and ``generate_reference(seed)``, split into
    train and test: every template contributes its share of tasks to both splits."""
    rng = random.Random(seed)
    reference = generate_reference(seed)
    writer = _TaskWriter(db, reference, rng)
    per_template = (_pick(template, count, rng) for template, count in writer.templates())
    return write_tasks(per_template, rng, TASK_FORMAT, GoldReplay(TOOLS, Database(db, reference)))


def _pick(template: Callable[[], Iterator[Draft]], count: int, rng: random.Random) -> list[Draft]:
    """``count`` of the drafts a template writes for every situation it fits, chosen at random."""
    drafts = list(template())
    rng.shuffle(drafts)
    return drafts[:count]
