"""The airline tools on the generated database: every success path and every error τ-bench has.

Records are found in ``generate_database(0)`` by what they are (a user with a gift card, a sold-out
cabin...), not by id, so the tests follow the generator rather than a snapshot of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from taurl.core.db import Database, clone
from taurl.core.hashing import canonical_hash
from taurl.core.types import Action, RewardBasis, ToolKind
from taurl.domains.airline import DOMAIN
from taurl.domains.airline.generate import FREE_BAGS, generate_database, generate_reference, generate_tasks
from taurl.domains.airline.tools import AIRPORTS, TOOLS
from tests.domains.conftest import ToolCalls

CABINS = ["basic_economy", "economy", "business"]
SEGMENT = {"flight_number": "string", "date": "string"}
PERSON = {"first_name": "string", "last_name": "string", "dob": "string"}
PAYMENT = {"payment_id": "string", "amount": "number"}

#: τ-bench's parameters per tool, in its order: JSON type, enum values, or the fields of array items.
#: Every parameter of every τ-bench airline tool is required.
SCHEMAS: dict[str, dict[str, Any]] = {
    "book_reservation": {
        "user_id": "string",
        "origin": "string",
        "destination": "string",
        "flight_type": ["one_way", "round_trip"],
        "cabin": CABINS,
        "flights": SEGMENT,
        "passengers": PERSON,
        "payment_methods": PAYMENT,
        "total_baggages": "integer",
        "nonfree_baggages": "integer",
        "insurance": ["yes", "no"],
    },
    "calculate": {"expression": "string"},
    "cancel_reservation": {"reservation_id": "string"},
    "get_reservation_details": {"reservation_id": "string"},
    "get_user_details": {"user_id": "string"},
    "list_all_airports": {},
    "search_direct_flight": {"origin": "string", "destination": "string", "date": "string"},
    "search_onestop_flight": {"origin": "string", "destination": "string", "date": "string"},
    "send_certificate": {"user_id": "string", "amount": "number"},
    "think": {"thought": "string"},
    "transfer_to_human_agents": {"summary": "string"},
    "update_reservation_baggages": {
        "reservation_id": "string",
        "total_baggages": "integer",
        "nonfree_baggages": "integer",
        "payment_id": "string",
    },
    "update_reservation_flights": {
        "reservation_id": "string",
        "cabin": CABINS,
        "flights": SEGMENT,
        "payment_id": "string",
    },
    "update_reservation_passengers": {"reservation_id": "string", "passengers": PERSON},
}
KINDS = {"think": ToolKind.THINK, "calculate": ToolKind.THINK, "transfer_to_human_agents": ToolKind.TERMINATE}
WRITES = {
    "book_reservation",
    "cancel_reservation",
    "send_certificate",
    "update_reservation_baggages",
    "update_reservation_flights",
    "update_reservation_passengers",
}


_calls = ToolCalls(TOOLS)
call, run = _calls.result, _calls.call


def unchanged(db: Database, observation: str, expected: str) -> None:
    assert observation == expected
    assert db.touched() == set()


# --- finding records in the generated data --------------------------------------------------------


def open_days(base: dict, cabin: str, seats: int = 1) -> Iterator[tuple[str, str, dict]]:
    """(flight number, date, day) of every date on sale with at least ``seats`` seats in ``cabin``."""
    for number, flight in base["flights"].items():
        for date, day in flight["dates"].items():
            if day["status"] == "available" and day["available_seats"][cabin] >= seats:
                yield number, date, day


def first_day(base: dict, test: Callable[[dict], bool]) -> tuple[str, str]:
    return next((n, d) for n, f in base["flights"].items() for d, day in f["dates"].items() if test(day))


def user_with(base: dict, *sources: str) -> str:
    """A user holding a payment method of each source."""
    return next(
        uid
        for uid, user in base["users"].items()
        if all(any(m["source"] == s for m in user["payment_methods"].values()) for s in sources)
    )


def method(base: dict, user_id: str, source: str) -> dict:
    return next(m for m in base["users"][user_id]["payment_methods"].values() if m["source"] == source)


def reservation_of(base: dict, test: Callable[[dict, dict], bool]) -> dict:
    """A reservation passing ``test(reservation, owner)``."""
    return next(r for r in base["reservations"].values() if test(r, base["users"][r["user_id"]]))


def upcoming(reservation: dict) -> bool:
    return reservation["flights"][0]["date"] > "2024-05-15"


def has(source: str) -> Callable[[dict, dict], bool]:
    return lambda r, user: any(m["source"] == source for m in user["payment_methods"].values())


def legs(reservation: dict) -> list[dict]:
    return [{"flight_number": s["flight_number"], "date": s["date"]} for s in reservation["flights"]]


def passenger(user: dict) -> dict:
    return {"first_name": user["name"]["first_name"], "last_name": user["name"]["last_name"], "dob": user["dob"]}


# --- registry and schemas -------------------------------------------------------------------------


def test_tools_are_registered_in_tau_bench_order_with_their_kinds() -> None:
    """τ-bench's fourteen come first, in its order, and are the default tool set; the seed system's
    extra tools follow (tests/test_airline_extras.py)."""
    assert TOOLS.names[: len(SCHEMAS)] == list(SCHEMAS)
    assert DOMAIN.tools_for("default").names == list(SCHEMAS)
    assert DOMAIN.tools is TOOLS and DOMAIN.name == "airline"
    for tool in DOMAIN.tools_for("default"):
        expected = KINDS.get(tool.name, ToolKind.WRITE if tool.name in WRITES else ToolKind.READ)
        assert tool.kind is expected, tool.name


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_schema_matches_tau_bench(name: str) -> None:
    function = TOOLS[name].openai_schema()["function"]
    assert function["name"] == name and function["description"]
    parameters = function["parameters"]
    assert parameters["type"] == "object"
    assert list(parameters["properties"]) == list(SCHEMAS[name])
    assert parameters["required"] == list(SCHEMAS[name])
    for param, spec in SCHEMAS[name].items():
        schema = parameters["properties"][param]
        assert schema.get("description") or "enum" in schema, f"{name}.{param} has no description"
        if isinstance(spec, str):
            assert schema["type"] == spec and "enum" not in schema
        elif isinstance(spec, list):
            assert (schema["type"], schema["enum"]) == ("string", spec)
        else:
            items = schema["items"]
            assert schema["type"] == "array" and items["type"] == "object"
            assert {field: s["type"] for field, s in items["properties"].items()} == spec
            assert items["required"] == list(spec)


@pytest.mark.parametrize(
    "action, expected",
    [
        (Action("get_user_details", {}), "missing required argument(s) user_id"),
        (Action("get_user_details", {"user_id": 7}), "user_id must be string"),
        (Action("book_reservation", {}), "missing required argument(s)"),
        (
            Action(
                "update_reservation_baggages",
                {"reservation_id": "X", "total_baggages": "2", "nonfree_baggages": 0, "payment_id": "p"},
            ),
            "total_baggages must be integer",
        ),
        (
            Action(
                "update_reservation_flights",
                {"reservation_id": "X", "cabin": "first", "flights": [], "payment_id": "p"},
            ),
            "cabin must be one of",
        ),
        (
            Action("update_reservation_passengers", {"reservation_id": "X", "passengers": [{"first_name": "A"}]}),
            "passengers[0] is missing required key 'last_name'",
        ),
        (Action("send_certificate", {"user_id": "u", "amount": "100"}), "amount must be number"),
        (Action("cancel_reservation", {"reservation_id": "X", "reason": "plans"}), "unexpected argument(s) reason"),
        (Action("refund_everything", {}), "unknown tool 'refund_everything'"),
    ],
)
def test_invalid_calls_are_errors_and_change_nothing(db: Database, action: Action, expected: str) -> None:
    result = TOOLS.invoke(db, action)
    assert result.observation.startswith("Error: ") and expected in result.observation
    assert not result.ok
    assert db.touched() == set()


# --- read tools -----------------------------------------------------------------------------------


def test_get_user_details(db: Database, base: dict) -> None:
    user_id = next(iter(base["users"]))
    assert run(db, "get_user_details", user_id=user_id) == json.dumps(base["users"][user_id])
    unchanged(db, run(db, "get_user_details", user_id="nobody_0000"), "Error: user not found")


def test_get_reservation_details_reports_a_missing_reservation_as_a_missing_user(db: Database, base: dict) -> None:
    reservation_id = next(iter(base["reservations"]))
    assert run(db, "get_reservation_details", reservation_id=reservation_id) == json.dumps(
        base["reservations"][reservation_id]
    )
    unchanged(db, run(db, "get_reservation_details", reservation_id="NOPE00"), "Error: user not found")


def test_list_all_airports_is_the_fixed_table(db: Database, base: dict) -> None:
    airports = json.loads(run(db, "list_all_airports"))
    assert airports == AIRPORTS and len(airports) == 20 and list(airports)[0] == "SFO"
    assert {f["origin"] for f in base["flights"].values()} <= set(airports)


def test_search_direct_flight_lists_only_flights_on_sale(db: Database, base: dict) -> None:
    number, date, day = next(open_days(base, "economy"))
    flight = base["flights"][number]
    found = json.loads(
        run(db, "search_direct_flight", origin=flight["origin"], destination=flight["destination"], date=date)
    )
    schedule = {k: v for k, v in flight.items() if k != "dates"}
    assert found == [{**schedule, **day}]
    past = "2024-05-03"
    assert flight["dates"][past]["status"] != "available"
    assert (
        run(db, "search_direct_flight", origin=flight["origin"], destination=flight["destination"], date=past) == "[]"
    )
    assert run(db, "search_direct_flight", origin="XXX", destination="YYY", date=date) == "[]"


def _onestop_db(first_arrival: str, second_departure: str) -> Database:
    """Two chained flights A->B->C, on sale from May 5 to 11 with a price per day."""

    def flight(number: str, origin: str, destination: str, departure: str, arrival: str, price: int) -> dict:
        days = {
            f"2024-05-{d:02d}": {
                "status": "available",
                "available_seats": {c: 9 for c in CABINS},
                "prices": {c: price + d for c in CABINS},
            }
            for d in range(5, 12)
        }
        return {
            "flight_number": number,
            "origin": origin,
            "destination": destination,
            "scheduled_departure_time_est": departure,
            "scheduled_arrival_time_est": arrival,
            "dates": days,
        }

    flights = {
        "HAT001": flight("HAT001", "AAA", "BBB", "22:00:00", first_arrival, 100),
        "HAT002": flight("HAT002", "BBB", "CCC", second_departure, "06:00:00", 200),
    }
    return Database({"flights": flights, "reservations": {}, "users": {}})


def test_search_onestop_flight_same_day(db: Database, base: dict) -> None:
    found = json.loads(run(db, "search_onestop_flight", origin="JFK", destination="SEA", date="2024-05-20"))
    assert found, "the generated network has JFK-ORD-SEA style connections"
    for first, second in found:
        assert (first["origin"], second["destination"], first["destination"]) == ("JFK", "SEA", second["origin"])
        assert first["date"] == "2024-05-20" and "dates" not in first
        assert first["scheduled_arrival_time_est"] <= second["scheduled_departure_time_est"]
    chained = _onestop_db("23:00:00", "23:30:00")
    pairs = json.loads(run(chained, "search_onestop_flight", origin="AAA", destination="CCC", date="2024-05-07"))
    assert [(a["flight_number"], a["date"], b["flight_number"], b["date"]) for a, b in pairs] == [
        ("HAT001", "2024-05-07", "HAT002", "2024-05-07")
    ]
    missed = _onestop_db("23:30:00", "23:00:00")
    assert run(missed, "search_onestop_flight", origin="AAA", destination="CCC", date="2024-05-07") == "[]"


def test_search_onestop_flight_overnight_quirks() -> None:
    """Next-day dates are built without zero padding, and the second leg shows the first leg's day."""
    overnight = _onestop_db("01:00:00+1", "02:00:00")
    pairs = json.loads(run(overnight, "search_onestop_flight", origin="AAA", destination="CCC", date="2024-05-10"))
    assert len(pairs) == 1
    first, second = pairs[0]
    assert (first["date"], second["date"]) == ("2024-05-10", "2024-05-11")
    assert second["prices"]["economy"] == 200 + 10  # the price of May 10, not May 11
    assert run(overnight, "search_onestop_flight", origin="AAA", destination="CCC", date="2024-05-05") == "[]"


