"""The healthcare domain's tools: a clinic's patient desk (appointments, contact details, refills).

The seven tools of the seed system (CTU's τ-bench fork) keep its names, parameters and JSON types,
so its tool calls run unchanged, and its read tools return the same shapes. Unlike the seed's,
booking and cancelling really change the database and enforce the policy (policy.md): slots follow
the doctor's hours, nobody is double-booked, late cancellations cost a fee. The tools the seed
lacks (doctor search, a patient's appointments, rescheduling, contact updates, refill requests)
make the desk usable. Every check runs before the first edit, so a refused call changes nothing.
Times compare with the fixed :data:`NOW`, never the wall clock.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from functools import lru_cache

from taurl.core.db import Database, Record
from taurl.core.tools import Refusal, ToolRegistry
from taurl.domains import common
from taurl.domains.healthcare.appointments import matching

TOOLS = ToolRegistry("healthcare")

NOW = datetime(2025, 6, 16, 9, 0)  # Monday 2025-06-16 09:00, the clinic's fixed current time (policy)
SLOT = timedelta(minutes=30)
LATE_NOTICE = timedelta(hours=24)
LATE_CANCELLATION_FEE = 50.0
REFILL_VISIT_WINDOW = timedelta(days=365)
MAX_UPCOMING = 3
# reason for a visit -> the appointment type it books
VISIT_REASONS = {
    "routine check-up": "Routine Check-up",
    "follow-up": "Follow-up",
    "new symptoms": "Consultation",
    "test results": "Follow-up",
    "prescription review": "Follow-up",
    "vaccination": "Routine Visit",
}
PRIMARY_CARE = ("Family Medicine", "Internal Medicine", "Pediatrics")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# --- lookups ---------------------------------------------------------------------------------


_patient = common.record_lookup("patients", "patient")
_doctor = common.record_lookup("doctors", "doctor")
_appointment = common.record_lookup("appointments", "appointment")


def _appointments(db: Database, field: str, value: object, where: Callable[[Record], bool]) -> Iterator[Record]:
    """The appointments whose ``field`` (doctor_id or patient_id) is ``value`` that ``where`` accepts, in table order."""
    return (a for a in matching(db, field, value) if where(a))


@lru_cache(maxsize=8192)
def _minute(text: str) -> datetime | None:
    """'YYYY-MM-DD HH:MM' read once per distinct text (every availability check reads every appointment)."""
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        return None


def start_of(appointment: Record) -> datetime | None:
    """When an appointment starts, or None when its date or time cannot be read."""
    return _minute(f"{appointment.get('date')} {appointment.get('time')}")


def _span(appointment: Record) -> tuple[datetime, datetime] | None:
    """The time a not-cancelled appointment occupies."""
    start = start_of(appointment)
    if start is None or appointment.get("status") == "cancelled":
        return None
    minutes = appointment.get("duration_minutes")
    return start, start + timedelta(minutes=minutes if isinstance(minutes, int) else 30)


def _overlaps(appointment: Record, start: datetime, end: datetime) -> bool:
    span = _span(appointment)
    return span is not None and span[0] < end and start < span[1]


def _upcoming(db: Database, patient_id: str) -> list[Record]:
    """The patient's scheduled appointments that have not started yet."""
    return [
        a
        for a in _appointments(db, "patient_id", patient_id, lambda a: a.get("status") == "scheduled")
        if (start_of(a) or NOW) > NOW
    ]


def working_hours(doctor: Record, day: date) -> tuple[datetime, datetime] | None:
    """The doctor's working hours on ``day``, or None when they do not work that day."""
    hours = doctor.get("schedule", {}).get(WEEKDAYS[day.weekday()], {})
    if not hours.get("available"):
        return None
    try:
        start, end = (_minute(f"{day} {hours[key]}") for key in ("start", "end"))
    except KeyError:
        return None
    return None if start is None or end is None else (start, end)


def free_slots(db: Database, doctor_id: str, day: date, ignore: str | None = None) -> list[str]:
    """Start times ('HH:MM') of the doctor's free 30-minute slots on ``day`` that are still ahead of now."""
    hours = working_hours(db["doctors"][doctor_id], day)
    if hours is None:
        return []
    taken = _appointments(db, "doctor_id", doctor_id, lambda a: a.get("appointment_id") != ignore)
    spans = [span for a in taken if (span := _span(a)) is not None]  # parsed once, not once per slot
    slots, start = [], hours[0]
    while start + SLOT <= hours[1]:
        if start > NOW and not any(busy < start + SLOT and start < free for busy, free in spans):
            slots.append(start.strftime("%H:%M"))
        start += SLOT
    return slots


