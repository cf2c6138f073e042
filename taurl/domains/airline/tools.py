"""The airline tools: τ-bench's airline API over taurl's copy-on-write database.

Names, arguments, returned text and database effects follow τ-bench exactly, including its quirks,
because τ-bench's recorded final-state hashes are the test of these tools:

- a missing reservation in ``get_reservation_details`` is reported as "user not found";
- booking takes the first free id of ``HATHAT``/``HATHAU``/``HATHAV`` (overwriting ``HATHAV`` when all
  three exist), never decrements seats and stores no ``status``;
- changing flights reprices every segment but never writes the new ``cabin`` into the reservation;
  a segment kept in the same cabin keeps the price paid for it;
- cancelling appends the negation of every earlier payment and leaves gift cards untouched;
- the one-stop search builds the next-day date without zero padding and fills the second leg's
  seats and prices from the first leg's date.

Validation that τ-bench leaves to Python (wrong types, missing arguments) happens in the registry
before a tool runs, so a bad call never changes the database.

After τ-bench's fourteen tools come the five the seed system (CTU) adds, with real semantics here:
flight status, aircraft and airport facts (read from the static reference tables ``airports``,
``aircraft`` and ``fleet``, outside the state), finding a user by email or confirmation number, and
``upgrade_seat``, a cabin upgrade on the same flights paid with the reservation's original card.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypedDict

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry
from taurl.domains import common

TOOLS = ToolRegistry("airline")

Cabin = Literal["basic_economy", "economy", "business"]

#: The airports τ-bench's ``list_all_airports`` reports, in its order.
AIRPORTS: dict[str, str] = {
    "SFO": "San Francisco",
    "JFK": "New York",
    "LAX": "Los Angeles",
    "ORD": "Chicago",
    "DFW": "Dallas",
    "DEN": "Denver",
    "SEA": "Seattle",
    "ATL": "Atlanta",
    "MIA": "Miami",
    "BOS": "Boston",
    "PHX": "Phoenix",
    "IAH": "Houston",
    "LAS": "Las Vegas",
    "MCO": "Orlando",
    "EWR": "Newark",
    "CLT": "Charlotte",
    "MSP": "Minneapolis",
    "DTW": "Detroit",
    "PHL": "Philadelphia",
    "LGA": "LaGuardia",
}

#: Fixed ids τ-bench gives to what a single conversation creates.
NEW_RESERVATION_IDS = ("HATHAT", "HATHAU", "HATHAV")
NEW_CERTIFICATE_IDS = ("certificate_3221322", "certificate_3221323", "certificate_3221324")
BOOKING_TIME = "2024-05-15T15:00:00"
#: The policy's "today": the date a flight status is reported for when none is asked.
TODAY = "2024-05-15"
#: Cabins from lowest to highest.
CABINS = ("basic_economy", "economy", "business")
INSURANCE_PER_PASSENGER = 30
BAG_FEE = 50


class FlightSegment(TypedDict):
    flight_number: Annotated[str, "Flight number, for example 'HAT001'."]
    date: Annotated[str, "Departure date of this segment as 'YYYY-MM-DD', for example '2024-05-01'."]


class Passenger(TypedDict):
    first_name: Annotated[str, "Passenger's first name, for example 'Noah'."]
    last_name: Annotated[str, "Passenger's last name, for example 'Brown'."]
    dob: Annotated[str, "Passenger's date of birth as 'YYYY-MM-DD', for example '1990-01-01'."]


class Payment(TypedDict):
    payment_id: Annotated[str, "Id of a payment method saved in the user's profile, for example 'gift_card_7815826'."]
    amount: Annotated[float, "How much to charge to this payment method."]


# --- shared checks ------------------------------------------------------------------------------


def _quote_segment(db: Database, segment: dict[str, Any], cabin: str, travellers: int) -> str | None:
    """Fill in a segment's current price and route, or say why it cannot be sold.

    Checks run in τ-bench's order: flight exists, flies that day, is open for sale, has seats.
    """
    number, date = segment["flight_number"], segment["date"]
    flights = db["flights"]
    if number not in flights:
        return f"Error: flight {number} not found"
    flight = flights[number]
    if date not in flight["dates"]:
        return f"Error: flight {number} not found on date {date}"
    day = flight["dates"][date]
    if day["status"] != "available":
        return f"Error: flight {number} not available on date {date}"
    if day["available_seats"][cabin] < travellers:
        return f"Error: not enough seats on flight {number}"
    segment["price"] = day["prices"][cabin]
    segment["origin"] = flight["origin"]
    segment["destination"] = flight["destination"]
    return None


def _check_change_payment(method: Mapping[str, Any] | None, charge: float) -> str | None:
    """Why a saved payment method cannot settle a change to an existing reservation, or None."""
    if method is None:
        return "Error: payment method not found"
    if method["source"] == "certificate":
        return "Error: certificate cannot be used to update reservation"
    if method["source"] == "gift_card" and method["amount"] < charge:
        return "Error: gift card balance is not enough"
    return None


def _settle_change(db: Database, reservation: dict[str, Any], payment_id: str, charge: float) -> None:
    """Take ``charge`` (a refund when negative) from the payment method and log it on the reservation."""
    user_id = reservation["user_id"]
    if db["users"][user_id]["payment_methods"][payment_id]["source"] == "gift_card":
        db["users"].edit(user_id)["payment_methods"][payment_id]["amount"] -= charge
    if charge != 0:
        reservation["payment_history"].append({"payment_id": payment_id, "amount": charge})


def _saved_method(db: Database, reservation: Mapping[str, Any], payment_id: str) -> Mapping[str, Any] | None:
    return db["users"][reservation["user_id"]]["payment_methods"].get(payment_id)


def _listing(flight: Mapping[str, Any], day: Mapping[str, Any]) -> dict[str, Any]:
    """A flight as search results show it: its schedule plus one day's status, seats and prices."""
    entry = {key: value for key, value in flight.items() if key != "dates"}
    entry.update(day)
    return entry


