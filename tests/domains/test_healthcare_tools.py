"""The healthcare tools on the generated database: every success path and every refusal.

Records are found in ``generate_database(0)`` by what they are (an appointment within 24 hours, a
doctor closed to new patients...), not by id, so the tests follow the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest

import taurl.domains.healthcare as mod
from taurl.core.db import Database
from taurl.core.types import Action, ToolKind
from taurl.domains.healthcare.tools import LATE_CANCELLATION_FEE, NOW, SEED_TOOLS, free_slots, start_of, working_hours
from tests.domains.conftest import ToolCalls, assert_seed_schemas_match, assert_tools_and_kinds

DOMAIN = mod.DOMAIN
TOOLS = DOMAIN.tools
Record = dict[str, Any]

KINDS = {
    ToolKind.THINK: {"think"},
    ToolKind.TERMINATE: {"transfer_to_human_agents"},
    ToolKind.WRITE: {
        "book_appointment",
        "cancel_appointment",
        "reschedule_appointment",
        "update_patient_contact",
        "request_prescription_refill",
    },
}


_calls = ToolCalls(TOOLS)
call, ok, unchanged = _calls.call, _calls.ok, _calls.refused_with


def find(db: Database, table: str, where: Callable[[Record], bool]) -> Record:
    records = db[table]
    return next(records[key] for key in records if where(records[key]))


def upcoming(db: Database, patient_id: str) -> list[Record]:
    return [
        a for a in ok(db, "get_patient_appointments", patient_id=patient_id, status="scheduled") if start_of(a) > NOW
    ]


def scheduled(db: Database, soon: bool) -> Record:
    """An upcoming appointment less than (``soon``) or at least 24 hours away."""
    return find(
        db,
        "appointments",
        lambda a: a["status"] == "scheduled" and ((start_of(a) - NOW) < timedelta(hours=24)) is soon,
    )


def open_slot(db: Database, doctor_id: str, patient_id: str | None = None) -> tuple[str, str]:
    """A future day the doctor works and a free slot on it (free for the patient too, when given)."""
    day = date(2025, 6, 18)
    for _ in range(60):
        busy = {
            (a["date"], a["time"])
            for a in db["appointments"].values()
            if a["patient_id"] == patient_id and a["status"] != "cancelled"
        }
        free = [slot for slot in free_slots(db, doctor_id, day) if (str(day), slot) not in busy]
        if free:
            return str(day), free[0]
        day += timedelta(days=1)
    raise LookupError(doctor_id)


def bookable(db: Database) -> tuple[str, str]:
    """A patient with room for another appointment and a doctor open to new patients."""
    doctor_id = find(db, "doctors", lambda d: d["accepts_new_patients"])["doctor_id"]
    patient_id = next(p for p in db["patients"] if len(upcoming(db, p)) < 3)
    return patient_id, doctor_id


# --- registry and schemas --------------------------------------------------------------------


def test_tools_and_kinds() -> None:
    assert DOMAIN.name == "healthcare"
    assert_tools_and_kinds(DOMAIN, SEED_TOOLS, KINDS)


@pytest.mark.shared_data
def test_seed_tool_schemas_match_the_seed_system() -> None:
    assert_seed_schemas_match(DOMAIN, SEED_TOOLS)


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (Action("get_patient_info", {}), "missing required argument(s) patient_id"),
        (Action("get_patient_info", {"patient_id": 1}), "patient_id must be string"),
        (Action("get_patient_info", {"patient_id": "P001", "authorization": "yes"}), "unexpected argument(s)"),
        (Action("book_appointment", {"patient_id": "P001", "doctor_id": "D001", "date": "2025-07-01"}), "missing"),
        (Action("search_patients", {"name": ["Ann"]}), "name must be string"),
        (Action("prescribe", {}), "unknown tool 'prescribe'"),
    ],
)
def test_invalid_calls_are_errors_that_change_nothing(db: Database, action: Action, problem: str) -> None:
    observation = TOOLS.invoke(db, action).observation
    assert observation.startswith("Error: ") and problem in observation
    assert db.touched() == set()


def test_rules_are_enforced_by_real_tools() -> None:
    rules = DOMAIN.policy_rules()
    assert 8 <= len(rules) <= 15
    for rule, tools in DOMAIN.rules_enforced.items():
        assert rule in rules
        assert all(name.strip() in TOOLS for name in tools.split(","))


# --- read tools ------------------------------------------------------------------------------


def test_patient_lookups(db: Database) -> None:
    patient = ok(db, "get_patient_info", patient_id="P001")
    assert patient["patient_id"] == "P001"
    assert ok(db, "search_patients", name=patient["name"].upper()) == [patient]
    assert patient in ok(db, "search_patients", phone=patient["phone"][-4:])
    assert ok(db, "search_patients", name="Nobody Atall") == []
    unchanged(db, "search_patients", "give a name or a phone number")
    unchanged(db, "search_patients", "give a name or a phone number", phone="55")
    unchanged(db, "get_patient_info", "patient P999 not found", patient_id="P999")
    assert call(db, "think", thought="check the record") == ""
    assert call(db, "transfer_to_human_agents", summary="insurance change") == "Transfer successful"
    assert db.touched() == set()


def test_find_doctors(db: Database) -> None:
    everyone = ok(db, "find_doctors")
    assert len(everyone) == len(db["doctors"])
    doctor = db["doctors"]["D004"]
    by_name = ok(db, "find_doctors", name=doctor["name"])
    assert [d["doctor_id"] for d in by_name] == ["D004"]
    assert ok(db, "find_doctors", name=doctor["name"].removeprefix("Dr. ").lower()) == by_name
    cardiology = ok(db, "find_doctors", specialty="cardiology")
    assert cardiology and all(d["specialty"] == "Cardiology" for d in cardiology)
    assert set(by_name[0]) == {
        "doctor_id",
        "name",
        "specialty",
        "department",
        "office_location",
        "languages",
        "accepts_new_patients",
    }


def test_patient_appointments_in_date_order(db: Database) -> None:
    patient_id = find(db, "patients", lambda p: len(p["appointment_history"]) > 2)["patient_id"]
    listed = ok(db, "get_patient_appointments", patient_id=patient_id)
    assert [a["appointment_id"] for a in listed] == sorted(db["patients"][patient_id]["appointment_history"])
    assert [(a["date"], a["time"]) for a in listed] == sorted((a["date"], a["time"]) for a in listed)
    assert all(a["doctor_name"] == db["doctors"][a["doctor_id"]]["name"] for a in listed)
    completed = ok(db, "get_patient_appointments", patient_id=patient_id, status="completed")
    assert completed and all(a["status"] == "completed" for a in completed)
    unchanged(db, "get_patient_appointments", "patient P999 not found", patient_id="P999")


def test_appointment_details(db: Database) -> None:
    appointment = db["appointments"]["A0001"]
    details = ok(db, "get_appointment_details", appointment_id="A0001")
    assert details["appointment"] == appointment
    assert details["doctor"]["name"] == db["doctors"][appointment["doctor_id"]]["name"]
    assert details["patient"] == {"name": db["patients"][appointment["patient_id"]]["name"]}
    db["appointments"].edit("A0001")["doctor_id"] = "D999"
    assert ok(db, "get_appointment_details", appointment_id="A0001")["doctor"] == {
        "name": "Unknown",
        "specialty": "Unknown",
    }
    unchanged(db, "get_appointment_details", "appointment A9999 not found", appointment_id="A9999")


def test_doctor_availability(db: Database) -> None:
    appointment = scheduled(db, soon=False)
    doctor_id, day = appointment["doctor_id"], appointment["date"]
    general = ok(db, "get_doctor_availability", doctor_id=doctor_id)
    assert general["general_schedule"] == db["doctors"][doctor_id]["schedule"] and general["upcoming_appointments"] > 0
    on_day = ok(db, "get_doctor_availability", doctor_id=doctor_id, date=day)
    assert appointment["time"] in on_day["booked_times"] and appointment["time"] not in on_day["available_slots"]
    assert on_day["available_slots"] == free_slots(db, doctor_id, date.fromisoformat(day))
    today = ok(db, "get_doctor_availability", doctor_id=doctor_id, date=f"{NOW:%Y-%m-%d}")
    assert all(slot > f"{NOW:%H:%M}" for slot in today["available_slots"])
    off = next(
        d
        for d in (date(2025, 6, 16) + timedelta(days=n) for n in range(7))
        if working_hours(db["doctors"][doctor_id], d) is None
    )
    closed = ok(db, "get_doctor_availability", doctor_id=doctor_id, date=str(off))
    assert closed["working_hours"] is None and closed["available_slots"] == []
    unchanged(db, "get_doctor_availability", "date must be a date", doctor_id=doctor_id, date="next week")
    unchanged(db, "get_doctor_availability", "doctor D999 not found", doctor_id="D999")


# --- booking ---------------------------------------------------------------------------------


def test_book_appointment(db: Database) -> None:
    patient_id, doctor_id = bookable(db)
    day, time = open_slot(db, doctor_id, patient_id)
    booked = ok(
        db, "book_appointment", patient_id=patient_id, doctor_id=doctor_id, date=day, time=time, reason="Follow-up"
    )
    number = max(int(key[1:]) for key in db["appointments"] if key != booked["appointment_id"]) + 1
    assert booked["appointment_id"] == booked["id"] == f"A{number:04d}"
    assert db["appointments"][booked["appointment_id"]] == booked
    assert (booked["status"], booked["reason"], booked["appointment_type"]) == ("scheduled", "follow-up", "Follow-up")
    assert (booked["duration_minutes"], booked["office_location"]) == (30, db["doctors"][doctor_id]["office_location"])
    assert db["patients"][patient_id]["appointment_history"][-1] == booked["appointment_id"]
    assert time not in ok(db, "get_doctor_availability", doctor_id=doctor_id, date=day)["available_slots"]


def test_booking_refusals(db: Database) -> None:
    patient_id, doctor_id = bookable(db)
    day, time = open_slot(db, doctor_id, patient_id)
    doctor = db["doctors"][doctor_id]

    def refused(expected: str, **changes: Any) -> None:
        visit = {"patient_id": patient_id, "doctor_id": doctor_id, "date": day, "time": time, "reason": "follow-up"}
        unchanged(db, "book_appointment", expected, **{**visit, **changes})

    refused("patient P999 not found", patient_id="P999")
    refused("doctor D999 not found", doctor_id="D999")
    refused("invalid reason 'headache'", reason="headache")
    refused("the date must be a date", date="07/01/2025")
    refused("the time must be written HH:MM", time="10am")
    refused("the time must be written HH:MM", time="25:00")
    refused("2025-06-16 08:30 is not in the future", date="2025-06-16", time="08:30")
    off = next(d for d in (date(2025, 7, 7) + timedelta(days=n) for n in range(7)) if working_hours(doctor, d) is None)
    refused(f"{doctor['name']} does not work on", date=str(off))
    start, end = working_hours(doctor, date.fromisoformat(day))
    refused(f"{time[:3]}15 is not a slot", time=f"{time[:3]}15")
    refused("06:00 is not a slot", time="06:00")
    refused(f"{end:%H:%M} is not a slot", time=f"{end:%H:%M}")
    taken = scheduled(db, soon=False)
    refused(
        f"{db['doctors'][taken['doctor_id']]['name']} is already booked",
        doctor_id=taken["doctor_id"],
        date=taken["date"],
        time=taken["time"],
        patient_id=patient_id,
    )
    mine = scheduled(db, soon=False)
    other_doctor = next(
        d
        for d in db["doctors"]
        if d != mine["doctor_id"] and working_hours(db["doctors"][d], date.fromisoformat(mine["date"]))
    )
    db["doctors"].edit(other_doctor)["accepts_new_patients"] = True
    unchanged(
        db,
        "book_appointment",
        f"patient {mine['patient_id']} already has an appointment at",
        patient_id=mine["patient_id"],
        doctor_id=other_doctor,
        date=mine["date"],
        time=mine["time"],
        reason="follow-up",
    )


def test_closed_doctor_sees_only_known_patients(db: Database) -> None:
    doctor_id = find(db, "doctors", lambda d: not d["accepts_new_patients"])["doctor_id"]
    appointments = db["appointments"].values()
    known = {a["patient_id"] for a in appointments if a["doctor_id"] == doctor_id and a["status"] == "completed"}
    stranger = next(
        p
        for p, r in db["patients"].items()
        if p not in known and r["primary_care_doctor"] != doctor_id and len(upcoming(db, p)) < 3
    )
    day, time = open_slot(db, doctor_id, stranger)
    unchanged(
        db,
        "book_appointment",
        f"{db['doctors'][doctor_id]['name']} is not accepting new patients",
        patient_id=stranger,
        doctor_id=doctor_id,
        date=day,
        time=time,
        reason="new symptoms",
    )
    db["patients"].edit(stranger)["primary_care_doctor"] = doctor_id
    ok(db, "book_appointment", patient_id=stranger, doctor_id=doctor_id, date=day, time=time, reason="new symptoms")


def test_at_most_three_upcoming_appointments(db: Database) -> None:
    busy = next(p for p in db["patients"] if len(upcoming(db, p)) == 3)
    doctor_id = find(db, "doctors", lambda d: d["accepts_new_patients"])["doctor_id"]
    day, time = open_slot(db, doctor_id)
    unchanged(
        db,
        "book_appointment",
        f"patient {busy} already has 3 upcoming appointments",
        patient_id=busy,
        doctor_id=doctor_id,
        date=day,
        time=time,
        reason="follow-up",
    )


# --- cancelling and rescheduling -------------------------------------------------------------


@pytest.mark.parametrize(("soon", "fee"), [(False, 0.0), (True, LATE_CANCELLATION_FEE)])
def test_cancel_charges_the_late_fee_within_24_hours(db: Database, soon: bool, fee: float) -> None:
    appointment_id = scheduled(db, soon)["appointment_id"]
    result = ok(db, "cancel_appointment", appointment_id=appointment_id, reason="feeling better")
    cancelled = db["appointments"][appointment_id]
    assert result == {"appointment": cancelled, "cancellation_fee": fee, "cancellation_reason": "feeling better"}
    assert (cancelled["status"], cancelled["cancellation_fee"], cancelled["cancelled_at"]) == (
        "cancelled",
        fee,
        f"{NOW:%Y-%m-%d %H:%M}",
    )
    unchanged(
        db, "cancel_appointment", f"appointment {appointment_id} is already cancelled", appointment_id=appointment_id
    )


def test_cancel_refusals(db: Database) -> None:
    done = find(db, "appointments", lambda a: a["status"] == "completed")["appointment_id"]
    unchanged(db, "cancel_appointment", f"appointment {done} is completed", appointment_id=done)
    unchanged(db, "cancel_appointment", "appointment A9999 not found", appointment_id="A9999")
    stale = scheduled(db, soon=False)["appointment_id"]
    db["appointments"].edit(stale)["date"] = "2024-11-01"
    unchanged(db, "cancel_appointment", f"appointment {stale} (2024-11-01", appointment_id=stale)


def test_reschedule(db: Database) -> None:
    appointment = scheduled(db, soon=False)
    appointment_id, doctor_id = appointment["appointment_id"], appointment["doctor_id"]
    day, time = open_slot(db, doctor_id, appointment["patient_id"])
    moved = ok(db, "reschedule_appointment", appointment_id=appointment_id, new_date=day, new_time=time)
    assert (moved["date"], moved["time"], moved["doctor_id"]) == (day, time, doctor_id)
    assert moved["rescheduled_from"] == {"date": appointment["date"], "time": appointment["time"]}
    assert moved == db["appointments"][appointment_id]


def test_reschedule_refusals(db: Database) -> None:
    soon = scheduled(db, soon=True)["appointment_id"]
    unchanged(
        db,
        "reschedule_appointment",
        f"appointment {soon} is less than 24 hours away",
        appointment_id=soon,
        new_date="2025-07-01",
        new_time="10:00",
    )
    done = find(db, "appointments", lambda a: a["status"] == "completed")["appointment_id"]
    unchanged(
        db,
        "reschedule_appointment",
        f"appointment {done} is completed",
        appointment_id=done,
        new_date="2025-07-01",
        new_time="10:00",
    )
    later = scheduled(db, soon=False)
    unchanged(
        db,
        "reschedule_appointment",
        "2025-06-15 10:00 is not in the future",
        appointment_id=later["appointment_id"],
        new_date="2025-06-15",
        new_time="10:00",
    )
    other = find(
        db,
        "appointments",
        lambda a: (
            a["doctor_id"] == later["doctor_id"]
            and a["status"] == "scheduled"
            and a["appointment_id"] != later["appointment_id"]
            and start_of(a) > NOW
        ),
    )
    unchanged(
        db,
        "reschedule_appointment",
        f"{db['doctors'][later['doctor_id']]['name']} is already booked",
        appointment_id=later["appointment_id"],
        new_date=other["date"],
        new_time=other["time"],
    )
    unchanged(
        db,
        "reschedule_appointment",
        "appointment A9999 not found",
        appointment_id="A9999",
        new_date="2025-07-01",
        new_time="10:00",
    )


# --- contact details and refills -------------------------------------------------------------


def test_update_patient_contact(db: Database) -> None:
    changes = {"phone": "+1-555-0199", "email": "new.address@example.com", "address": "1 Elm St, Salem, OR 97301"}
    updated = ok(db, "update_patient_contact", patient_id="P002", **changes)
    assert {key: updated[key] for key in changes} == changes and updated == db["patients"]["P002"]
    assert (
        ok(db, "update_patient_contact", patient_id="P003", email="x@y.org")["phone"] == db["patients"]["P003"]["phone"]
    )
    unchanged(db, "update_patient_contact", "give a new phone number", patient_id="P002")
    unchanged(db, "update_patient_contact", "'call me' is not a phone number", patient_id="P002", phone="call me")
    unchanged(db, "update_patient_contact", "'nobody' is not an email address", patient_id="P002", email="nobody")
    unchanged(db, "update_patient_contact", "patient P999 not found", patient_id="P999", phone="+1-555-0199")


def refill_candidate(db: Database, recent: bool) -> tuple[str, str]:
    """A patient with a medication who did (or did not) have a completed visit in the last year."""
    since = f"{NOW - timedelta(days=365):%Y-%m-%d}"
    for patient_id, patient in db["patients"].items():
        medications = patient["medical_history"]["medications"]
        visits = [
            a
            for a in db["appointments"].values()
            if a["patient_id"] == patient_id and a["status"] == "completed" and a["date"] >= since
        ]
        if medications and bool(visits) is recent:
            return patient_id, medications[0]["name"]
    raise LookupError(recent)


def test_prescription_refill(db: Database) -> None:
    patient_id, medication = refill_candidate(db, recent=True)
    request = ok(db, "request_prescription_refill", patient_id=patient_id, medication=medication.upper())
    patient = db["patients"][patient_id]
    entry = next(m for m in patient["medical_history"]["medications"] if m["name"] == medication)
    assert request == {
        "request_id": f"RF-{patient_id}-1",
        "medication": medication,
        "dosage": entry["dosage"],
        "requested_on": f"{NOW:%Y-%m-%d}",
        "doctor_id": patient["primary_care_doctor"],
        "status": "pending_review",
    }
    assert patient["refill_requests"] == [request]
    unchanged(
        db,
        "request_prescription_refill",
        f"a refill of {medication} is already pending review",
        patient_id=patient_id,
        medication=medication,
    )


def test_refill_refusals(db: Database) -> None:
    lapsed, medication = refill_candidate(db, recent=False)
    unchanged(
        db,
        "request_prescription_refill",
        f"patient {lapsed} has had no completed visit in the last 365 days",
        patient_id=lapsed,
        medication=medication,
    )
    patient_id, medication = refill_candidate(db, recent=True)
    unchanged(
        db,
        "request_prescription_refill",
        f"Warfarin is not on the medication list of patient {patient_id}",
        patient_id=patient_id,
        medication="Warfarin",
    )
    unchanged(
        db,
        "request_prescription_refill",
        f"{medication} 999mg is not on the medication list",
        patient_id=patient_id,
        medication=medication,
        dosage="999mg",
    )
    medications = db["patients"].edit(patient_id)["medical_history"]["medications"]
    medications.append({**medications[0], "dosage": "999mg"})
    unchanged(
        db,
        "request_prescription_refill",
        f"{medications[0]['name']} is listed in several dosages",
        patient_id=patient_id,
        medication=medications[0]["name"],
    )
    ok(db, "request_prescription_refill", patient_id=patient_id, medication=medications[0]["name"], dosage="999mg")
    unchanged(db, "request_prescription_refill", "patient P999 not found", patient_id="P999", medication="Aspirin")