def _parse_day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise Refusal(f"{what} must be a date written YYYY-MM-DD, got {text!r}") from None


def _check_slot(
    db: Database, doctor: Record, patient_id: str, day_text: str, time_text: str, minutes: int, ignore: str | None
) -> None:
    """The visit fits the doctor's hours on a half-hour boundary, lies ahead, and overlaps nobody's appointment."""
    day = _parse_day(day_text, "the date")
    if not re.fullmatch(r"\d{2}:\d{2}", time_text):
        raise Refusal(f"the time must be written HH:MM, got {time_text!r}")
    try:
        start = datetime.strptime(f"{day} {time_text}", "%Y-%m-%d %H:%M")
    except ValueError:
        raise Refusal(f"the time must be written HH:MM, got {time_text!r}") from None
    end = start + timedelta(minutes=minutes)
    if start <= NOW:
        raise Refusal(f"{day} {time_text} is not in the future (it is now {NOW:%Y-%m-%d %H:%M})")
    hours = working_hours(doctor, day)
    name = doctor.get("name")
    if hours is None:
        raise Refusal(f"{name} does not work on {WEEKDAYS[day.weekday()].capitalize()}s")
    if start.minute % 30 or start < hours[0] or end > hours[1]:
        raise Refusal(
            f"{time_text} is not a slot of {name} on {day}: slots start on the hour or half hour "
            f"from {hours[0]:%H:%M} and end by {hours[1]:%H:%M}"
        )

    def clash(a: Record) -> bool:
        return a.get("appointment_id") != ignore and _overlaps(a, start, end)

    if any(_appointments(db, "doctor_id", doctor.get("doctor_id"), clash)):
        raise Refusal(f"{name} is already booked at {day} {time_text}")
    if any(_appointments(db, "patient_id", patient_id, clash)):
        raise Refusal(f"patient {patient_id} already has an appointment at {day} {time_text}")


def _require_may_see(db: Database, patient: Record, doctor: Record) -> None:
    """A doctor closed to new patients sees only their own primary-care patients and patients seen before."""
    if doctor.get("accepts_new_patients", True) or patient.get("primary_care_doctor") == doctor.get("doctor_id"):
        return
    seen = _appointments(
        db,
        "patient_id",
        patient.get("patient_id"),
        lambda a: a.get("doctor_id") == doctor.get("doctor_id") and a.get("status") == "completed",
    )
    if not any(seen):
        raise Refusal(f"{doctor.get('name')} is not accepting new patients")


def _visit_reason(reason: str) -> str:
    canonical = reason.strip().lower()
    if canonical not in VISIT_REASONS:
        raise Refusal(f"invalid reason {reason!r}; valid reasons: {', '.join(VISIT_REASONS)}")
    return canonical


# --- tools (the seed's first, in its order, then the service tools) --------------------------


@TOOLS.write
def book_appointment(db: Database, patient_id: str, doctor_id: str, date: str, time: str, reason: str) -> str:
    """Book a 30-minute appointment for a patient with a doctor, in a free slot of the doctor's hours.

    Check the slot with get_doctor_availability first. Doctors who do not accept new patients see
    only patients they have seen before or whose primary care doctor they are; a patient may hold
    at most 3 upcoming appointments. Confirm the details and get an explicit yes first. Returns
    the new appointment.

    Args:
        patient_id: The patient's id, e.g. 'P001'.
        doctor_id: The doctor's id, e.g. 'D001' (see find_doctors).
        date: The day, written YYYY-MM-DD.
        time: The start time, 'HH:MM' on the hour or half hour, e.g. '14:30'.
        reason: The reason for the visit: 'routine check-up', 'follow-up', 'new symptoms', 'test results',
            'prescription review' or 'vaccination'.
    """
    patient = _patient(db, patient_id)
    doctor = _doctor(db, doctor_id)
    canonical = _visit_reason(reason)
    _check_slot(db, doctor, patient_id, date, time, 30, None)
    _require_may_see(db, patient, doctor)
    if len(_upcoming(db, patient_id)) >= MAX_UPCOMING:
        raise Refusal(f"patient {patient_id} already has {MAX_UPCOMING} upcoming appointments")
    fields = {
        "patient_id": patient_id,
        "doctor_id": doctor_id,
        "appointment_type": VISIT_REASONS[canonical],
        "date": date,
        "time": time,
        "duration_minutes": 30,
        "status": "scheduled",
        "department": doctor.get("department"),
        "office_location": doctor.get("office_location"),
        "reason": canonical,
        "notes": "",
        "diagnosis": "",
        "treatment_plan": "",
    }
    appointment = common.insert_numbered(db, "appointments", "A", "appointment_id", fields)
    db["patients"].edit(patient_id).setdefault("appointment_history", []).append(appointment["id"])
    return json.dumps(appointment)