# --- tools, in τ-bench's order ------------------------------------------------------------------


@TOOLS.write
def book_reservation(
    db: Database,
    user_id: str,
    origin: str,
    destination: str,
    flight_type: Literal["one_way", "round_trip"],
    cabin: Cabin,
    flights: list[FlightSegment],
    passengers: list[Passenger],
    payment_methods: list[Payment],
    total_baggages: int,
    nonfree_baggages: int,
    insurance: Literal["yes", "no"],
) -> str:
    """Create a new reservation for a user and charge its price to saved payment methods.

    The amounts must add up to the fares of all segments for every passenger, plus insurance and
    paid baggage. Gift cards are debited and a certificate is used up entirely.

    Args:
        user_id: The booking user's id, for example 'sara_doe_496'.
        origin: IATA code of the trip's starting airport, for example 'SFO'.
        destination: IATA code of the trip's destination airport, for example 'JFK'.
        flight_type: Whether this is a one-way or a round trip.
        cabin: Cabin class for every segment and passenger.
        flights: Every flight segment of the trip, in travel order.
        passengers: Everyone travelling on this reservation.
        payment_methods: How the total is split across the user's saved payment methods.
        total_baggages: Number of checked bags on the reservation.
        nonfree_baggages: How many of those bags are paid for.
        insurance: Whether travel insurance is bought.
    """
    users, reservations = db["users"], db["reservations"]
    if user_id not in users:
        return "Error: user not found"
    user = users[user_id]
    reservation_id = next((rid for rid in NEW_RESERVATION_IDS if rid not in reservations), NEW_RESERVATION_IDS[-1])
    reservation = {
        "reservation_id": reservation_id,
        "user_id": user_id,
        "origin": origin,
        "destination": destination,
        "flight_type": flight_type,
        "cabin": cabin,
        "flights": flights,
        "passengers": passengers,
        "payment_history": payment_methods,
        "created_at": BOOKING_TIME,
        "total_baggages": total_baggages,
        "nonfree_baggages": nonfree_baggages,
        "insurance": insurance,
    }

    total_price = 0
    for segment in flights:
        problem = _quote_segment(db, segment, cabin, len(passengers))
        if problem:
            return problem
        total_price += segment["price"] * len(passengers)
    if insurance == "yes":
        total_price += INSURANCE_PER_PASSENGER * len(passengers)
    total_price += BAG_FEE * nonfree_baggages

    saved = user["payment_methods"]
    for payment in payment_methods:
        method = saved.get(payment["payment_id"])
        if method is None:
            return f"Error: payment method {payment['payment_id']} not found"
        if method["source"] in ("gift_card", "certificate") and method["amount"] < payment["amount"]:
            return f"Error: not enough balance in payment method {payment['payment_id']}"
    paid = sum(payment["amount"] for payment in payment_methods)
    if paid != total_price:
        return f"Error: payment amount does not add up, total price is {total_price}, but paid {paid}"

    user = users.edit(user_id)
    for payment in payment_methods:
        payment_id = payment["payment_id"]
        source = user["payment_methods"][payment_id]["source"]
        if source == "gift_card":
            user["payment_methods"][payment_id]["amount"] -= payment["amount"]
        elif source == "certificate":
            del user["payment_methods"][payment_id]  # a second use of the same certificate fails here, as in τ-bench
    if reservation_id in reservations:
        stored = reservations.edit(reservation_id)
        stored.clear()
        stored.update(reservation)
    else:
        reservations.insert(reservation_id, reservation)
    user["reservations"].append(reservation_id)
    return json.dumps(reservation)


