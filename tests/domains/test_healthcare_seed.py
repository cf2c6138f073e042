"""The healthcare domain on the seed system's own data (../shared/ctu): it loads as it is, every seed
tool runs on it, and every gold call of the seed's training file gets a result or a clean error."""

from __future__ import annotations

import json

import pytest

import taurl.domains.healthcare as mod
from taurl.core.db import Database
from taurl.core.types import Action
from taurl.domains.healthcare.tools import SEED_TOOLS
from tests.conftest import CTU
from tests.domains.conftest import assert_seed_gold_calls_run

pytestmark = pytest.mark.shared_data

DOMAIN = mod.DOMAIN
SEED_DATA = CTU / "healthcare"

# One plausible call per seed tool, with ids from the seed data (D003 accepts new patients).
SEED_CALLS = {
    "book_appointment": {
        "patient_id": "P001",
        "doctor_id": "D003",
        "date": "2025-06-18",
        "time": "10:00",
        "reason": "routine check-up",
    },
    "cancel_appointment": {"appointment_id": "A0010", "reason": "schedule conflict"},
    "get_appointment_details": {"appointment_id": "A0001"},
    "get_doctor_availability": {"doctor_id": "D001", "date": "2025-06-18"},
    "get_patient_info": {"patient_id": "P001"},
    "search_patients": {"name": "Sarah Williams"},
    "think": {"thought": "check the doctor's schedule"},
}


def test_seed_database_loads_every_record(seed_db: Database) -> None:
    for table, file_name in DOMAIN.tables.items():
        assert len(seed_db[table]) == len(json.loads((SEED_DATA / file_name).read_text())), table
    assert seed_db["patients"]["P001"]["name"] == "Sarah Williams"


@pytest.mark.parametrize("name", SEED_TOOLS)
def test_each_seed_tool_runs_on_the_seed_data(seed_db: Database, name: str) -> None:
    result = DOMAIN.tools.invoke(seed_db.fork(), Action(name, SEED_CALLS[name]))
    assert result.error in (None, "tool_error"), result.observation
    assert result.ok or result.observation.startswith("Error: ")


def test_seed_data_supports_booking_and_refuses_past_cancellations(seed_db: Database) -> None:
    db = seed_db.fork()
    booked = json.loads(DOMAIN.tools.invoke(db, Action("book_appointment", SEED_CALLS["book_appointment"])).observation)
    assert booked["appointment_id"] == "A0201"  # after the seed's highest id, not its record count
    cancelled = DOMAIN.tools.invoke(db, Action("cancel_appointment", SEED_CALLS["cancel_appointment"]))
    assert cancelled.error == "tool_error" and "past" in cancelled.observation


def test_every_seed_gold_call_gives_a_result_or_a_clean_error(seed_db: Database) -> None:
    assert_seed_gold_calls_run(DOMAIN, seed_db)