# --- think tools and transfer ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("2 + 2", "4.0"),
        ("(120 + 85) * 2 - 10", "400.0"),
        ("10 / 3", "3.33"),
        ("  7 - 2", "5.0"),
        ("2 + x", "Error: invalid characters in expression"),
        ("1 / 0", "Error: division by zero"),
        ("(1 + 2", "Error: '(' was never closed (<string>, line 1)"),
        ("", "Error: invalid syntax (<string>, line 0)"),
        ("2 ** 10 ** 10", "Error: int too large to convert to float"),
        ("10 ** 400 / 10 ** 398", "100.0"),
    ],
)
def test_calculate(db: Database, expression: str, expected: str) -> None:
    unchanged(db, run(db, "calculate", expression=expression), expected)


def test_think_and_transfer(db: Database) -> None:
    unchanged(db, run(db, "think", thought="The user is gold, so three free bags each."), "")
    result = call(db, "transfer_to_human_agents", summary="User wants to change the passenger count.")
    assert (result.observation, result.kind) == ("Transfer successful", ToolKind.TERMINATE)
    assert db.touched() == set()


# --- send_certificate -----------------------------------------------------------------------------


def test_send_certificate_uses_three_fixed_ids_then_returns_none(db: Database, base: dict) -> None:
    user_id = next(iter(base["users"]))
    for number, amount in zip((3221322, 3221323, 3221324), (150, 50.0, 100), strict=True):
        observation = run(db, "send_certificate", user_id=user_id, amount=amount)
        assert observation == f"Certificate certificate_{number} added to user {user_id} with amount {amount}."
        assert db["users"][user_id]["payment_methods"][f"certificate_{number}"] == {
            "source": "certificate",
            "amount": amount,
            "id": f"certificate_{number}",
        }
    before = db.state_hash()
    assert run(db, "send_certificate", user_id=user_id, amount=10) == "None"
    assert db.state_hash() == before
    assert base["users"][user_id] == generate_database(0)["users"][user_id]


