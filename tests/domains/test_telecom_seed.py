"""The telecom domain on the seed system's own data (../shared/ctu): it loads as it is, every seed
tool runs on it, and every gold call of the seed's training file gets a result or a clean error."""

from __future__ import annotations

import json

import pytest

import taurl.domains.telecom as mod
from taurl.core.db import Database
from taurl.core.types import Action
from taurl.domains.telecom.tools import SEED_TOOLS
from tests.conftest import CTU
from tests.domains.conftest import assert_seed_gold_calls_run

pytestmark = pytest.mark.shared_data

DOMAIN = mod.DOMAIN
SEED_DATA = CTU / "telecom"


def test_seed_database_loads_every_record(seed_db: Database) -> None:
    for table, file_name in DOMAIN.tables.items():
        raw = json.loads((SEED_DATA / file_name).read_text())
        records = raw["devices"] if table == "devices" else raw
        assert len(seed_db[table]) == len(records), table
    assert seed_db["customers"]["TC001"]["customer_id"] == "TC001"
    assert len(seed_db["bills"]) == 0 and len(seed_db["devices"]) == 0  # empty in the seed system


def _seed_calls(db: Database) -> dict[str, dict]:
    """One plausible call per seed tool, with ids taken from the seed data."""
    line = db["lines"]["L0001"]
    customer = db["customers"]["TC001"]
    return {
        "calculate": {"expression": "115.43 * 2"},
        "get_bill_details": {"customer_id": "TC001", "bill_date": "2024-03"},
        "get_customer_info": {"customer_id": "TC001"},
        "get_customer_lines": {"customer_id": line["customer_id"]},
        "get_line_details": {"line_id": "L0001"},
        "get_usage_details": {"customer_id": line["customer_id"], "line_id": "L0001"},
        "lookup_customer_by_phone": {"phone_number": customer["phone"]},
        "process_payment": {"customer_id": "TC001", "amount": 91.29, "payment_method": "credit_card"},
        "suspend_line": {"line_id": "L0001", "reason": "lost_or_stolen"},
        "think": {"thought": "check the line first"},
        "transfer_to_human_agents": {"summary": "customer wants a new line"},
    }


@pytest.mark.parametrize("name", SEED_TOOLS)
def test_each_seed_tool_runs_on_the_seed_data(seed_db: Database, name: str) -> None:
    db = seed_db.fork()
    result = DOMAIN.tools.invoke(db, Action(name, _seed_calls(db)[name]))
    assert result.error in (None, "tool_error"), result.observation
    assert result.ok or result.observation.startswith("Error: ")


def test_seed_reads_find_seed_records(seed_db: Database) -> None:
    db = seed_db.fork()
    calls = _seed_calls(db)
    for name in (
        "get_customer_info",
        "get_customer_lines",
        "get_line_details",
        "get_usage_details",
        "lookup_customer_by_phone",
    ):
        assert DOMAIN.tools.invoke(db, Action(name, calls[name])).ok, name
    assert db.touched() == set()


def test_every_seed_gold_call_gives_a_result_or_a_clean_error(seed_db: Database) -> None:
    assert_seed_gold_calls_run(DOMAIN, seed_db)
