"""The seed system's five extra airline tools on the generated database: every success path and every
error; the static reference tables they read are outside the state and its hash; τ-bench's own tasks
see exactly τ-bench's fourteen tools; the seed tools' schemas are the seed system's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

import taurl.domains.airline as mod
from taurl.core.db import Database
from taurl.core.hashing import canonical_hash
from taurl.core.types import Action, ToolKind
from taurl.domains.airline.generate import generate_reference
from tests.conftest import CTU, TAUBENCH
from tests.domains.conftest import ToolCalls

DOMAIN = mod.DOMAIN
TOOLS = DOMAIN.tools
TODAY = "2024-05-15"
TAUBENCH_AIRLINE = TAUBENCH / "airline"


@pytest.fixture(scope="module")
def reference() -> dict[str, dict]:
    return generate_reference(0)


@pytest.fixture
def db(base: dict[str, dict], reference: dict[str, dict]) -> Database:
    return Database(base, reference)


run = ToolCalls(TOOLS).call


def refused(db: Database, expected: str, name: str, **kwargs: Any) -> None:
    """The call is an error starting with ``expected`` and changes nothing."""
    before = db.state_hash()
    observation = run(db, name, **kwargs)
    assert observation.startswith(expected), observation
    assert db.state_hash() == before


def reservation(db: Database, test: Callable[[dict, dict], bool]) -> dict:
    """A reservation passing ``test(reservation, payment method that paid it)``."""
    for rid in db["reservations"]:
        r = db["reservations"][rid]
        paid = db["users"][r["user_id"]]["payment_methods"].get(r["payment_history"][0]["payment_id"], {})
        if test(r, paid):
            return r
    raise LookupError("no such reservation in the generated data")


def on_sale(db: Database, r: dict, cabin: str) -> bool:
    days = [db["flights"][s["flight_number"]]["dates"][s["date"]] for s in r["flights"]]
    return all(d["status"] == "available" and d["available_seats"][cabin] >= len(r["passengers"]) for d in days)


def fares(db: Database, r: dict, cabin: str) -> list[int]:
    return [db["flights"][s["flight_number"]]["dates"][s["date"]]["prices"][cabin] for s in r["flights"]]


def upgradable(db: Database, cabin: str, source: str) -> dict:
    return reservation(
        db,
        lambda r, paid: r["cabin"] == cabin and paid.get("source") == source and on_sale(db, r, "business"),
    )


# --- tool sets and schemas ------------------------------------------------------------------------


def test_tau_bench_tasks_see_exactly_tau_benchs_fourteen_tools() -> None:
    default = DOMAIN.tools_for("default")
    assert len(default) == 14 and tuple(default.names) == mod.TAU_BENCH_TOOLS
    assert not set(default.names) & set(mod.SEED_EXTRA_TOOLS)
    for name in ("extended", "seed"):
        assert DOMAIN.tools_for(name).names == TOOLS.names and len(TOOLS) == 19
    assert DOMAIN.tools_for("all") is TOOLS


def test_extra_tool_kinds() -> None:
    kinds = {name: TOOLS[name].kind for name in mod.SEED_EXTRA_TOOLS}
    assert kinds == {
        "check_flight_status": ToolKind.READ,
        "get_aircraft_info": ToolKind.READ,
        "get_airport_info": ToolKind.READ,
        "lookup_passenger": ToolKind.READ,
        "upgrade_seat": ToolKind.WRITE,
    }


def _seed_schemas() -> dict[str, Any]:
    path = CTU / "tool_schemas.json"
    if not path.exists():
        pytest.skip(f"seed system's schemas not available: {path}")
    return json.loads(path.read_text())["airline"]


@pytest.mark.shared_data
def test_seed_tool_set_is_the_seed_systems() -> None:
    assert set(DOMAIN.tools_for("seed").names) == set(_seed_schemas())


@pytest.mark.shared_data
@pytest.mark.parametrize("name", [*mod.TAU_BENCH_TOOLS, *mod.SEED_EXTRA_TOOLS])
def test_schema_equals_the_seed_systems(name: str) -> None:
    seed = _seed_schemas()[name]
    parameters = TOOLS[name].parameters
    assert list(parameters["properties"]) == list(seed["parameters"])
    assert parameters["required"] == seed["required"]
    for param, want in seed["parameters"].items():
        have = parameters["properties"][param]
        assert have["type"] == want["type"], (name, param)
        assert have.get("enum") == want.get("enum"), (name, param)
        if "items" in want:
            assert have["items"]["type"] == want["items"]["type"], (name, param)


# --- reference tables -----------------------------------------------------------------------------


def test_reference_tables_are_outside_the_state_and_its_hash(base: dict, reference: dict) -> None:
    other = generate_reference(1)
    assert other != reference
    assert Database(base, reference).state_hash() == Database(base, other).state_hash() == canonical_hash(base)
    assert Database(base).state_hash() == canonical_hash(base)
    db = Database(base, reference)
    assert db.table_names == ["flights", "reservations", "users"]
    assert canonical_hash(db.to_dict()) == canonical_hash(base)


def test_packaged_reference_tables_are_loaded_beside_the_database(reference: dict) -> None:
    db = DOMAIN.database()
    assert dict(db.reference) == reference
    assert set(db.table_names) == set(DOMAIN.tables)
    for table, file_name in DOMAIN.reference_files.items():
        path = DOMAIN.builtin_data_dir / file_name
        assert path.read_text() == json.dumps(reference[table], indent=1, ensure_ascii=False) + "\n"


@pytest.mark.shared_data
def test_tau_bench_data_uses_the_packaged_reference_and_keeps_its_hash(reference: dict) -> None:
    if not (TAUBENCH_AIRLINE / "tasks_test.json").exists():
        pytest.skip(f"τ-bench data not at {TAUBENCH_AIRLINE}")
    db = DOMAIN.database(TAUBENCH_AIRLINE)
    assert dict(db.reference) == reference
    assert db.state_hash() == json.loads((TAUBENCH_AIRLINE / "tasks_test.json").read_text())["initial_data_hash"]
    assert set(db["flights"]) <= set(reference["fleet"])  # every τ-bench flight has an aircraft
    status = json.loads(run(db, "check_flight_status", flight_number="HAT001", date="2024-05-16"))
    assert status["aircraft_code"] == reference["fleet"]["HAT001"]


# --- check_flight_status --------------------------------------------------------------------------


def test_check_flight_status_defaults_to_today(db: Database, reference: dict) -> None:
    number = next(n for n in db["flights"] if db["flights"][n]["dates"][TODAY]["status"] == "delayed")
    flight = db["flights"][number]
    status = json.loads(run(db, "check_flight_status", flight_number=number))
    assert status == {
        "flight_number": number,
        "origin": flight["origin"],
        "destination": flight["destination"],
        "date": TODAY,
        "scheduled_departure_time_est": flight["scheduled_departure_time_est"],
        "scheduled_arrival_time_est": flight["scheduled_arrival_time_est"],
        "aircraft_code": reference["fleet"][number],
        **flight["dates"][TODAY],
    }
    assert status["status"] == "delayed" and "estimated_departure_time_est" in status
    assert db.touched() == set()


@pytest.mark.parametrize("wanted", ["available", "landed", "cancelled"])
def test_check_flight_status_on_a_date(db: Database, wanted: str) -> None:
    number, date = next(
        (n, d) for n in db["flights"] for d, day in db["flights"][n]["dates"].items() if day["status"] == wanted
    )
    status = json.loads(run(db, "check_flight_status", flight_number=f" {number.lower()} ", date=date))
    assert (status["flight_number"], status["date"], status["status"]) == (number, date, wanted)
    assert "prices" not in status and "available_seats" not in status  # fares are the searches' business


def test_check_flight_status_errors(db: Database) -> None:
    number = next(iter(db["flights"]))
    refused(db, "Error: flight HAT999 not found", "check_flight_status", flight_number="HAT999")
    refused(db, "Error: flight HAT999 not found", "check_flight_status", flight_number="HAT999", date=TODAY)
    refused(
        db,
        f"Error: flight {number} not found on date 2024-06-01",
        "check_flight_status",
        flight_number=number,
        date="2024-06-01",
    )
    assert run(db, "check_flight_status", date=TODAY).startswith("Error: missing required argument(s) flight_number")
    assert db.touched() == set()


# --- aircraft and airports ------------------------------------------------------------------------


def test_get_aircraft_info(db: Database, reference: dict) -> None:
    for code, record in reference["aircraft"].items():
        assert json.loads(run(db, "get_aircraft_info", aircraft_code=code.lower())) == record
    assert set(record) == {"aircraft_code", "manufacturer", "model", "seats", "range_miles", "wifi"}
    refused(db, "Error: aircraft 747 not found (known codes: 319, 320", "get_aircraft_info", aircraft_code="747")
    assert db.touched() == set()


def test_get_airport_info(db: Database, reference: dict) -> None:
    lax = json.loads(run(db, "get_airport_info", airport_code=" lax"))
    assert lax == reference["airports"]["LAX"] and lax["city"] == "Los Angeles"
    assert set(lax) >= {"name", "timezone", "minimum_connection_minutes", "lounge"}
    refused(db, "Error: airport LHR not found", "get_airport_info", airport_code="LHR")


def test_reference_tools_without_reference_tables_say_nothing_is_loaded(base: dict) -> None:
    bare = Database(base)
    assert (
        run(bare, "get_airport_info", airport_code="LAX") == "Error: airport LAX not found (known codes: none loaded)"
    )
    number = next(iter(base["flights"]))
    assert json.loads(run(bare, "check_flight_status", flight_number=number))["aircraft_code"] is None


# --- lookup_passenger -----------------------------------------------------------------------------


def test_lookup_passenger_by_email(db: Database) -> None:
    user_id = next(iter(db["users"]))
    user = db["users"][user_id]
    found = json.loads(run(db, "lookup_passenger", email=user["email"].upper()))
    assert found == {
        "user_id": user_id,
        "name": user["name"],
        "email": user["email"],
        "membership": user["membership"],
        "reservations": user["reservations"],
    }


def test_lookup_passenger_by_confirmation_number(db: Database) -> None:
    r = db["reservations"][next(iter(db["reservations"]))]
    user = db["users"][r["user_id"]]
    found = json.loads(run(db, "lookup_passenger", confirmation_number=r["reservation_id"].lower()))
    assert found == {
        "user_id": r["user_id"],
        "name": user["name"],
        "email": user["email"],
        "membership": user["membership"],
        "reservation_id": r["reservation_id"],
        "passengers": r["passengers"],
    }
    both = run(db, "lookup_passenger", confirmation_number=r["reservation_id"], email=user["email"])
    assert json.loads(both) == found


def test_lookup_passenger_errors(db: Database) -> None:
    r = db["reservations"][next(iter(db["reservations"]))]
    stranger = next(u for u in db["users"] if u != r["user_id"])
    refused(db, "Error: give a confirmation number or an email address", "lookup_passenger")
    refused(db, "Error: give a confirmation number or an email address", "lookup_passenger", email=" ")
    refused(db, "Error: no user with email nobody@example.com", "lookup_passenger", email="nobody@example.com")
    refused(db, "Error: reservation ZZZZZZ not found", "lookup_passenger", confirmation_number="ZZZZZZ")
    refused(
        db,
        f"Error: reservation {r['reservation_id']} does not belong to the user with email",
        "lookup_passenger",
        confirmation_number=r["reservation_id"],
        email=db["users"][stranger]["email"],
    )
    # the seed system accepted any keyword; here an unknown one is a clean argument error
    result = TOOLS.invoke(db, Action("lookup_passenger", {"user_id": stranger}))
    assert result.error == "bad_arguments" and "unexpected argument(s) user_id" in result.observation
    assert db.touched() == set()


# --- upgrade_seat ---------------------------------------------------------------------------------


def test_upgrade_seat_charges_the_original_credit_card(db: Database) -> None:
    r = upgradable(db, "economy", "credit_card")
    card = r["payment_history"][0]["payment_id"]
    travellers, new = len(r["passengers"]), fares(db, r, "business")
    charge = sum(new) * travellers - sum(s["price"] for s in r["flights"]) * travellers
    user_before = db["users"][r["user_id"]]
    observation = run(db, "upgrade_seat", reservation_id=r["reservation_id"], seat_class=" Business")
    stored = db["reservations"][r["reservation_id"]]
    assert json.loads(observation) == stored
    assert stored["cabin"] == "business"
    assert [s["price"] for s in stored["flights"]] == new
    assert [list(s) for s in stored["flights"]] == [list(s) for s in r["flights"]]  # segments keep their shape
    assert stored["payment_history"] == [*r["payment_history"], {"payment_id": card, "amount": charge}]
    assert db["users"][r["user_id"]] is user_before  # a credit card has no balance to change
    assert db.touched() == {("reservations", r["reservation_id"])}


def test_upgrade_seat_debits_a_gift_card_and_accepts_basic_economy_words(db: Database) -> None:
    r = reservation(
        db,
        lambda r, paid: (
            r["cabin"] == "basic_economy" and paid.get("source") == "gift_card" and on_sale(db, r, "economy")
        ),
    )
    card = r["payment_history"][0]["payment_id"]
    travellers = len(r["passengers"])
    charge = sum(fares(db, r, "economy")) * travellers - sum(s["price"] for s in r["flights"]) * travellers
    db["users"].edit(r["user_id"])["payment_methods"][card]["amount"] = max(charge, 0) + 7
    run(db, "upgrade_seat", reservation_id=r["reservation_id"], seat_class="Economy")
    stored = db["reservations"][r["reservation_id"]]
    assert stored["cabin"] == "economy"
    assert db["users"][r["user_id"]]["payment_methods"][card]["amount"] == max(charge, 0) + 7 - charge
    assert stored["payment_history"][-1] == {"payment_id": card, "amount": charge}


def test_upgrade_seat_skips_a_certificate_to_the_next_card(db: Database) -> None:
    """Certificates are used up when booking: the first credit or gift card of the payments pays."""
    r = upgradable(db, "economy", "credit_card")
    card = r["payment_history"][0]["payment_id"]
    history = db["reservations"].edit(r["reservation_id"])["payment_history"]
    history.insert(0, {"payment_id": "certificate_0000001", "amount": 100})
    run(db, "upgrade_seat", reservation_id=r["reservation_id"], seat_class="business")
    assert db["reservations"][r["reservation_id"]]["payment_history"][-1]["payment_id"] == card


def test_upgrade_seat_errors(db: Database) -> None:
    economy = upgradable(db, "economy", "credit_card")
    rid = economy["reservation_id"]
    refused(db, "Error: reservation not found", "upgrade_seat", reservation_id="ZZZZZZ", seat_class="business")
    refused(
        db,
        "Error: unknown seat class 'first'; the cabins are basic_economy, economy and business",
        "upgrade_seat",
        reservation_id=rid,
        seat_class="first",
    )
    refused(db, "Error: reservation is already in economy", "upgrade_seat", reservation_id=rid, seat_class="economy")
    refused(
        db,
        "Error: basic_economy is lower than economy, so it is not an upgrade",
        "upgrade_seat",
        reservation_id=rid,
        seat_class="basic economy",
    )
    flown = reservation(db, lambda r, paid: r["cabin"] != "business" and r["flights"][0]["date"] < TODAY)
    first = flown["flights"][0]
    refused(
        db,
        f"Error: flight {first['flight_number']} not available on date {first['date']}",
        "upgrade_seat",
        reservation_id=flown["reservation_id"],
        seat_class="business",
    )
    missing = TOOLS.invoke(db, Action("upgrade_seat", {"reservation_id": rid, "new_class_of_service": "First"}))
    assert missing.error == "bad_arguments" and db.touched() == set()


def test_upgrade_seat_refusals_that_need_a_changed_record(db: Database) -> None:
    r = upgradable(db, "economy", "credit_card")
    rid, segment = r["reservation_id"], r["flights"][0]
    db["flights"].edit(segment["flight_number"])["dates"][segment["date"]]["available_seats"]["business"] = 0
    refused(
        db,
        f"Error: not enough seats on flight {segment['flight_number']}",
        "upgrade_seat",
        reservation_id=rid,
        seat_class="business",
    )

    gifted = upgradable(db, "economy", "gift_card")
    card = gifted["payment_history"][0]["payment_id"]
    db["users"].edit(gifted["user_id"])["payment_methods"][card]["amount"] = 0
    refused(
        db,
        "Error: gift card balance is not enough",
        "upgrade_seat",
        reservation_id=gifted["reservation_id"],
        seat_class="business",
    )
    db["users"].edit(gifted["user_id"])["payment_methods"].pop(card)
    refused(
        db,
        "Error: no credit card or gift card that paid for this reservation is on file",
        "upgrade_seat",
        reservation_id=gifted["reservation_id"],
        seat_class="business",
    )

    other = upgradable(db, "basic_economy", "credit_card")
    assert run(db, "cancel_reservation", reservation_id=other["reservation_id"]).startswith("{")
    refused(
        db,
        "Error: reservation is cancelled",
        "upgrade_seat",
        reservation_id=other["reservation_id"],
        seat_class="business",
    )


def test_tasks_needing_a_seed_tool_ask_for_the_extended_tool_set():
    """The others see τ-bench's 14 tools."""
    import taurl.domains.airline as airline

    domain = airline.DOMAIN
    tasks = domain.tasks("train") + domain.tasks("test")
    for task in tasks:
        assert task.tool_set in ("default", "extended"), task.id
        assert {a.name for a in task.actions} <= set(domain.tools_for(task.tool_set).names), task.id
    assert {a.name for t in tasks for a in t.actions} >= set(airline.SEED_EXTRA_TOOLS)
    assert sum(t.tool_set == "extended" for t in tasks) >= 0.1 * len(tasks)