@TOOLS.write
def cancel_appointment(db: Database, appointment_id: str, reason: str | None = None) -> str:
    """Cancel a scheduled appointment that has not started yet.

    Cancelling less than 24 hours before the start costs a late-cancellation fee of 50.00, recorded
    on the appointment; tell the patient before asking for an explicit yes. Returns the cancelled
    appointment and the fee charged.

    Args:
        appointment_id: The appointment's id, e.g. 'A0001'.
        reason: Optional. Why the patient cancels, in their words (not stored).
    """
    appointment = _appointment(db, appointment_id)
    status = appointment.get("status")
    if status == "cancelled":
        raise Refusal(f"appointment {appointment_id} is already cancelled")
    if status != "scheduled":
        raise Refusal(f"appointment {appointment_id} is {status}: only scheduled appointments can be cancelled")
    start = start_of(appointment)
    if start is None or start <= NOW:
        raise Refusal(f"appointment {appointment_id} ({appointment.get('date')} {appointment.get('time')}) is past")
    fee = LATE_CANCELLATION_FEE if start - NOW < LATE_NOTICE else 0.0
    appointment = db["appointments"].edit(appointment_id)
    appointment["status"] = "cancelled"
    appointment["cancellation_fee"] = fee
    appointment["cancelled_at"] = f"{NOW:%Y-%m-%d %H:%M}"
    result = {"appointment": appointment, "cancellation_fee": fee, "cancellation_reason": reason or "Patient request"}
    return json.dumps(result)


@TOOLS.read
def get_appointment_details(db: Database, appointment_id: str) -> str:
    """Show an appointment with its doctor's name and specialty and its patient's name.

    Args:
        appointment_id: The appointment's id, e.g. 'A0001'.
    """
    appointment = _appointment(db, appointment_id)
    doctor = db["doctors"].get(appointment.get("doctor_id", ""), {})
    patient = db["patients"].get(appointment.get("patient_id", ""), {})
    result = {
        "appointment": appointment,
        "doctor": {"name": doctor.get("name", "Unknown"), "specialty": doctor.get("specialty", "Unknown")},
        "patient": {"name": patient.get("name", "Unknown")},
    }
    return json.dumps(result)


@TOOLS.read
def get_doctor_availability(db: Database, doctor_id: str, date: str | None = None) -> str:
    """Show a doctor's weekly schedule, or for one day their hours, booked times and free 30-minute slots.

    Args:
        doctor_id: The doctor's id, e.g. 'D001' (see find_doctors).
        date: Optional. The day to check, written YYYY-MM-DD.
    """
    doctor = _doctor(db, doctor_id)
    if date is None:
        upcoming = _appointments(
            db, "doctor_id", doctor_id, lambda a: a.get("status") == "scheduled" and (start_of(a) or NOW) > NOW
        )
        result = {
            "doctor_id": doctor_id,
            "doctor_name": doctor.get("name"),
            "specialty": doctor.get("specialty"),
            "accepts_new_patients": doctor.get("accepts_new_patients"),
            "general_schedule": doctor.get("schedule", {}),
            "upcoming_appointments": sum(1 for _ in upcoming),
        }
        return json.dumps(result)
    day = _parse_day(date, "date")
    hours = working_hours(doctor, day)
    booked = _appointments(db, "doctor_id", doctor_id, lambda a: a.get("date") == date)
    result = {
        "doctor_id": doctor_id,
        "doctor_name": doctor.get("name"),
        "date": date,
        "weekday": WEEKDAYS[day.weekday()],
        "working_hours": {"start": f"{hours[0]:%H:%M}", "end": f"{hours[1]:%H:%M}"} if hours else None,
        "booked_times": sorted(a.get("time") for a in booked if a.get("status") != "cancelled"),
        "available_slots": free_slots(db, doctor_id, day),
    }
    return json.dumps(result)


