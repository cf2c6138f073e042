"""A small synthetic clinic and tasks over it, with the seed system's record schema.

``generate_database`` builds a dozen doctors with weekly schedules, forty patients (insurance,
medications, a primary care doctor) and their appointments: past visits (completed, cancelled,
missed) and upcoming ones, some within the next 24 hours, none double-booked. ``generate_tasks``
writes patient goals over that database, each with the gold tool calls that satisfy it under the
healthcare policy. Everything comes from ``random.Random(seed)`` and the constants below.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from taurl.core.db import Database
from taurl.core.types import Action, Task
from taurl.domains.generation import Draft, FreshValues, GoldReplay, TaskFormat, draft_tasks, sample_names
from taurl.domains.healthcare.tools import (
    LATE_NOTICE,
    NOW,
    PRIMARY_CARE,
    REFILL_VISIT_WINDOW,
    SLOT,
    TOOLS,
    VISIT_REASONS,
    free_slots,
    start_of,
    working_hours,
)

# --- doctors, patients and places ------------------------------------------------------------

DOCTORS = [
    ("Amelia Hart", "Family Medicine"),
    ("Rajesh Iyer", "Internal Medicine"),
    ("Sofia Lindqvist", "Family Medicine"),
    ("Marcus Bell", "Cardiology"),
    ("Hannah Okafor", "Dermatology"),
    ("Tomas Rivera", "Orthopedics"),
    ("Grace Kim", "Neurology"),
    ("Oliver Brandt", "Psychiatry"),
    ("Leila Haddad", "Pediatrics"),
    ("Samuel Osei", "Cardiology"),
    ("Naomi Fischer", "Internal Medicine"),
    ("Victor Almeida", "Orthopedics"),
]
_OFF = {"start": "", "end": "", "available": False}
SCHEDULES = {
    "weekdays": {"monday": ("08:00", "17:00"), "tuesday": ("08:00", "17:00"), "wednesday": ("08:00", "17:00"),
                 "thursday": ("08:00", "17:00"), "friday": ("08:00", "15:00")},
    "mon_wed_fri": {"monday": ("09:00", "16:00"), "wednesday": ("09:00", "16:00"), "friday": ("09:00", "16:00")},
    "tue_thu_sat": {"tuesday": ("10:00", "18:00"), "thursday": ("10:00", "18:00"), "saturday": ("09:00", "13:00")},
    "early": {"monday": ("07:30", "15:30"), "tuesday": ("07:30", "15:30"), "wednesday": ("07:30", "15:30"),
              "thursday": ("07:30", "15:30")},
}  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SCHOOLS = ["Johns Hopkins", "Stanford", "Harvard Medical School", "UCSF", "University of Michigan", "Duke"]
RESIDENCIES = ["Mayo Clinic", "Mass General", "Cleveland Clinic", "Mount Sinai", "UCLA Medical Center"]
FIRST_NAMES = [
    "Abigail", "Bernard", "Celeste", "Desmond", "Eleanor", "Frederick", "Georgia", "Harold", "Isabel", "Jasper",
    "Katrina", "Lionel", "Miriam", "Nathaniel", "Ophelia", "Percival", "Rosalind", "Sebastian", "Theodora",
    "Vincent", "Wilhelmina", "Xavier", "Yvonne", "Zachary",
]  # fmt: skip
LAST_NAMES = [
    "Abernathy", "Blackwood", "Castellanos", "Dunmore", "Everly", "Fairbanks", "Galloway", "Hawthorne",
    "Ingersoll", "Jennings", "Kingsley", "Llewellyn", "Montague", "Northcott", "Pemberton", "Quimby",
    "Rutherford", "Sinclair", "Thornbury", "Whitfield",
]  # fmt: skip
STREETS = ["Main St", "Oak Ave", "Birch Rd", "Willow Ln", "Harbor Dr", "Summit Ave", "Mill St", "Orchard Way"]
TOWNS = [("Springfield", "IL", "627"), ("Madison", "WI", "537"), ("Salem", "OR", "973"), ("Dover", "DE", "199")]
PROVIDERS = ["Aetna", "Cigna", "UnitedHealthcare", "Blue Cross Blue Shield", "Humana"]
MEDICATIONS = {
    "Lisinopril": ("10mg", "Hypertension"),
    "Metformin": ("500mg", "Type 2 diabetes"),
    "Atorvastatin": ("20mg", "High cholesterol"),
    "Levothyroxine": ("50mcg", "Hypothyroidism"),
    "Sertraline": ("50mg", "Anxiety"),
    "Albuterol": ("90mcg inhaler", "Asthma"),
    "Omeprazole": ("20mg", "Acid reflux"),
}
ALLERGIES = ["Penicillin", "Sulfa", "Latex", "Peanuts", "Shellfish"]
SURGERIES = ["Appendectomy", "Tonsillectomy", "Knee arthroscopy", "Gallbladder removal"]
DIAGNOSES = ["Upper respiratory infection", "Hypertension", "Normal exam", "Sprained ankle", "Migraine", "Eczema"]
TREATMENTS = ["Rest and fluids", "Continue current medication", "Physical therapy", "Follow-up in 6 months"]
PAST_STATUSES = {"completed": 75, "cancelled": 10, "no-show": 15}
PATIENT_COUNT = 40
LAPSED_PATIENTS = 7  # whose last visit is more than a year ago (no refills without a new visit)
BUSY_PATIENTS = 3  # who already hold the maximum of upcoming appointments
PAST_WINDOW = (date(2023, 6, 1), date(2025, 6, 13))
LAST_FUTURE_DAY = date(2025, 7, 31)  # upcoming appointments run from now to this day
BOOKING_DAYS = (date(2025, 6, 18), date(2025, 7, 31))


def _doctors(rng: random.Random) -> dict[str, dict]:
    doctors = {}
    closed = set(rng.sample(range(len(DOCTORS)), 4))
    for index, (name, specialty) in enumerate(DOCTORS):
        doctor_id = f"D{index + 1:03d}"
        first, last = name.lower().split()
        hours = SCHEDULES[rng.choice(list(SCHEDULES))]
        doctors[doctor_id] = {
            "id": doctor_id,
            "doctor_id": doctor_id,
            "name": f"Dr. {name}",
            "specialty": specialty,
            "department": specialty,
            "license_number": f"MD{rng.randint(100000, 999999)}",
            "phone": f"+1-555-{rng.randint(1000, 9999)}",
            "email": f"dr.{first}.{last}@clinic.example.com",
            "office_location": f"Building {rng.choice('ABC')}, Floor {rng.randint(1, 5)}, Room {rng.randint(101, 599)}",
            "years_experience": rng.randint(3, 35),
            "education": {
                "medical_school": rng.choice(SCHOOLS),
                "residency": rng.choice(RESIDENCIES),
                "board_certified": rng.random() < 0.9,
            },
            "schedule": {
                day: {"start": hours[day][0], "end": hours[day][1], "available": True} if day in hours else dict(_OFF)
                for day in WEEKDAYS
            },
            "patient_load": rng.randint(60, 250),
            "rating": round(rng.uniform(3.6, 5.0), 1),
            "accepts_new_patients": index not in closed,
            "languages": [
                "English",
                *rng.sample(["Spanish", "French", "Mandarin", "Hindi", "Portuguese"], rng.randint(0, 2)),
            ],
        }
    return doctors


def _unambiguous_names(rng: random.Random) -> list[tuple[str, str]]:
    """Patient names none of which contains another, so a name search finds exactly one patient."""
    chosen: list[tuple[str, str]] = []
    for first, last in sample_names(rng, FIRST_NAMES, LAST_NAMES, 200):
        full = f"{first} {last}".lower()
        if all(full not in f"{a} {b}".lower() and f"{a} {b}".lower() not in full for a, b in chosen):
            chosen.append((first, last))
        if len(chosen) == PATIENT_COUNT:
            return chosen
    raise ValueError("not enough distinct patient names")


def _patient(rng: random.Random, patient_id: str, name: tuple[str, str], pcp: dict, phones: FreshValues) -> dict:
    first, last = name
    born = date(1945, 1, 1) + timedelta(days=rng.randint(0, 60 * 365))
    age = NOW.year - born.year - ((NOW.month, NOW.day) < (born.month, born.day))
    medications = []
    for medication in rng.sample(list(MEDICATIONS), rng.choice([0, 1, 1, 2, 2, 3])):
        medications.append(
            {
                "name": medication,
                "dosage": MEDICATIONS[medication][0],
                "frequency": rng.choice(["Once daily", "Twice daily", "As needed"]),
                "prescribing_doctor": pcp["name"],
                "start_date": str(date(2019, 1, 1) + timedelta(days=rng.randint(0, 2000))),
            }
        )
    town, state, zip_prefix = rng.choice(TOWNS)
    phone = phones.phone()
    return {
        "id": patient_id,
        "patient_id": patient_id,
        "name": f"{first} {last}",
        "age": age,
        "gender": rng.choice(["Female", "Male", "Other"]),
        "date_of_birth": str(born),
        "phone": phone,
        "email": f"{first.lower()}.{last.lower()}{rng.randint(10, 99)}@mail.example.com",
        "address": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}, {town}, {state} {zip_prefix}{rng.randint(10, 99)}",
        "marital_status": rng.choice(["Single", "Married", "Divorced", "Widowed"]),
        "occupation": rng.choice(["Teacher", "Engineer", "Nurse", "Retired", "Accountant", "Chef", "Student"]),
        "emergency_contact": {
            "name": f"{rng.choice(FIRST_NAMES)} {last}",
            "relationship": rng.choice(["Spouse", "Parent", "Child", "Sibling"]),
            "phone": phones.phone(),
        },
        "insurance": {
            "primary": {
                "provider": rng.choice(PROVIDERS),
                "policy_number": f"POL{rng.randint(10**8, 10**9 - 1)}",
                "group_number": f"GRP{rng.randint(10**5, 10**6 - 1)}",
                "subscriber_id": f"SUB{rng.randint(10**8, 10**9 - 1)}",
                "effective_date": str(date(2020, 1, 1) + timedelta(days=rng.randint(0, 1500))),
                "deductible": rng.choice([500, 1000, 1500, 2000, 3000]),
                "copay_primary": rng.choice([10, 15, 20, 25, 30]),
                "copay_specialist": rng.choice([35, 40, 45, 55, 60, 75]),
                "out_of_pocket_max": rng.choice([3000, 4500, 6000, 8000]),
            }
        },
        "medical_history": {
            "current_conditions": [MEDICATIONS[m["name"]][1] for m in medications],
            "past_surgeries": rng.sample(SURGERIES, rng.choice([0, 0, 1, 2])),
            "medications": medications,
            "allergies": rng.sample(ALLERGIES, rng.choice([0, 0, 1, 2])),
            "family_history": rng.sample(["Heart disease", "Diabetes", "Cancer", "Stroke"], rng.choice([0, 1, 2])),
        },
        "primary_care_doctor": pcp["doctor_id"],
        "appointment_history": [],
    }


class _Calendar:
    """Who is busy when, so that generated appointments never overlap for a doctor or a patient."""

    def __init__(self, rng: random.Random, doctors: dict[str, dict]):
        self.rng = rng
        self.doctors = doctors
        self.busy: set[tuple[str, datetime]] = set()  # (doctor or patient id, 30-minute slot start)

    def place(
        self,
        doctor_id: str,
        patient_id: str,
        first: date,
        last: date,
        minutes: int,
        earliest: datetime,
        latest: datetime,
    ) -> datetime | None:
        """A random start in [earliest, latest] within the doctor's hours where both are free, now reserved."""
        for _ in range(40):
            day = first + timedelta(days=self.rng.randint(0, (last - first).days))
            hours = working_hours(self.doctors[doctor_id], day)
            if hours is None:
                continue
            count = int((hours[1] - hours[0]) / SLOT) - minutes // 30 + 1
            start = hours[0] + SLOT * self.rng.randrange(count)
            slots = [start + SLOT * k for k in range(minutes // 30)]
            if earliest <= start <= latest and not any(
                (w, s) in self.busy for w in (doctor_id, patient_id) for s in slots
            ):
                self.busy.update((w, s) for w in (doctor_id, patient_id) for s in slots)
                return start
        return None


def _reasons_for(doctor: dict) -> list[str]:
    """Visit reasons that make sense with this doctor: check-ups and vaccinations are for primary care."""
    if doctor["specialty"] in PRIMARY_CARE:
        return list(VISIT_REASONS)
    return [r for r in VISIT_REASONS if r not in ("routine check-up", "vaccination")]


def _visit(rng: random.Random, doctor: dict, patient_id: str, start: datetime, minutes: int, status: str) -> dict:
    reason = rng.choice(_reasons_for(doctor))
    completed = status == "completed"
    visit = {
        "id": "",
        "appointment_id": "",
        "patient_id": patient_id,
        "doctor_id": doctor["doctor_id"],
        "appointment_type": VISIT_REASONS[reason],
        "date": f"{start:%Y-%m-%d}",
        "time": f"{start:%H:%M}",
        "duration_minutes": minutes,
        "status": status,
        "department": doctor["department"],
        "office_location": doctor["office_location"],
        "reason": reason,
        "notes": rng.choice(["Patient reports feeling better", "Vitals normal", ""]) if completed else "",
        "diagnosis": rng.choice(DIAGNOSES) if completed else "",
        "treatment_plan": rng.choice(TREATMENTS) if completed else "",
    }
    if completed:
        billed = round(rng.uniform(120, 700), 2)
        paid = round(billed * rng.uniform(0.5, 0.9), 2)
        visit["insurance_claim"] = {
            "claim_id": f"CLM{rng.randint(10**8, 10**9 - 1)}",
            "amount_billed": billed,
            "insurance_paid": paid,
            "patient_responsibility": round(billed - paid, 2),
            "status": rng.choice(["approved", "paid", "pending"]),
        }
    return visit


def _may_see(patient: dict, doctor: dict, visits: list[dict]) -> bool:
    return (
        doctor["accepts_new_patients"]
        or patient["primary_care_doctor"] == doctor["doctor_id"]
        or any(v["doctor_id"] == doctor["doctor_id"] and v["status"] == "completed" for v in visits)
    )


def generate_database(seed: int = 0) -> dict[str, dict]:
    """A small, consistent clinic: ``{"patients", "doctors", "appointments"}``.

    Each patient has past visits (lapsed patients only ones over a year old; the others a
    completed visit in the last year), and most have upcoming appointments with doctors they may
    see, a few of them within the next 24 hours.
    """
    rng = random.Random(seed)
    doctors = _doctors(rng)
    pcps = [d for d in doctors.values() if d["specialty"] in PRIMARY_CARE and d["specialty"] != "Pediatrics"]
    phones = FreshValues(rng)
    patients = {}
    for index, name in enumerate(_unambiguous_names(rng), start=1):
        patient_id = f"P{index:03d}"
        patients[patient_id] = _patient(rng, patient_id, name, rng.choice(pcps), phones)
    calendar = _Calendar(rng, doctors)
    visits: list[dict] = []
    ids = list(patients)
    lapsed = set(rng.sample(ids, LAPSED_PATIENTS))
    busy = set(rng.sample([p for p in ids if p not in lapsed], BUSY_PATIENTS))
    for patient_id in ids:
        patient = patients[patient_id]
        mine: list[dict] = []
        first, last = PAST_WINDOW
        if patient_id in lapsed:
            last = (NOW - REFILL_VISIT_WINDOW).date() - timedelta(days=10)
        for number in range(rng.randint(1, 4)):
            recent = number == 0 and patient_id not in lapsed
            doctor = (
                doctors[patient["primary_care_doctor"]] if rng.random() < 0.6 else rng.choice(list(doctors.values()))
            )
            low = (NOW - REFILL_VISIT_WINDOW).date() + timedelta(days=10) if recent else first
            minutes = rng.choice([30, 30, 60])
            start = calendar.place(doctor["doctor_id"], patient_id, low, last, minutes, datetime.min, NOW - SLOT * 4)
            if start is not None:
                status = "completed" if recent else rng.choices(list(PAST_STATUSES), list(PAST_STATUSES.values()))[0]
                mine.append(_visit(rng, doctor, patient_id, start, minutes, status))
        upcoming = 3 if patient_id in busy else rng.choices([0, 1, 2], weights=[30, 50, 20])[0]
        for _ in range(upcoming):
            seeable = [d for d in doctors.values() if _may_see(patient, d, mine)]
            doctor = doctors[patient["primary_care_doctor"]] if rng.random() < 0.4 else rng.choice(seeable)
            if rng.random() < 0.2:  # within 24 hours, away from the edges
                window = (NOW + timedelta(hours=1), NOW + LATE_NOTICE - SLOT)
            else:
                window = (NOW + LATE_NOTICE + SLOT * 2, datetime.combine(LAST_FUTURE_DAY, datetime.max.time()))
            start = calendar.place(doctor["doctor_id"], patient_id, window[0].date(), window[1].date(), 30, *window)
            if start is not None:
                mine.append(_visit(rng, doctor, patient_id, start, 30, "scheduled"))
        visits.extend(mine)
    appointments = {}
    for number, visit in enumerate(sorted(visits, key=lambda v: (v["date"], v["time"], v["doctor_id"])), start=1):
        appointment_id = f"A{number:04d}"
        visit["id"] = visit["appointment_id"] = appointment_id
        appointments[appointment_id] = visit
        patients[visit["patient_id"]]["appointment_history"].append(appointment_id)
    return {"patients": patients, "doctors": doctors, "appointments": appointments}


# --- tasks -----------------------------------------------------------------------------------

PERSONAS = [
    "You are polite and a little anxious.",
    "You are busy and keep your messages short.",
    "You are friendly and talkative.",
    "You are careful and want each step confirmed before you agree.",
    "You are elderly and need things explained slowly and clearly.",
    "You are direct and to the point.",
    "You are frustrated about waiting times but stay courteous.",
]
REASON_STORIES = {
    "routine check-up": "for a routine check-up",
    "follow-up": "for a follow-up on your last visit",
    "new symptoms": "because you have had new symptoms for about a week",
    "test results": "to go over your recent test results",
    "prescription review": "to review your prescriptions",
    "vaccination": "to get a vaccination",
}


def _when(day: str, time: str) -> str:
    """'Wednesday 2025-06-18 at 10:30', how a patient names an appointment."""
    return f"{date.fromisoformat(day):%A} {day} at {time}"


class _Writer:
    """Reads the generated database (and runs tools on a scratch copy) to phrase goals and gold calls."""

    def __init__(self, data: dict[str, dict], rng: random.Random):
        self.rng = rng
        self.replay = GoldReplay(TOOLS, Database(data))
        self.patients, self.doctors, self.appointments = data["patients"], data["doctors"], data["appointments"]
        first, last = BOOKING_DAYS
        self.days = [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def run(self, *actions: Action) -> Any | None:
        """The parsed answer of the last action, each run in order on a fresh copy; None if any is refused."""
        answers = self.replay.answers(actions)
        return None if answers is None else answers[-1]

    def identify(self, patient_id: str, details: bool = False, wrong_dob: bool = False) -> tuple[str, list[Action]]:
        """How the patient introduces themself, and the lookups that identify them (and show their record)."""
        patient = self.patients[patient_id]
        born = patient["date_of_birth"]
        while wrong_dob and born == patient["date_of_birth"]:
            born = str(date.fromisoformat(born) + timedelta(days=self.rng.choice([-400, -31, -2, 3, 30, 365])))
        record = Action("get_patient_info", {"patient_id": patient_id})
        if self.rng.random() < 0.5:
            return f"You are {patient['name']}, patient id {patient_id}, born on {born}.", [record]
        search = Action("search_patients", {"name": patient["name"]})
        return f"You are {patient['name']}, born on {born}.", [search, record] if details else [search]

    def doctor(self, doctor_id: str) -> tuple[str, Action]:
        doctor = self.doctors[doctor_id]
        name = doctor["name"].removeprefix("Dr. ")
        return f"{doctor['name']} ({doctor['specialty']})", Action("find_doctors", {"name": name})

    def mine(self, patient_id: str, status: str, soon: bool | None = None) -> list[dict]:
        """The patient's appointments in a status; for scheduled ones optionally only those within 24 hours
        (``soon``) or only those at least 24 hours away."""
        found = [a for a in self.appointments.values() if a["patient_id"] == patient_id and a["status"] == status]
        if soon is not None:
            found = [a for a in found if ((start_of(a) - NOW) < LATE_NOTICE) is soon]
        return sorted(found, key=lambda a: (a["date"], a["time"]))

    def may_see(self, patient_id: str, doctor_id: str) -> bool:
        visits = [a for a in self.appointments.values() if a["patient_id"] == patient_id]
        return _may_see(self.patients[patient_id], self.doctors[doctor_id], visits)

    def slot(self, doctor_id: str, earliest: bool = False, ignore: str | None = None) -> tuple[str, str] | None:
        """A booking day the doctor works and a free slot on it (the first one when ``earliest``)."""
        days = [d for d in self.days if working_hours(self.doctors[doctor_id], d)]
        day = self.rng.choice(days)
        slots = free_slots(self.replay.root, doctor_id, day, ignore)
        if not slots:
            return None
        return str(day), slots[0] if earliest else self.rng.choice(slots)

    def lookup_appointments(self, patient_id: str) -> Action:
        return Action("get_patient_appointments", {"patient_id": patient_id})


def _booking(w: _Writer, patient_id: str, doctor_id: str, earliest: bool) -> tuple[str, str, str, Action] | None:
    """A bookable (day, time, reason, call) with that doctor for the patient, or None."""
    if not w.may_see(patient_id, doctor_id):
        return None
    found = w.slot(doctor_id, earliest)
    if found is None:
        return None
    day, time = found
    reason = w.rng.choice(_reasons_for(w.doctors[doctor_id]))
    call = Action(
        "book_appointment",
        {"patient_id": patient_id, "doctor_id": doctor_id, "date": day, "time": time, "reason": reason},
    )
    return (day, time, reason, call) if w.run(call) is not None else None


# Each template turns one candidate (a patient id) into a draft, or None when it does not fit.


def _book(w: _Writer, patient_id: str, mode: str) -> Draft | None:
    """Book with a named doctor at a given time ('slot'), at the day's earliest time ('earliest'), or with
    the patient's primary care doctor ('pcp')."""
    patient = w.patients[patient_id]
    doctor_id = patient["primary_care_doctor"] if mode == "pcp" else w.rng.choice(list(w.doctors))
    booking = _booking(w, patient_id, doctor_id, earliest=mode == "earliest")
    if booking is None:
        return None
    day, time, reason, call = booking
    intro, auth = w.identify(patient_id, details=mode == "pcp")
    story = REASON_STORIES[reason]
    rules = ["R1", "R3", "R4", "R5"] + ([] if w.doctors[doctor_id]["accepts_new_patients"] else ["R6"])
    lookups = [Action("get_doctor_availability", {"doctor_id": doctor_id, "date": day})]
    outputs: list[str] = []
    if mode == "pcp":
        goal = f"You want an appointment with your primary care doctor on {_when(day, time)} {story}."
    else:
        text, find = w.doctor(doctor_id)
        lookups.insert(0, find)
        if mode == "earliest":
            weekday = f"{date.fromisoformat(day):%A} {day}"
            goal = f"You want an appointment with {text} {story}, at the earliest free time on {weekday}."
            goal += " You want to know the time you get."
            outputs = [time]
        else:
            goal = f"You want an appointment with {text} on {_when(day, time)} {story}."
    if mode != "earliest" and w.rng.random() < 0.4:
        goal += " You want to know the id of the new appointment."
        outputs = [w.run(call)["appointment_id"]]
    return Draft(f"book_{mode}", patient_id, intro, goal, [*auth, *lookups, call], rules, outputs)


def _cancel(w: _Writer, patient_id: str, late: bool) -> Draft | None:
    upcoming = w.mine(patient_id, "scheduled", soon=late)
    if not upcoming:
        return None
    appointment = w.rng.choice(upcoming)
    intro, auth = w.identify(patient_id)
    text, _ = w.doctor(appointment["doctor_id"])
    goal = f"You can no longer make your appointment with {text} on {_when(appointment['date'], appointment['time'])}"
    goal += " and want to cancel it."
    outputs = []
    if late:
        goal += " If there is a fee you accept it, but you want to know how much it is."
        outputs = ["50"]
    call = Action("cancel_appointment", {"appointment_id": appointment["appointment_id"]})
    rules = ["R1", "R3", "R8"] + (["R9"] if late else [])
    actions = [*auth, w.lookup_appointments(patient_id), call]
    return Draft("cancel_late" if late else "cancel", patient_id, intro, goal, actions, rules, outputs)


def _reschedule(w: _Writer, patient_id: str) -> Draft | None:
    upcoming = w.mine(patient_id, "scheduled", soon=False)
    if not upcoming:
        return None
    appointment = w.rng.choice(upcoming)
    found = w.slot(appointment["doctor_id"], ignore=appointment["appointment_id"])
    if found is None:
        return None
    day, time = found
    call = Action(
        "reschedule_appointment", {"appointment_id": appointment["appointment_id"], "new_date": day, "new_time": time}
    )
    if (day, time) == (appointment["date"], appointment["time"]) or w.run(call) is None:
        return None
    intro, auth = w.identify(patient_id)
    text, _ = w.doctor(appointment["doctor_id"])
    goal = (
        f"You want to move your appointment with {text} on {_when(appointment['date'], appointment['time'])} to "
        f"{_when(day, time)}."
    )
    lookups = [
        w.lookup_appointments(patient_id),
        Action("get_doctor_availability", {"doctor_id": appointment["doctor_id"], "date": day}),
    ]
    return Draft("reschedule", patient_id, intro, goal, [*auth, *lookups, call], ["R1", "R3", "R4", "R5", "R10"])


def _update_contact(w: _Writer, patient_id: str, field_name: str) -> Draft | None:
    patient = w.patients[patient_id]
    first, last = patient["name"].lower().split()
    if field_name == "phone":
        value = f"+1-555-{w.rng.randint(1000, 9999)}"
        goal = f"You have a new phone number, {value}, and want your record updated."
    elif field_name == "email":
        value = f"{first[0]}{last}.{w.rng.randint(100, 999)}@newmail.example.com"
        goal = f"You have a new email address, {value}, and want your record updated."
    else:
        value = f"{w.rng.randint(10, 999)} {w.rng.choice(STREETS)}, {patient['address'].split(', ', 1)[1]}"
        goal = f'You moved; your new address is "{value}" and you want your record updated.'
    intro, auth = w.identify(patient_id)
    call = Action("update_patient_contact", {"patient_id": patient_id, field_name: value})
    return Draft(f"update_{field_name}", patient_id, intro, goal, [*auth, call], ["R1", "R3", "R12"])


def _refill(w: _Writer, patient_id: str) -> Draft | None:
    medications = w.patients[patient_id]["medical_history"]["medications"]
    if not medications:
        return None
    medication = w.rng.choice(medications)
    call = Action("request_prescription_refill", {"patient_id": patient_id, "medication": medication["name"]})
    if w.run(call) is None:
        return None
    intro, auth = w.identify(patient_id, details=True)
    goal = f"You are running out of your {medication['name']} and want a refill requested."
    return Draft("refill", patient_id, intro, goal, [*auth, call], ["R1", "R3", "R11"])


def _cancel_and_book(w: _Writer, patient_id: str) -> Draft | None:
    """Give up an appointment with one doctor and book one with another."""
    upcoming = w.mine(patient_id, "scheduled", soon=False)
    if not upcoming:
        return None
    old = w.rng.choice(upcoming)
    others = [d for d in w.doctors if d != old["doctor_id"] and w.may_see(patient_id, d)]
    doctor_id = w.rng.choice(others)
    found = w.slot(doctor_id)
    if found is None:
        return None
    day, time = found
    reason = w.rng.choice(_reasons_for(w.doctors[doctor_id]))
    cancel = Action("cancel_appointment", {"appointment_id": old["appointment_id"]})
    book = Action(
        "book_appointment",
        {"patient_id": patient_id, "doctor_id": doctor_id, "date": day, "time": time, "reason": reason},
    )
    if w.run(cancel, book) is None:
        return None
    intro, auth = w.identify(patient_id)
    old_text, _ = w.doctor(old["doctor_id"])
    new_text, find = w.doctor(doctor_id)
    goal = (
        f"You want to cancel your appointment with {old_text} on {_when(old['date'], old['time'])} and instead see "
        f"{new_text} on {_when(day, time)} {REASON_STORIES[reason]}."
    )
    actions = [
        *auth,
        w.lookup_appointments(patient_id),
        cancel,
        find,
        Action("get_doctor_availability", {"doctor_id": doctor_id, "date": day}),
        book,
    ]
    return Draft("cancel_and_book", patient_id, intro, goal, actions, ["R1", "R3", "R4", "R5", "R8"])


def _next_visit(w: _Writer, patient_id: str) -> Draft | None:
    upcoming = w.mine(patient_id, "scheduled")
    if not upcoming:
        return None
    doctor_id = w.rng.choice(upcoming)["doctor_id"]
    first = next(a for a in upcoming if a["doctor_id"] == doctor_id)
    intro, auth = w.identify(patient_id)
    text, _ = w.doctor(doctor_id)
    goal = f"You want to know the date and time of your next appointment with {text}. You do not want to change it."
    actions = [*auth, w.lookup_appointments(patient_id)]
    return Draft("next_visit", patient_id, intro, goal, actions, ["R1"], [first["date"], first["time"]])


def _room(w: _Writer, patient_id: str) -> Draft | None:
    upcoming = w.mine(patient_id, "scheduled")
    if not upcoming:
        return None
    appointment = w.rng.choice(upcoming)
    room = appointment["office_location"].split(", ")[-1]
    intro, auth = w.identify(patient_id)
    text, _ = w.doctor(appointment["doctor_id"])
    goal = (
        f"You want to know which room your appointment with {text} on {_when(appointment['date'], appointment['time'])}"
        " is in. You do not want to change anything."
    )
    actions = [*auth, w.lookup_appointments(patient_id)]
    return Draft("room", patient_id, intro, goal, actions, ["R1"], [room])


def _copay(w: _Writer, patient_id: str) -> Draft | None:
    doctor_id = w.rng.choice(list(w.doctors))
    insurance = w.patients[patient_id]["insurance"]["primary"]
    kind = "copay_primary" if w.doctors[doctor_id]["specialty"] in PRIMARY_CARE else "copay_specialist"
    intro, auth = w.identify(patient_id, details=True)
    text, find = w.doctor(doctor_id)
    goal = f"You are thinking of seeing {text} and want to know what your copay for such a visit would be."
    goal += " You do not want to book anything yet."
    return Draft("copay", patient_id, intro, goal, [*auth, find], ["R1", "R13"], [str(insurance[kind])])


def _earliest_query(w: _Writer, patient_id: str) -> Draft | None:
    doctor_id = w.rng.choice(list(w.doctors))
    found = w.slot(doctor_id, earliest=True)
    if found is None:
        return None
    day, time = found
    intro, auth = w.identify(patient_id)
    text, find = w.doctor(doctor_id)
    goal = (
        f"You want to know the earliest free time {text} has on {date.fromisoformat(day):%A} {day}. You do not want"
        " to book it yet."
    )
    actions = [*auth, find, Action("get_doctor_availability", {"doctor_id": doctor_id, "date": day})]
    return Draft("earliest_query", patient_id, intro, goal, actions, ["R4"], [time])


def _refused(
    w: _Writer, patient_id: str, template: str, goal: str, rules: list[str], extra: list[Action], **identify: bool
) -> Draft:
    intro, auth = w.identify(patient_id, **identify)
    return Draft(template, patient_id, intro, goal, [*auth, *extra], rules, refusal=True)


def _wrong_dob(w: _Writer, patient_id: str) -> Draft | None:
    wish = w.rng.choice(
        ["to know when your next appointment is", "to cancel your next appointment", "to update your phone number"]
    )
    goal = (
        f"You want {wish}. If the agent cannot verify you, you insist once that your birth date is right, then give up."
    )
    return _refused(w, patient_id, "refuse_wrong_dob", goal, ["R1"], [], wrong_dob=True)


def _other_patient(w: _Writer, patient_id: str) -> Draft | None:
    other = w.patients[w.rng.choice([p for p in w.patients if p != patient_id])]
    relation = w.rng.choice(["friend", "neighbour", "partner", "cousin", "colleague"])
    goal = (
        f"Your {relation} {other['name']} (born {other['date_of_birth']}) asked you to find out when their next "
        "appointment is and to cancel it. If the agent refuses, you accept that and end the conversation."
    )
    return _refused(w, patient_id, "refuse_other_patient", goal, ["R1", "R2"], [])


def _reschedule_late(w: _Writer, patient_id: str) -> Draft | None:
    soon = w.mine(patient_id, "scheduled", soon=True)
    if not soon:
        return None
    appointment = w.rng.choice(soon)
    text, _ = w.doctor(appointment["doctor_id"])
    goal = (
        f"You want to move your appointment with {text} on {_when(appointment['date'], appointment['time'])} to "
        "some day next week. If the agent says it cannot be moved, you keep it as it is: you do not want to cancel it."
    )
    return _refused(w, patient_id, "refuse_reschedule_late", goal, ["R10"], [w.lookup_appointments(patient_id)])


def _doctor_closed(w: _Writer, patient_id: str) -> Draft | None:
    closed = [d for d in w.doctors if not w.may_see(patient_id, d)]
    if not closed:
        return None
    doctor_id = w.rng.choice(closed)
    text, find = w.doctor(doctor_id)
    day = w.rng.choice([d for d in w.days if working_hours(w.doctors[doctor_id], d)])
    goal = (
        f"You want an appointment with {text} on {date.fromisoformat(str(day)):%A} {day}, any time, "
        f"{REASON_STORIES['new symptoms']}. You have never seen this doctor. If the agent says it is not possible, you "
        "accept that and want nothing else."
    )
    return _refused(w, patient_id, "refuse_doctor_closed", goal, ["R6"], [find])


def _refill_refused(w: _Writer, patient_id: str, listed: bool) -> Draft | None:
    """A refill of a listed medication without a recent visit, or of a medication not on the list."""
    medications = [m["name"] for m in w.patients[patient_id]["medical_history"]["medications"]]
    if listed:
        if not medications:
            return None
        medication = w.rng.choice(medications)
        refill = Action("request_prescription_refill", {"patient_id": patient_id, "medication": medication})
        if w.run(refill) is not None:  # a recent visit: the refill would go through
            return None
        template = "refuse_refill_no_visit"
    else:
        medication = w.rng.choice([m for m in MEDICATIONS if m not in medications])
        template = "refuse_refill_not_listed"
    goal = (
        f"You want a refill of {medication} requested. If the agent says it cannot be done, you accept that and do not"
        " book anything today."
    )
    return _refused(w, patient_id, template, goal, ["R11"], [], details=True)


def _too_many(w: _Writer, patient_id: str) -> Draft | None:
    if len(w.mine(patient_id, "scheduled")) < 3:
        return None
    text, _ = w.doctor(w.rng.choice(list(w.doctors)))
    goal = (
        f"You want one more appointment, with {text}, next week for a routine check-up. If the agent says you cannot "
        "book more appointments, you accept that and keep the ones you have."
    )
    return _refused(w, patient_id, "refuse_too_many", goal, ["R7"], [w.lookup_appointments(patient_id)])


def _record_change(w: _Writer, patient_id: str) -> Draft | None:
    wish = w.rng.choice(
        [
            f"to have an allergy to {w.rng.choice(ALLERGIES)} added to your record",
            f"to change your insurance provider to {w.rng.choice(PROVIDERS)}",
            "to have a condition removed from your medical history because you feel better",
        ]
    )
    goal = f"You want {wish}. If the agent says it cannot do that, you accept it and end the conversation."
    return _refused(w, patient_id, "refuse_record_change", goal, ["R12"], [])


def _cancel_past(w: _Writer, patient_id: str) -> Draft | None:
    past = w.mine(patient_id, "completed")
    if not past:
        return None
    appointment = past[-1]
    text, _ = w.doctor(appointment["doctor_id"])
    goal = (
        f"You want your appointment with {text} on {_when(appointment['date'], appointment['time'])}, which you "
        "attended, cancelled so that it does not count. If the agent says it cannot be cancelled, you accept that."
    )
    return _refused(w, patient_id, "refuse_cancel_past", goal, ["R8"], [w.lookup_appointments(patient_id)])


Template = Callable[[_Writer, str], Draft | None]


def _templates() -> Iterator[tuple[Template, int]]:
    """Each template (over patient ids) with how many tasks to write with it."""
    yield functools.partial(_book, mode="slot"), 38
    yield functools.partial(_book, mode="earliest"), 15
    yield functools.partial(_book, mode="pcp"), 12
    yield functools.partial(_cancel, late=False), 28
    yield functools.partial(_cancel, late=True), 12
    yield _reschedule, 28
    yield functools.partial(_update_contact, field_name="phone"), 10
    yield functools.partial(_update_contact, field_name="email"), 10
    yield functools.partial(_update_contact, field_name="address"), 6
    yield _refill, 18
    yield _cancel_and_book, 8
    yield _next_visit, 16
    yield _room, 6
    yield _copay, 10
    yield _earliest_query, 8
    yield _wrong_dob, 8
    yield _other_patient, 8
    yield _reschedule_late, 8
    yield _doctor_closed, 8
    yield functools.partial(_refill_refused, listed=True), 6
    yield functools.partial(_refill_refused, listed=False), 6
    yield _too_many, 5
    yield _record_change, 6
    yield _cancel_past, 5


def generate_tasks(db: dict[str, dict], seed: int = 0) -> dict[str, list[Task]]:
    """Tasks over ``db`` (from :func:`generate_database`): ``{"train": [...], "test": [...]}``.

    Each task starts from the untouched database, so tasks may concern the same patient.
    """
    rng = random.Random(seed)
    writer = _Writer(db, rng)
    templates = ((template, list(writer.patients), count) for template, count in _templates())
    return draft_tasks(writer, templates, rng, TaskFormat("healthcare", PERSONAS), writer.replay, rounds=3)


__all__ = ["generate_database", "generate_tasks"]