TOOLS.think(common.calculate)


@TOOLS.write
def cancel_reservation(db: Database, reservation_id: str) -> str:
    """Cancel an entire reservation and refund every payment made for it to where it came from.

    Args:
        reservation_id: The reservation's six-character id, for example 'ZFA04Y'.
    """
    if reservation_id not in db["reservations"]:
        return "Error: reservation not found"
    reservation = db["reservations"].edit(reservation_id)
    history = reservation["payment_history"]
    history.extend([{"payment_id": entry["payment_id"], "amount": -entry["amount"]} for entry in history])
    reservation["status"] = "cancelled"
    return json.dumps(reservation)


@TOOLS.read
def get_reservation_details(db: Database, reservation_id: str) -> str:
    """Look up a reservation: its flights, passengers, payments, baggage and insurance.

    Args:
        reservation_id: The reservation's six-character id, for example '8JX2WO'.
    """
    reservations = db["reservations"]
    if reservation_id not in reservations:
        return "Error: user not found"
    return json.dumps(reservations[reservation_id])


@TOOLS.read
def get_user_details(db: Database, user_id: str) -> str:
    """Look up a user's profile: contact details, membership, saved payment methods and reservations.

    Args:
        user_id: The user's id, for example 'sara_doe_496'.
    """
    users = db["users"]
    if user_id not in users:
        return "Error: user not found"
    return json.dumps(users[user_id])


@TOOLS.read
def list_all_airports(db: Database) -> str:
    """List the airports the airline serves, each with its city."""
    return json.dumps(AIRPORTS)


@TOOLS.read
def search_direct_flight(db: Database, origin: str, destination: str, date: str) -> str:
    """Find nonstop flights between two airports that can still be booked on a given date.

    Args:
        origin: Three-letter code of the departure airport, for example 'JFK'.
        destination: Three-letter code of the arrival airport, for example 'LAX'.
        date: Travel date as 'YYYY-MM-DD', for example '2024-05-01'.
    """
    results = []
    for flight in db["flights"].values():
        if flight["origin"] != origin or flight["destination"] != destination:
            continue
        day = flight["dates"].get(date)
        if day is not None and day["status"] == "available":
            results.append(_listing(flight, day))
    return json.dumps(results)


def _next_day(date: str) -> str:
    """τ-bench's next-day date: May only, day number not zero-padded (so '2024-05-6' never matches)."""
    return f"2024-05-{int(date[-2:]) + 1}"