@TOOLS.read
def get_patient_info(db: Database, patient_id: str) -> str:
    """Show a patient's record: contact details, date of birth, insurance, medical history, primary care doctor.

    Args:
        patient_id: The patient's id, e.g. 'P001'.
    """
    return json.dumps(_patient(db, patient_id))


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@TOOLS.read
def search_patients(db: Database, name: str | None = None, phone: str | None = None) -> str:
    """Find patients whose name contains ``name`` (any case) or whose phone number contains ``phone``.

    Returns a list of patient records (possibly empty). Give at least one of the two.

    Args:
        name: Optional. The patient's name or part of it, e.g. 'Sarah Williams'.
        phone: Optional. The patient's phone number or at least its last 4 digits, e.g. '+1-555-0101'.
    """
    wanted_name = " ".join((name or "").lower().split())
    wanted_phone = _digits(phone or "")
    if not wanted_name and len(wanted_phone) < 4:
        raise Refusal("give a name or a phone number (at least 4 digits) to search for")
    patients = db["patients"]
    found = []
    for key in patients:
        patient = patients[key]
        if (wanted_name and wanted_name in " ".join(str(patient.get("name", "")).lower().split())) or (
            len(wanted_phone) >= 4 and wanted_phone in _digits(str(patient.get("phone", "")))
        ):
            found.append(patient)
    return json.dumps(found)


TOOLS.think(common.think)


@TOOLS.read
def find_doctors(db: Database, specialty: str | None = None, name: str | None = None) -> str:
    """List the clinic's doctors, optionally only those of a specialty or whose name contains ``name``.

    Each entry gives the doctor's id, name, specialty, department, office, languages and whether
    they accept new patients.

    Args:
        specialty: Optional. A specialty, e.g. 'Cardiology' (any case).
        name: Optional. The doctor's name or part of it, without the title, e.g. 'Lisa Williams'.
    """
    wanted_name = " ".join((name or "").lower().removeprefix("dr.").removeprefix("dr ").split())
    doctors = db["doctors"]
    found = []
    for key in doctors:
        doctor = doctors[key]
        if specialty and str(doctor.get("specialty", "")).lower() != specialty.strip().lower():
            continue
        if wanted_name and wanted_name not in str(doctor.get("name", "")).lower():
            continue
        found.append(
            {
                field: doctor.get(field)
                for field in (
                    "doctor_id",
                    "name",
                    "specialty",
                    "department",
                    "office_location",
                    "languages",
                    "accepts_new_patients",
                )
            }
        )
    return json.dumps(found)


@TOOLS.read
def get_patient_appointments(db: Database, patient_id: str, status: str | None = None) -> str:
    """List a patient's appointments in date order, each with the doctor's name.

    Args:
        patient_id: The patient's id, e.g. 'P001'.
        status: Optional. Only appointments with this status: 'scheduled', 'completed', 'cancelled' or 'no-show'.
    """
    _patient(db, patient_id)
    doctors = db["doctors"]
    mine = _appointments(db, "patient_id", patient_id, lambda a: status is None or a.get("status") == status)
    listed = [
        {**a, "doctor_name": doctors.get(a.get("doctor_id", ""), {}).get("name", "Unknown")}
        for a in sorted(mine, key=lambda a: (str(a.get("date")), str(a.get("time"))))
    ]
    return json.dumps(listed)


@TOOLS.write
def reschedule_appointment(db: Database, appointment_id: str, new_date: str, new_time: str) -> str:
    """Move a scheduled appointment to another free slot of the same doctor.

    Only when the appointment is at least 24 hours away; closer to it the patient may only cancel
    (with the late fee). Check the new slot with get_doctor_availability and get an explicit yes
    first. Returns the moved appointment.

    Args:
        appointment_id: The appointment's id, e.g. 'A0001'.
        new_date: The new day, written YYYY-MM-DD.
        new_time: The new start time, 'HH:MM' on the hour or half hour.
    """
    appointment = _appointment(db, appointment_id)
    if appointment.get("status") != "scheduled":
        raise Refusal(f"appointment {appointment_id} is {appointment.get('status')}: only scheduled ones can move")
    start = start_of(appointment)
    if start is None or start - NOW < LATE_NOTICE:
        raise Refusal(
            f"appointment {appointment_id} is less than 24 hours away (or past): it can only be cancelled, not moved"
        )
    doctor = _doctor(db, appointment.get("doctor_id", ""))
    minutes = appointment.get("duration_minutes")
    minutes = minutes if isinstance(minutes, int) else 30
    _check_slot(db, doctor, appointment.get("patient_id", ""), new_date, new_time, minutes, appointment_id)
    appointment = db["appointments"].edit(appointment_id)
    appointment["rescheduled_from"] = {"date": appointment.get("date"), "time": appointment.get("time")}
    appointment["date"] = new_date
    appointment["time"] = new_time
    return json.dumps(appointment)