def test_send_certificate_unknown_user(db: Database) -> None:
    unchanged(db, run(db, "send_certificate", user_id="nobody_0000", amount=100), "Error: user not found")


# --- cancel_reservation ---------------------------------------------------------------------------


def test_cancel_reservation_refunds_every_payment(db: Database, base: dict) -> None:
    reservation = reservation_of(base, lambda r, user: has("gift_card")(r, user))
    rid, paid = reservation["reservation_id"], reservation["payment_history"]
    refunds = [{"payment_id": p["payment_id"], "amount": -p["amount"]} for p in paid]
    cancelled = json.loads(run(db, "cancel_reservation", reservation_id=rid))
    assert cancelled == {**reservation, "payment_history": paid + refunds, "status": "cancelled"}
    assert db.touched() == {("reservations", rid)}  # gift cards are not credited back
    again = json.loads(run(db, "cancel_reservation", reservation_id=rid))
    assert again["payment_history"] == paid + refunds + [{**p, "amount": -p["amount"]} for p in paid + refunds]


def test_cancel_unknown_reservation(db: Database) -> None:
    unchanged(db, run(db, "cancel_reservation", reservation_id="NOPE00"), "Error: reservation not found")


# --- update_reservation_passengers ----------------------------------------------------------------


def test_update_passengers(db: Database, base: dict) -> None:
    reservation = next(iter(base["reservations"].values()))
    rid = reservation["reservation_id"]
    new = [{"first_name": "Ada", "last_name": "Byron", "dob": "1990-12-10"} for _ in reservation["passengers"]]
    assert json.loads(run(db, "update_reservation_passengers", reservation_id=rid, passengers=new)) == {
        **reservation,
        "passengers": new,
    }
    assert db.touched() == {("reservations", rid)}