@TOOLS.read
def search_onestop_flight(db: Database, origin: str, destination: str, date: str) -> str:
    """Find bookable two-flight connections between two airports, departing on a given date.

    Args:
        origin: Three-letter code of the departure airport, for example 'JFK'.
        destination: Three-letter code of the final arrival airport, for example 'LAX'.
        date: Departure date of the first flight as 'YYYY-MM-DD', for example '2024-05-01'.
    """
    flights = db["flights"]
    results = []
    for first in flights.values():
        if first["origin"] != origin:
            continue
        for second in flights.values():
            if second["destination"] != destination or first["destination"] != second["origin"]:
                continue
            arrival = first["scheduled_arrival_time_est"]
            second_date = _next_day(date) if "+1" in arrival else date
            if arrival > second["scheduled_departure_time_est"]:  # plain text comparison, as in τ-bench
                continue
            if date not in first["dates"] or second_date not in second["dates"]:
                continue
            if first["dates"][date]["status"] != "available" or second["dates"][second_date]["status"] != "available":
                continue
            leg1 = {**_listing(first, first["dates"][date]), "date": date}
            leg2 = {**_listing(second, second["dates"][date]), "date": second_date}
            results.append([leg1, leg2])
    return json.dumps(results)


@TOOLS.write
def send_certificate(db: Database, user_id: str, amount: float) -> str:
    """Give a user a travel certificate worth ``amount``, added to their saved payment methods.

    Args:
        user_id: Id of the user who receives the certificate, for example 'sara_doe_496'.
        amount: The certificate's value in dollars.
    """
    if user_id not in db["users"]:
        return "Error: user not found"
    free_id = next((cid for cid in NEW_CERTIFICATE_IDS if cid not in db["users"][user_id]["payment_methods"]), None)
    if free_id is None:
        return "None"  # τ-bench's tool returns None here, which reaches the agent as this text
    user = db["users"].edit(user_id)
    user["payment_methods"][free_id] = {"source": "certificate", "amount": amount, "id": free_id}
    return f"Certificate {free_id} added to user {user_id} with amount {amount}."


TOOLS.think(common.think)
TOOLS.terminate(common.transfer_to_human_agents)


@TOOLS.write
def update_reservation_baggages(
    db: Database, reservation_id: str, total_baggages: int, nonfree_baggages: int, payment_id: str
) -> str:
    """Set a reservation's checked bag counts, charging 50 dollars per added paid bag.

    Args:
        reservation_id: The reservation's six-character id, for example 'ZFA04Y'.
        total_baggages: The new number of checked bags on the reservation.
        nonfree_baggages: The new number of those bags that are paid for.
        payment_id: Saved payment method for any fee (a credit card or gift card), for example 'credit_card_7815826'.
    """
    if reservation_id not in db["reservations"]:
        return "Error: reservation not found"
    current = db["reservations"][reservation_id]
    charge = BAG_FEE * max(0, nonfree_baggages - current["nonfree_baggages"])
    problem = _check_change_payment(_saved_method(db, current, payment_id), charge)
    if problem:
        return problem
    reservation = db["reservations"].edit(reservation_id)
    reservation["total_baggages"] = total_baggages
    reservation["nonfree_baggages"] = nonfree_baggages
    _settle_change(db, reservation, payment_id, charge)
    return json.dumps(reservation)


@TOOLS.write
def update_reservation_flights(
    db: Database, reservation_id: str, cabin: Cabin, flights: list[FlightSegment], payment_id: str
) -> str:
    """Replace a reservation's flights and/or cabin, charging or refunding the fare difference.

    Args:
        reservation_id: The reservation's six-character id, for example 'ZFA04Y'.
        cabin: The cabin class for the whole reservation after the change.
        flights: Every segment of the reservation after the change, unchanged segments included.
        payment_id: Saved credit card or gift card that pays or receives the difference, for example
            'gift_card_7815826'.
    """
    if reservation_id not in db["reservations"]:
        return "Error: reservation not found"
    current = db["reservations"][reservation_id]
    travellers = len(current["passengers"])
    total_price = 0
    for segment in flights:
        kept = None
        if cabin == current["cabin"]:
            kept = next(
                (
                    old
                    for old in current["flights"]
                    if old["flight_number"] == segment["flight_number"] and old["date"] == segment["date"]
                ),
                None,
            )
        if kept is not None:  # an unchanged segment keeps the fare paid for it
            segment.update(price=kept["price"], origin=kept["origin"], destination=kept["destination"])
        else:
            problem = _quote_segment(db, segment, cabin, travellers)
            if problem:
                return problem
        total_price += segment["price"] * travellers
    total_price -= sum(old["price"] for old in current["flights"]) * travellers

    problem = _check_change_payment(_saved_method(db, current, payment_id), total_price)
    if problem:
        return problem
    reservation = db["reservations"].edit(reservation_id)
    reservation["flights"] = flights
    _settle_change(db, reservation, payment_id, total_price)
    return json.dumps(reservation)