@TOOLS.write
def update_patient_contact(
    db: Database, patient_id: str, phone: str | None = None, email: str | None = None, address: str | None = None
) -> str:
    """Change a patient's phone number, email address or postal address (give at least one).

    Nothing else of the record can be changed here. Read the new details back to the patient and
    get an explicit yes first. Returns the updated patient record.

    Args:
        patient_id: The patient's id, e.g. 'P001'.
        phone: Optional. The new phone number, e.g. '+1-555-0199'.
        email: Optional. The new email address.
        address: Optional. The new postal address on one line, e.g. '12 Elm St, Springfield, IL 62704'.
    """
    _patient(db, patient_id)
    changes = {key: value for key, value in (("phone", phone), ("email", email), ("address", address)) if value}
    if not changes:
        raise Refusal("give a new phone number, email address or address")
    if phone and (len(_digits(phone)) < 7 or re.search(r"[^\d\s()+\-.]", phone)):
        raise Refusal(f"{phone!r} is not a phone number")
    if email and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise Refusal(f"{email!r} is not an email address")
    patient = db["patients"].edit(patient_id)
    patient.update(changes)
    return json.dumps(patient)


def _medication(patient: Record, medication: str, dosage: str | None) -> Record:
    """The one entry of the patient's medication list with that name (and dosage, when given)."""
    listed = patient.get("medical_history", {}).get("medications", [])
    entries = [m for m in listed if isinstance(m, dict) and str(m.get("name", "")).lower() == medication.lower()]
    if dosage:
        entries = [m for m in entries if str(m.get("dosage", "")).lower() == dosage.lower()]
    if not entries:
        label = f"{medication} {dosage}" if dosage else medication
        raise Refusal(f"{label} is not on the medication list of patient {patient.get('patient_id')}")
    if len(entries) > 1:
        raise Refusal(f"{medication} is listed in several dosages ({', '.join(m.get('dosage') for m in entries)})")
    return entries[0]


@TOOLS.write
def request_prescription_refill(db: Database, patient_id: str, medication: str, dosage: str | None = None) -> str:
    """Send a refill request for one of the patient's current medications to their primary care doctor.

    Only for medications on the patient's list, only when the patient had a completed visit in the
    last 365 days, and not while a request for the same medication is still pending. Get an
    explicit yes first. Returns the request.

    Args:
        patient_id: The patient's id, e.g. 'P001'.
        medication: The medication's name as on the patient's list, e.g. 'Lisinopril'.
        dosage: Optional. Its dosage, e.g. '20mg'; needed only when the list has it in several dosages.
    """
    patient = _patient(db, patient_id)
    entry = _medication(patient, medication, dosage)
    recent = _appointments(
        db,
        "patient_id",
        patient_id,
        lambda a: a.get("status") == "completed" and NOW - REFILL_VISIT_WINDOW <= (start_of(a) or datetime.min) <= NOW,
    )
    if not any(recent):
        raise Refusal(f"patient {patient_id} has had no completed visit in the last 365 days: a visit is needed first")
    requests = patient.get("refill_requests", [])
    if any(r.get("medication") == entry.get("name") and r.get("status") == "pending_review" for r in requests):
        raise Refusal(f"a refill of {entry.get('name')} is already pending review")
    request = {
        "request_id": f"RF-{patient_id}-{len(requests) + 1}",
        "medication": entry.get("name"),
        "dosage": entry.get("dosage"),
        "requested_on": f"{NOW:%Y-%m-%d}",
        "doctor_id": patient.get("primary_care_doctor"),
        "status": "pending_review",
    }
    db["patients"].edit(patient_id).setdefault("refill_requests", []).append(request)
    return json.dumps(request)


TOOLS.terminate(common.transfer_to_human_agents)

SEED_TOOLS = (
    "book_appointment",
    "cancel_appointment",
    "get_appointment_details",
    "get_doctor_availability",
    "get_patient_info",
    "search_patients",
    "think",
)

__all__ = ["NOW", "SEED_TOOLS", "TOOLS", "free_slots", "start_of", "working_hours"]