def test_update_passengers_errors(db: Database, base: dict) -> None:
    reservation = next(iter(base["reservations"].values()))
    one_more = reservation["passengers"] + [{"first_name": "Ada", "last_name": "Byron", "dob": "1990-12-10"}]
    unchanged(
        db,
        run(db, "update_reservation_passengers", reservation_id=reservation["reservation_id"], passengers=one_more),
        "Error: number of passengers does not match",
    )
    unchanged(
        db,
        run(db, "update_reservation_passengers", reservation_id="NOPE00", passengers=[]),
        "Error: reservation not found",
    )


# --- update_reservation_baggages ------------------------------------------------------------------


def test_add_paid_bags_with_a_gift_card(db: Database, base: dict) -> None:
    reservation = reservation_of(
        base, lambda r, u: has("gift_card")(r, u) and method(base, r["user_id"], "gift_card")["amount"] >= 100
    )
    rid, user_id = reservation["reservation_id"], reservation["user_id"]
    card = method(base, user_id, "gift_card")
    observation = run(
        db,
        "update_reservation_baggages",
        reservation_id=rid,
        total_baggages=reservation["total_baggages"] + 2,
        nonfree_baggages=reservation["nonfree_baggages"] + 2,
        payment_id=card["id"],
    )
    assert json.loads(observation) == {
        **reservation,
        "total_baggages": reservation["total_baggages"] + 2,
        "nonfree_baggages": reservation["nonfree_baggages"] + 2,
        "payment_history": reservation["payment_history"] + [{"payment_id": card["id"], "amount": 100}],
    }
    assert db["users"][user_id]["payment_methods"][card["id"]]["amount"] == card["amount"] - 100