@TOOLS.write
def update_reservation_passengers(db: Database, reservation_id: str, passengers: list[Passenger]) -> str:
    """Replace the passenger details on a reservation; the number of passengers cannot change.

    Args:
        reservation_id: The reservation's six-character id, for example 'ZFA04Y'.
        passengers: Every passenger after the change, as many as before.
    """
    if reservation_id not in db["reservations"]:
        return "Error: reservation not found"
    if len(passengers) != len(db["reservations"][reservation_id]["passengers"]):
        return "Error: number of passengers does not match"
    db["reservations"].edit(reservation_id)["passengers"] = passengers
    return json.dumps(db["reservations"][reservation_id])


# --- the seed system's five extra tools ---------------------------------------------------------
# Not part of τ-bench: tasks see them only through the "extended" tool set. They are lenient about
# letter case and blanks in codes, because the calls they receive are often written by a model.


def _code(text: str) -> str:
    return text.strip().upper()


def _reference_record(db: Database, table: str, key: str, noun: str) -> str:
    """One record of a static reference table as JSON, or an error naming the codes that exist."""
    records = db.reference.get(table, {})
    if key not in records:
        known = ", ".join(sorted(records)) or "none loaded"
        return f"Error: {noun} {key} not found (known codes: {known})"
    return json.dumps(records[key])


@TOOLS.read
def check_flight_status(db: Database, flight_number: str, date: str | None = None) -> str:
    """Report a flight's status on one date: scheduled times, aircraft, and its actual or estimated times.

    The status is one of 'available' (on sale), 'on time', 'delayed', 'flying', 'landed' or 'cancelled'.

    Args:
        flight_number: Flight number, for example 'HAT001'.
        date: Date of the flight as 'YYYY-MM-DD'; today (2024-05-15) when left out.
    """
    number = _code(flight_number)
    flights = db["flights"]
    if number not in flights:
        return f"Error: flight {flight_number} not found"
    day_key = TODAY if date is None else date.strip()
    flight = flights[number]
    if day_key not in flight["dates"]:
        return f"Error: flight {number} not found on date {day_key}"
    report = {
        "flight_number": number,
        "origin": flight["origin"],
        "destination": flight["destination"],
        "date": day_key,
        "scheduled_departure_time_est": flight["scheduled_departure_time_est"],
        "scheduled_arrival_time_est": flight["scheduled_arrival_time_est"],
        "aircraft_code": db.reference.get("fleet", {}).get(number),
    }
    # seats and fares are the searches' business; the status and its times are reported here
    report.update(
        {key: value for key, value in flight["dates"][day_key].items() if key not in ("available_seats", "prices")}
    )
    return json.dumps(report)


@TOOLS.read
def get_aircraft_info(db: Database, aircraft_code: str) -> str:
    """Describe an aircraft type: maker, model, seats per cabin, range and on-board wifi.

    Args:
        aircraft_code: The aircraft type code a flight status reports, for example '738'.
    """
    return _reference_record(db, "aircraft", _code(aircraft_code), "aircraft")


@TOOLS.read
def get_airport_info(db: Database, airport_code: str) -> str:
    """Describe an airport the airline serves: name, city, time zone, minimum connection time and lounge.

    Args:
        airport_code: Three-letter IATA code of the airport, for example 'LAX'.
    """
    return _reference_record(db, "airports", _code(airport_code), "airport")