def test_free_bags_record_no_payment(db: Database, base: dict) -> None:
    reservation = reservation_of(base, has("credit_card"))
    card = method(base, reservation["user_id"], "credit_card")
    observation = run(
        db,
        "update_reservation_baggages",
        reservation_id=reservation["reservation_id"],
        total_baggages=reservation["total_baggages"] + 1,
        nonfree_baggages=reservation["nonfree_baggages"],
        payment_id=card["id"],
    )
    assert json.loads(observation)["payment_history"] == reservation["payment_history"]
    assert db.touched() == {("reservations", reservation["reservation_id"])}


def test_update_baggages_errors(db: Database, base: dict) -> None:
    reservation = reservation_of(base, lambda r, u: has("certificate")(r, u) and has("gift_card")(r, u))
    rid, user_id = reservation["reservation_id"], reservation["user_id"]
    gift = method(base, user_id, "gift_card")
    bags = {"total_baggages": 9, "nonfree_baggages": reservation["nonfree_baggages"] + gift["amount"] // 50 + 1}
    cases = [
        ("NOPE00", "credit_card_0", "Error: reservation not found"),
        (rid, "credit_card_0", "Error: payment method not found"),
        (rid, method(base, user_id, "certificate")["id"], "Error: certificate cannot be used to update reservation"),
        (rid, gift["id"], "Error: gift card balance is not enough"),
    ]
    for reservation_id, payment_id, expected in cases:
        unchanged(
            db,
            run(db, "update_reservation_baggages", reservation_id=reservation_id, payment_id=payment_id, **bags),
            expected,
        )


# --- update_reservation_flights -------------------------------------------------------------------


def _sellable(base: dict, reservation: dict, cabin: str) -> bool:
    days = [base["flights"][s["flight_number"]]["dates"][s["date"]] for s in reservation["flights"]]
    return all(
        d["status"] == "available" and d["available_seats"][cabin] >= len(reservation["passengers"]) for d in days
    )


def _upgrade_cost(base: dict, reservation: dict) -> int:
    days = [base["flights"][s["flight_number"]]["dates"][s["date"]] for s in reservation["flights"]]
    fares = sum(d["prices"]["business"] for d in days) - sum(s["price"] for s in reservation["flights"])
    return fares * len(reservation["passengers"])


def test_cabin_change_charges_the_difference_but_keeps_the_old_cabin_field(db: Database, base: dict) -> None:
    reservation = reservation_of(
        base, lambda r, u: r["cabin"] == "economy" and upcoming(r) and _sellable(base, r, "business")
    )
    rid = reservation["reservation_id"]
    card = method(base, reservation["user_id"], "credit_card")
    days = [base["flights"][s["flight_number"]]["dates"][s["date"]] for s in reservation["flights"]]
    updated = json.loads(
        run(
            db,
            "update_reservation_flights",
            reservation_id=rid,
            cabin="business",
            flights=legs(reservation),
            payment_id=card["id"],
        )
    )
    assert updated["cabin"] == "economy"  # τ-bench never writes the new cabin
    assert [s["price"] for s in updated["flights"]] == [d["prices"]["business"] for d in days]
    assert [list(s) for s in updated["flights"]] == [["flight_number", "date", "price", "origin", "destination"]] * len(
        days
    )
    assert updated["payment_history"][-1] == {"payment_id": card["id"], "amount": _upgrade_cost(base, reservation)}
    assert db.touched() == {("reservations", rid)}


def test_kept_segments_keep_their_price_and_cost_nothing(db: Database, base: dict) -> None:
    reservation = reservation_of(base, lambda r, u: has("gift_card")(r, u))
    gift = method(base, reservation["user_id"], "gift_card")
    updated = json.loads(
        run(
            db,
            "update_reservation_flights",
            reservation_id=reservation["reservation_id"],
            cabin=reservation["cabin"],
            flights=legs(reservation),
            payment_id=gift["id"],
        )
    )
    assert updated["flights"] == [
        {**leg, "price": s["price"], "origin": s["origin"], "destination": s["destination"]}
        for leg, s in zip(legs(reservation), reservation["flights"], strict=True)
    ]
    assert updated["payment_history"] == reservation["payment_history"]
    assert db["users"][reservation["user_id"]]["payment_methods"][gift["id"]]["amount"] == gift["amount"]


def test_downgrade_refunds_onto_a_gift_card(db: Database, base: dict) -> None:
    reservation = reservation_of(
        base,
        lambda r, u: (
            r["cabin"] == "business" and upcoming(r) and has("gift_card")(r, u) and _sellable(base, r, "basic_economy")
        ),
    )
    gift = method(base, reservation["user_id"], "gift_card")
    updated = json.loads(
        run(
            db,
            "update_reservation_flights",
            reservation_id=reservation["reservation_id"],
            cabin="basic_economy",
            flights=legs(reservation),
            payment_id=gift["id"],
        )
    )
    refund = updated["payment_history"][-1]["amount"]
    assert refund < 0
    assert db["users"][reservation["user_id"]]["payment_methods"][gift["id"]]["amount"] == gift["amount"] - refund


def test_update_flights_errors(db: Database, base: dict) -> None:
    reservation = reservation_of(
        base,
        lambda r, u: (
            upcoming(r)
            and has("certificate")(r, u)
            and has("gift_card")(r, u)
            and r["cabin"] != "business"
            and _sellable(base, r, "business")
            and method(base, r["user_id"], "gift_card")["amount"] < _upgrade_cost(base, r)
        ),
    )
    rid, user_id = reservation["reservation_id"], reservation["user_id"]
    travellers = len(reservation["passengers"])
    past_number, past_date = first_day(base, lambda day: day["status"] == "landed")
    full_number, full_date = first_day(
        base, lambda day: day["status"] == "available" and day["available_seats"]["business"] < travellers
    )
    card, cert = method(base, user_id, "credit_card")["id"], method(base, user_id, "certificate")["id"]
    gift = method(base, user_id, "gift_card")
    upgrade = {"cabin": "business", "flights": legs(reservation)}
    cases = [
        ({"reservation_id": "NOPE00", **upgrade, "payment_id": card}, "Error: reservation not found"),
        (
            {
                "reservation_id": rid,
                "cabin": "business",
                "flights": [{"flight_number": "HAT999", "date": "2024-05-20"}],
                "payment_id": card,
            },
            "Error: flight HAT999 not found",
        ),
        (
            {
                "reservation_id": rid,
                "cabin": "business",
                "flights": [{"flight_number": past_number, "date": "2024-06-01"}],
                "payment_id": card,
            },
            f"Error: flight {past_number} not found on date 2024-06-01",
        ),
        (
            {
                "reservation_id": rid,
                "cabin": "business",
                "flights": [{"flight_number": past_number, "date": past_date}],
                "payment_id": card,
            },
            f"Error: flight {past_number} not available on date {past_date}",
        ),
        (
            {
                "reservation_id": rid,
                "cabin": "business",
                "flights": [{"flight_number": full_number, "date": full_date}],
                "payment_id": card,
            },
            f"Error: not enough seats on flight {full_number}",
        ),
        ({"reservation_id": rid, **upgrade, "payment_id": "gift_card_0"}, "Error: payment method not found"),
        (
            {"reservation_id": rid, **upgrade, "payment_id": cert},
            "Error: certificate cannot be used to update reservation",
        ),
        ({"reservation_id": rid, **upgrade, "payment_id": gift["id"]}, "Error: gift card balance is not enough"),
    ]
    for kwargs, expected in cases:
        unchanged(db, run(db, "update_reservation_flights", **kwargs), expected)


# --- book_reservation -----------------------------------------------------------------------------


def _booking(base: dict, user_id: str, cabin: str = "economy", travellers: int = 1, **overrides: Any) -> dict:
    """Arguments of a valid one-segment booking (paid by credit card) unless overridden."""
    number, date, day = next(open_days(base, cabin, travellers))
    flight = base["flights"][number]
    user = base["users"][user_id]
    passengers = [passenger(user)] + [{"first_name": "Kim", "last_name": "Lee", "dob": "2001-02-03"}] * (travellers - 1)
    total = day["prices"][cabin] * travellers + 30 * travellers + 50
    args = {
        "user_id": user_id,
        "origin": flight["origin"],
        "destination": flight["destination"],
        "flight_type": "one_way",
        "cabin": cabin,
        "flights": [{"flight_number": number, "date": date}],
        "passengers": passengers,
        "payment_methods": [{"payment_id": method(base, user_id, "credit_card")["id"], "amount": total}],
        "total_baggages": FREE_BAGS[user["membership"]][cabin] * travellers + 1,
        "nonfree_baggages": 1,
        "insurance": "yes",
    }
    return {**args, **overrides}


def test_book_reservation_with_certificate_gift_card_and_credit_card(db: Database, base: dict) -> None:
    user_id = user_with(base, "certificate", "gift_card", "credit_card")
    cert, gift, card = (method(base, user_id, s) for s in ("certificate", "gift_card", "credit_card"))
    args = _booking(base, user_id, travellers=2)
    total = args["payment_methods"][0]["amount"]
    payments = [
        {"payment_id": cert["id"], "amount": min(cert["amount"], total - 1)},
        {"payment_id": gift["id"], "amount": min(gift["amount"], 1)},
    ]
    payments.append({"payment_id": card["id"], "amount": total - sum(p["amount"] for p in payments)})
    observation = run(db, "book_reservation", **{**args, "payment_methods": payments})
    booked = json.loads(observation)
    flight = base["flights"][args["flights"][0]["flight_number"]]
    price = flight["dates"][args["flights"][0]["date"]]["prices"]["economy"]
    assert list(booked) == [
        "reservation_id",
        "user_id",
        "origin",
        "destination",
        "flight_type",
        "cabin",
        "flights",
        "passengers",
        "payment_history",
        "created_at",
        "total_baggages",
        "nonfree_baggages",
        "insurance",
    ]
    assert booked["reservation_id"] == "HATHAT" and booked["created_at"] == "2024-05-15T15:00:00"
    assert booked["flights"] == [
        {**args["flights"][0], "price": price, "origin": flight["origin"], "destination": flight["destination"]}
    ]
    assert booked["payment_history"] == payments and db["reservations"]["HATHAT"] == booked
    user = db["users"][user_id]
    assert cert["id"] not in user["payment_methods"]
    assert user["payment_methods"][gift["id"]]["amount"] == gift["amount"] - payments[1]["amount"]
    assert user["payment_methods"][card["id"]] == card
    assert user["reservations"] == base["users"][user_id]["reservations"] + ["HATHAT"]
    assert db["flights"][flight["flight_number"]] is base["flights"][flight["flight_number"]]  # seats untouched
    assert json.loads(run(db, "book_reservation", **_booking(base, user_id)))["reservation_id"] == "HATHAU"
    assert json.loads(run(db, "book_reservation", **_booking(base, user_id)))["reservation_id"] == "HATHAV"


def test_book_reservation_errors(db: Database, base: dict) -> None:
    user_id = user_with(base, "certificate", "gift_card", "credit_card")
    valid = _booking(base, user_id)
    total = valid["payment_methods"][0]["amount"]
    past_number, past_date = first_day(base, lambda day: day["status"] == "cancelled")
    full_number, full_date = first_day(
        base, lambda day: day["status"] == "available" and day["available_seats"]["economy"] == 0
    )
    cert, gift = method(base, user_id, "certificate"), method(base, user_id, "gift_card")

    def flights(number: str, date: str) -> dict:
        return {"flights": [{"flight_number": number, "date": date}]}

    cases = [
        ({"user_id": "nobody_0000"}, "Error: user not found"),
        (flights("HAT999", "2024-05-20"), "Error: flight HAT999 not found"),
        (flights(past_number, "2024-04-30"), f"Error: flight {past_number} not found on date 2024-04-30"),
        (flights(past_number, past_date), f"Error: flight {past_number} not available on date {past_date}"),
        (flights(full_number, full_date), f"Error: not enough seats on flight {full_number}"),
        (
            {"payment_methods": [{"payment_id": "credit_card_0", "amount": total}]},
            "Error: payment method credit_card_0 not found",
        ),
        (
            {"payment_methods": [{"payment_id": gift["id"], "amount": gift["amount"] + 1}]},
            f"Error: not enough balance in payment method {gift['id']}",
        ),
        (
            {"payment_methods": [{"payment_id": cert["id"], "amount": cert["amount"] + 1}]},
            f"Error: not enough balance in payment method {cert['id']}",
        ),
        (
            {"payment_methods": [{"payment_id": valid["payment_methods"][0]["payment_id"], "amount": total - 0.5}]},
            f"Error: payment amount does not add up, total price is {total}, but paid {total - 0.5}",
        ),
    ]
    for overrides, expected in cases:
        unchanged(db, run(db, "book_reservation", **{**valid, **overrides}), expected)


def test_book_reservation_overwrites_hathav_once_all_three_ids_exist(db: Database, base: dict) -> None:
    user_id = user_with(base, "credit_card")
    for _ in range(4):
        assert call(db, "book_reservation", **_booking(base, user_id)).ok
    assert [rid for rid in db["reservations"] if rid.startswith("HATHA")] == ["HATHAT", "HATHAU", "HATHAV"]
    assert db["users"][user_id]["reservations"][-2:] == ["HATHAV", "HATHAV"]


# --- the generated database and tasks -------------------------------------------------------------


def test_generation_is_deterministic_and_seeded(base: dict) -> None:
    assert canonical_hash(generate_database(0)) == canonical_hash(base)
    assert canonical_hash(generate_database(1)) != canonical_hash(base)
    first, second = generate_tasks(clone(base), 0), generate_tasks(clone(base), 0)
    assert {s: [t.to_dict() for t in ts] for s, ts in first.items()} == {
        s: [t.to_dict() for t in ts] for s, ts in second.items()
    }


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_generated_database_is_consistent(seed: int) -> None:
    base = generate_database(seed)
    assert (len(base["flights"]), len(base["users"]), len(base["reservations"])) == (40, 50, 100)
    for rid, reservation in base["reservations"].items():
        owner = base["users"][reservation["user_id"]]
        assert rid in owner["reservations"] and reservation["reservation_id"] == rid
        travellers = len(reservation["passengers"])
        price = sum(s["price"] for s in reservation["flights"]) * travellers
        price += (30 * travellers if reservation["insurance"] == "yes" else 0) + 50 * reservation["nonfree_baggages"]
        assert reservation["payment_history"] == [
            {"payment_id": reservation["payment_history"][0]["payment_id"], "amount": price}
        ]
        assert reservation["payment_history"][0]["payment_id"] in owner["payment_methods"]
        for segment in reservation["flights"]:
            flight = base["flights"][segment["flight_number"]]
            assert (segment["origin"], segment["destination"]) == (flight["origin"], flight["destination"])
    for number, flight in base["flights"].items():
        for date, day in flight["dates"].items():
            assert (day["status"] == "available") == (date > "2024-05-15"), (number, date)
    reference = generate_reference(seed)
    assert set(reference["airports"]) == set(AIRPORTS)
    assert {f"HAT{n:03d}" for n in range(1, 301)} == set(reference["fleet"]) >= set(base["flights"])
    assert set(reference["fleet"].values()) <= set(reference["aircraft"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generated_tasks_replay_cleanly(seed: int) -> None:
    database = generate_database(seed)
    tasks = generate_tasks(database, seed)
    assert len(tasks["train"]) >= 200 and len(tasks["test"]) >= 50
    root = Database(database, generate_reference(seed))
    initial = root.state_hash()
    changing = 0
    for split, split_tasks in tasks.items():
        assert [t.id for t in split_tasks] == [f"airline-{split}-{i:03d}" for i in range(len(split_tasks))]
        for task in split_tasks:
            assert (task.domain, task.split, task.reward_basis) == ("airline", split, RewardBasis.AUTO)
            assert task.instruction.startswith("You are ")
            assert task.tool_set in ("default", "extended")
            episode = root.fork()
            for action in task.actions:
                result = TOOLS.invoke(episode, action)
                assert result.ok, f"{task.id} {action.name}: {result.observation}"
            changed = episode.state_hash() != initial
            changing += changed
            if task.metadata["refusal"]:
                assert not changed and not task.outputs
            assert changed or task.outputs or task.metadata["refusal"], task.id
    total = sum(len(t) for t in tasks.values())
    assert changing * 2 >= total
    assert sum(t.metadata["refusal"] for ts in tasks.values() for t in ts) >= 3
    assert canonical_hash(database) == canonical_hash(generate_database(seed))  # replays never touch the base