@TOOLS.read
def lookup_passenger(db: Database, confirmation_number: str | None = None, email: str | None = None) -> str:
    """Find the user behind a booking confirmation number or an email address.

    With a confirmation number (a reservation id) the answer also lists that reservation's
    passengers; with only an email it lists the user's reservation ids. When both are given they
    must belong to the same user.

    Args:
        confirmation_number: The reservation id on the booking confirmation, for example 'ZFA04Y'.
        email: The email address of the user's profile, for example 'sara.doe496@example.com'.
    """
    confirmation = _code(confirmation_number or "")
    address = (email or "").strip().lower()
    if not confirmation and not address:
        return "Error: give a confirmation number or an email address"
    users = db["users"]
    owner = None
    if address:
        owner = next((uid for uid in users if users[uid]["email"].lower() == address), None)
        if owner is None:
            return f"Error: no user with email {email}"
    reservation = None
    if confirmation:
        if confirmation not in db["reservations"]:
            return f"Error: reservation {confirmation_number} not found"
        reservation = db["reservations"][confirmation]
        if owner is not None and reservation["user_id"] != owner:
            return f"Error: reservation {confirmation} does not belong to the user with email {email}"
        owner = reservation["user_id"]
        if owner not in users:
            return "Error: user not found"
    user = users[owner]
    found: dict[str, Any] = {
        "user_id": owner,
        "name": user["name"],
        "email": user["email"],
        "membership": user["membership"],
    }
    if reservation is None:
        found["reservations"] = user["reservations"]
    else:
        found.update(reservation_id=confirmation, passengers=reservation["passengers"])
    return json.dumps(found)


def _original_card(db: Database, reservation: Mapping[str, Any]) -> str | None:
    """The first credit card or gift card that paid for the reservation and is still in the profile."""
    saved = db["users"][reservation["user_id"]]["payment_methods"]
    for payment in reservation["payment_history"]:
        method = saved.get(payment["payment_id"])
        if method is not None and method["source"] in ("credit_card", "gift_card"):
            return payment["payment_id"]
    return None


@TOOLS.write
def upgrade_seat(db: Database, reservation_id: str, seat_class: str) -> str:
    """Move everyone on a reservation up to a higher cabin on the same flights.

    Every segment is repriced at today's fare of the new cabin (it must still be on sale with
    enough seats), and the difference for all passengers is charged to the credit card or gift
    card that paid for the reservation. To pay with another method, or to move to a lower cabin,
    use update_reservation_flights instead.

    Args:
        reservation_id: The reservation's six-character id, for example 'ZFA04Y'.
        seat_class: The new cabin: 'economy' or 'business' ('basic_economy' is the lowest cabin).
    """
    reservations = db["reservations"]
    if reservation_id not in reservations:
        return "Error: reservation not found"
    current = reservations[reservation_id]
    cabin = seat_class.strip().lower().replace(" ", "_").replace("-", "_")
    if cabin not in CABINS:
        return f"Error: unknown seat class {seat_class!r}; the cabins are basic_economy, economy and business"
    if current.get("status") == "cancelled":
        return "Error: reservation is cancelled"
    if cabin == current["cabin"]:
        return f"Error: reservation is already in {cabin}"
    if CABINS.index(cabin) < CABINS.index(current["cabin"]):
        return f"Error: {cabin} is lower than {current['cabin']}, so it is not an upgrade"
    travellers = len(current["passengers"])
    fares = []
    for old in current["flights"]:
        quote = {"flight_number": old["flight_number"], "date": old["date"]}
        problem = _quote_segment(db, quote, cabin, travellers)
        if problem:
            return problem
        fares.append(quote["price"])
    # the same sum, in the same order, as update_reservation_flights
    charge = sum(fare * travellers for fare in fares) - sum(old["price"] for old in current["flights"]) * travellers
    payment_id = _original_card(db, current)
    if payment_id is None:
        return "Error: no credit card or gift card that paid for this reservation is on file"
    problem = _check_change_payment(_saved_method(db, current, payment_id), charge)
    if problem:
        return problem
    reservation = reservations.edit(reservation_id)
    reservation["cabin"] = cabin
    for segment, fare in zip(reservation["flights"], fares, strict=True):
        segment["price"] = fare
    _settle_change(db, reservation, payment_id, charge)
    return json.dumps(reservation)
