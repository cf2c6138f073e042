"""The telecom tools on the generated database: every success path and every refusal.

Records are found in ``generate_database(0)`` by what they are (a suspended line of an account with
an overdue bill, a line with roaming...), not by id, so the tests follow the generator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import taurl.domains.telecom as mod
from taurl.core.db import Database
from taurl.core.types import Action, ToolKind
from taurl.domains.telecom.tools import RECONNECTION_FEE, ROAMING_FEATURE, SEED_TOOLS, TODAY
from tests.domains.conftest import ToolCalls, assert_seed_schemas_match, assert_tools_and_kinds

DOMAIN = mod.DOMAIN
TOOLS = DOMAIN.tools
Line = dict[str, Any]

KINDS = {
    ToolKind.THINK: {"calculate", "think"},
    ToolKind.TERMINATE: {"transfer_to_human_agents"},
    ToolKind.WRITE: {
        "process_payment",
        "suspend_line",
        "change_plan",
        "enable_roaming",
        "disable_roaming",
        "reactivate_line",
        "refuel_data",
    },
}


_calls = ToolCalls(TOOLS)
call, ok, unchanged = _calls.call, _calls.ok, _calls.refused_with


def balance(db: Database, customer_id: str) -> dict:
    return ok(db, "get_account_balance", customer_id=customer_id)


def good_standing(db: Database, customer_id: str) -> bool:
    found = balance(db, customer_id)
    return found["account_status"] == "active" and found["overdue_balance"] == 0


def find_line(db: Database, where: Callable[[Line], bool]) -> Line:
    lines = db["lines"]
    return next(lines[key] for key in lines if where(lines[key]))


def active_in_good_standing(db: Database, where: Callable[[Line], bool] = lambda line: True) -> Line:
    return find_line(db, lambda ln: ln["status"] == "active" and good_standing(db, ln["customer_id"]) and where(ln))


def with_overdue(db: Database, where: Callable[[Line], bool] = lambda line: True) -> Line:
    return find_line(db, lambda ln: balance(db, ln["customer_id"])["overdue_balance"] > 0 and where(ln))


# --- registry and schemas --------------------------------------------------------------------


def test_tools_and_kinds() -> None:
    assert DOMAIN.name == "telecom"
    assert_tools_and_kinds(DOMAIN, SEED_TOOLS, KINDS)


@pytest.mark.shared_data
def test_seed_tool_schemas_match_the_seed_system() -> None:
    assert_seed_schemas_match(DOMAIN, SEED_TOOLS)


@pytest.mark.parametrize(
    ("action", "problem"),
    [
        (Action("get_customer_info", {}), "missing required argument(s) customer_id"),
        (Action("get_customer_info", {"customer_id": 1}), "customer_id must be string"),
        (Action("get_customer_info", {"customer_id": "TC001", "email": "x"}), "unexpected argument(s) email"),
        (Action("process_payment", {"customer_id": "TC001", "amount": "10", "payment_method": "x"}), "amount must be"),
        (Action("refuel_data", {"line_id": "L0001", "gb_amount": 2.5}), "gb_amount must be integer"),
        (Action("port_number_out", {}), "unknown tool 'port_number_out'"),
    ],
)
def test_invalid_calls_are_errors_that_change_nothing(db: Database, action: Action, problem: str) -> None:
    observation = TOOLS.invoke(db, action).observation
    assert observation.startswith("Error: ") and problem in observation
    assert db.touched() == set()


def test_rules_are_enforced_by_real_tools() -> None:
    rules = DOMAIN.policy_rules()
    assert len(rules) >= 8
    for rule, tools in DOMAIN.rules_enforced.items():
        assert rule in rules
        assert all(name.strip() in TOOLS for name in tools.split(","))


def test_seed_devices_shape_and_generated_shape_load_alike() -> None:
    reader = DOMAIN.readers["devices"]
    record = {"device_id": "DEV1", "model": "x"}
    assert reader({"devices": [record]}) == reader({"DEV1": record}) == {"DEV1": record}
    assert reader({"devices": []}) == {}


# --- read tools ------------------------------------------------------------------------------


def test_calculate_and_think(db: Database) -> None:
    assert call(db, "calculate", expression="3 * 4.99") == "14.97"
    assert call(db, "calculate", expression="import os").startswith("Error: ")
    assert call(db, "think", thought="plan") == ""
    assert call(db, "transfer_to_human_agents", summary="wants a new line") == "Transfer successful"
    assert db.touched() == set()


def test_customer_lookups(db: Database) -> None:
    customer_id = "TC001"
    customer = ok(db, "get_customer_info", customer_id=customer_id)
    assert customer["customer_id"] == customer_id and customer["security_pin"]
    phone = customer["phone"]
    assert ok(db, "lookup_customer_by_phone", phone_number=phone) == customer
    assert ok(db, "lookup_customer_by_phone", phone_number=phone.replace("+1-", "")) == customer
    lines = ok(db, "get_customer_lines", customer_id=customer_id)
    assert lines and all(line["customer_id"] == customer_id for line in lines)
    assert ok(db, "lookup_customer_by_phone", phone_number=lines[-1]["phone_number"]) == customer
    assert ok(db, "get_line_details", line_id=lines[0]["line_id"]) == lines[0]
    unchanged(db, "get_customer_info", "customer TC999 not found", customer_id="TC999")
    unchanged(db, "get_customer_lines", "customer TC999 not found", customer_id="TC999")
    unchanged(db, "get_line_details", "line L9999 not found", line_id="L9999")
    unchanged(db, "lookup_customer_by_phone", "no customer found", phone_number="+1-555-0000")
    unchanged(db, "lookup_customer_by_phone", "'his number' is not a phone number", phone_number="his number")


def test_usage_details(db: Database) -> None:
    line = find_line(db, lambda ln: True)
    customer_id, line_id = line["customer_id"], line["line_id"]
    one = ok(db, "get_usage_details", customer_id=customer_id, line_id=line_id)
    assert one == {"line_id": line_id, "phone_number": line["phone_number"], "usage": line["usage_current_month"]}
    every = ok(db, "get_usage_details", customer_id=customer_id)
    assert one in every and len(every) == len(ok(db, "get_customer_lines", customer_id=customer_id))
    other = find_line(db, lambda ln: ln["customer_id"] != customer_id)["line_id"]
    unchanged(
        db,
        "get_usage_details",
        f"line {other} is not a line of customer {customer_id}",
        customer_id=customer_id,
        line_id=other,
    )
    unchanged(db, "get_usage_details", "customer TC999 not found", customer_id="TC999")
    db["customers"].insert("TC999", {"customer_id": "TC999"})
    unchanged(db, "get_usage_details", "no lines found for customer TC999", customer_id="TC999")


def test_bill_details(db: Database) -> None:
    latest = ok(db, "get_bill_details", customer_id="TC002")
    assert latest["customer_id"] == "TC002" and latest["bill_date"] == "2025-06-01"
    may = ok(db, "get_bill_details", customer_id="TC002", bill_date="2025-05")
    assert [b["bill_date"] for b in may] == ["2025-05-01"]
    assert ok(db, "get_bill_details", customer_id="TC002", bill_date="2025-05-17") == may
    unchanged(
        db, "get_bill_details", "customer TC002 has no bill for 2024-01", customer_id="TC002", bill_date="2024-01"
    )
    unchanged(db, "get_bill_details", "bill_date must be a date", customer_id="TC002", bill_date="May")
    unchanged(db, "get_bill_details", "customer TC999 not found", customer_id="TC999")
    db["customers"].insert("TC999", {"customer_id": "TC999"})
    unchanged(db, "get_bill_details", "no bills found for customer TC999", customer_id="TC999")


def test_plans_and_balance(db: Database, base: dict[str, dict]) -> None:
    assert ok(db, "list_plans") == list(base["plans"].values())
    customer_id = with_overdue(db)["customer_id"]
    found = balance(db, customer_id)
    open_bills = [b for b in base["bills"].values() if b["customer_id"] == customer_id and b["status"] != "paid"]
    assert found["outstanding_balance"] == round(sum(b["charges"]["total"] for b in open_bills), 2)
    assert found["overdue_balance"] == round(
        sum(b["charges"]["total"] for b in open_bills if b["status"] == "overdue"), 2
    )
    assert [b["bill_id"] for b in found["open_bills"]] == [b["bill_id"] for b in open_bills]
    unchanged(db, "get_account_balance", "customer TC999 not found", customer_id="TC999")


# --- payments --------------------------------------------------------------------------------


def test_full_payment_settles_every_bill_and_reactivates_the_account(db: Database) -> None:
    customer_id = next(c for c in db["customers"] if db["customers"][c]["account_status"] == "suspended")
    owed = balance(db, customer_id)
    result = ok(
        db, "process_payment", customer_id=customer_id, amount=owed["outstanding_balance"], payment_method="debit_card"
    )
    assert result["remaining_balance"] == 0 and result["account_status"] == "active"
    assert [b["bill_id"] for b in result["bills"]] == [b["bill_id"] for b in owed["open_bills"]]
    for bill in owed["open_bills"]:
        paid = db["bills"][bill["bill_id"]]
        assert paid["status"] == "paid" and paid["payment_info"]["payment_date"] == TODAY
        assert paid["payment_info"]["confirmation_number"] == result["confirmation_number"]
    customer = db["customers"][customer_id]
    assert customer["account_status"] == "active"
    assert customer["payment_history"][0] == {
        "date": TODAY,
        "amount": owed["outstanding_balance"],
        "method": "debit_card",
        "status": "paid",
        "confirmation": result["confirmation_number"],
    }
    assert balance(db, customer_id)["outstanding_balance"] == 0


def test_partial_payment_goes_to_the_oldest_bill(db: Database) -> None:
    customer_id = with_overdue(db)["customer_id"]
    oldest = balance(db, customer_id)["open_bills"][0]
    result = ok(db, "process_payment", customer_id=customer_id, amount=10, payment_method="credit_card")
    assert result["amount"] == 10.0 and result["bills"] == [
        {"bill_id": oldest["bill_id"], "amount_applied": 10.0, "status": oldest["status"]}
    ]
    assert db["bills"][oldest["bill_id"]]["payment_info"]["amount_paid"] == 10.0
    assert balance(db, customer_id)["open_bills"][0]["amount_due"] == round(oldest["amount_due"] - 10, 2)


def test_payment_refusals(db: Database) -> None:
    customer_id = with_overdue(db)["customer_id"]
    owed = balance(db, customer_id)["outstanding_balance"]
    unchanged(
        db, "process_payment", "customer TC999 not found", customer_id="TC999", amount=5, payment_method="credit_card"
    )
    unchanged(
        db, "process_payment", "invalid payment method 'cash'", customer_id=customer_id, amount=5, payment_method="cash"
    )
    for amount in (0, -5, 1.005):
        unchanged(
            db,
            "process_payment",
            "the amount must be a positive number",
            customer_id=customer_id,
            amount=amount,
            payment_method="credit_card",
        )
    unchanged(
        db,
        "process_payment",
        f"the amount {owed + 1} exceeds the outstanding balance",
        customer_id=customer_id,
        amount=owed + 1,
        payment_method="credit_card",
    )
    ok(db, "process_payment", customer_id=customer_id, amount=owed, payment_method="credit_card")
    unchanged(
        db,
        "process_payment",
        f"customer {customer_id} has no outstanding balance",
        customer_id=customer_id,
        amount=5,
        payment_method="credit_card",
    )


# --- suspension and reactivation -------------------------------------------------------------


def test_suspend_line(db: Database) -> None:
    line_id = find_line(db, lambda ln: ln["status"] == "active")["line_id"]
    result = ok(db, "suspend_line", line_id=line_id, reason="lost_or_stolen")
    assert result["status"] == "suspended" and result == db["lines"][line_id]
    assert (result["suspension_reason"], result["suspension_date"]) == ("lost_or_stolen", TODAY)
    unchanged(db, "suspend_line", f"line {line_id} is already suspended", line_id=line_id, reason="travel")
    gone = find_line(db, lambda ln: ln["status"] == "disconnected")["line_id"]
    unchanged(db, "suspend_line", f"line {gone} is disconnected", line_id=gone, reason="travel")
    unchanged(db, "suspend_line", "invalid reason 'fun'", line_id=line_id, reason="fun")
    unchanged(db, "suspend_line", "line L9999 not found", line_id="L9999", reason="travel")


def suspended_since(db: Database, days: int, where: Callable[[Line], bool]) -> Line:
    """A suspended line (of an account with nothing overdue) whose suspension is ``days`` old."""
    from datetime import date, timedelta

    line = find_line(db, lambda ln: ln["status"] == "suspended" and where(ln))
    editable = db["lines"].edit(line["line_id"])
    editable["suspension_date"] = (date.fromisoformat(TODAY) - timedelta(days=days)).isoformat()
    return editable


@pytest.mark.parametrize(("days", "fee"), [(0, 0.0), (30, 0.0), (31, RECONNECTION_FEE), (120, RECONNECTION_FEE)])
def test_reactivation_fee_depends_on_how_long_the_line_was_suspended(db: Database, days: int, fee: float) -> None:
    line = suspended_since(db, days, lambda ln: balance(db, ln["customer_id"])["overdue_balance"] == 0)
    before = dict(line["billing_info"])
    result = ok(db, "reactivate_line", line_id=line["line_id"])
    assert result["reconnection_fee"] == fee
    reactivated = db["lines"][line["line_id"]]
    assert result["line"] == reactivated and reactivated["status"] == "active"
    assert "suspension_reason" not in reactivated and "suspension_date" not in reactivated
    assert reactivated["billing_info"]["total_monthly"] == round(before["total_monthly"] + fee, 2)
    assert reactivated["billing_info"].get("one_time_charges", 0.0) == fee


def test_reactivation_refusals(db: Database) -> None:
    owing = with_overdue(db, lambda ln: ln["status"] == "suspended")["line_id"]
    unchanged(db, "reactivate_line", "account", line_id=owing)
    assert "overdue balance" in call(db, "reactivate_line", line_id=owing)
    active = find_line(db, lambda ln: ln["status"] == "active")["line_id"]
    unchanged(db, "reactivate_line", f"line {active} is active: only suspended lines", line_id=active)
    gone = find_line(db, lambda ln: ln["status"] == "disconnected")["line_id"]
    unchanged(db, "reactivate_line", f"line {gone} is disconnected", line_id=gone)
    unchanged(db, "reactivate_line", "line L9999 not found", line_id="L9999")


# --- plan changes ----------------------------------------------------------------------------


def test_change_plan_moves_the_charge_by_the_price_difference(db: Database, base: dict[str, dict]) -> None:
    line = active_in_good_standing(
        db, lambda ln: db["customers"][ln["customer_id"]]["phone"] == ln["phone_number"] and ln["plan_id"] != "P1003"
    )
    used = line["usage_current_month"]["data_used_gb"]
    plan = base["plans"]["P1003"]
    result = ok(db, "change_plan", line_id=line["line_id"], new_plan_id="P1003")
    difference = plan["price_per_month"] - line["billing_info"]["monthly_charge"]
    assert result["plan_id"] == "P1003" and result["billing_info"]["monthly_charge"] == plan["price_per_month"]
    assert result["billing_info"]["total_monthly"] == round(line["billing_info"]["total_monthly"] + difference, 2)
    assert result["usage_current_month"]["data_remaining_gb"] == round(plan["data_limit_gb"] - used, 2)
    details = db["customers"][line["customer_id"]]["plan_details"]
    assert (details["plan_id"], details["price_per_month"]) == ("P1003", plan["price_per_month"])


def test_change_plan_refusals(db: Database) -> None:
    line = active_in_good_standing(db, lambda ln: ln["usage_current_month"]["data_used_gb"] > 1.0)
    line_id = line["line_id"]
    unchanged(db, "change_plan", "line L9999 not found", line_id="L9999", new_plan_id="P1001")
    unchanged(db, "change_plan", "plan P9 not found", line_id=line_id, new_plan_id="P9")
    unchanged(db, "change_plan", f"line {line_id} is already on plan", line_id=line_id, new_plan_id=line["plan_id"])
    unchanged(db, "change_plan", f"line {line_id} has used", line_id=line_id, new_plan_id="P1005")
    suspended = find_line(db, lambda ln: ln["status"] == "suspended")["line_id"]
    unchanged(
        db, "change_plan", f"line {suspended} is suspended: only active lines", line_id=suspended, new_plan_id="P1003"
    )
    owing = with_overdue(db, lambda ln: ln["status"] == "active" and ln["plan_id"] != "P1003")
    unchanged(
        db,
        "change_plan",
        f"account {owing['customer_id']} has an overdue balance",
        line_id=owing["line_id"],
        new_plan_id="P1003",
    )
    db["customers"].edit(line["customer_id"])["account_status"] = "inactive"
    unchanged(
        db,
        "change_plan",
        f"account {line['customer_id']} is inactive",
        line_id=line_id,
        new_plan_id="P1003" if line["plan_id"] != "P1003" else "P1007",
    )


# --- roaming ---------------------------------------------------------------------------------


def test_roaming_on_and_off(db: Database) -> None:
    line = active_in_good_standing(
        db,
        lambda ln: (
            ROAMING_FEATURE not in ln["features"] and db["customers"][ln["customer_id"]]["phone"] == ln["phone_number"]
        ),
    )
    line_id = line["line_id"]
    assert ROAMING_FEATURE in ok(db, "enable_roaming", line_id=line_id)["features"]
    assert db["customers"][line["customer_id"]]["plan_details"]["roaming_enabled"] is True
    unchanged(db, "enable_roaming", f"international roaming is already on for line {line_id}", line_id=line_id)
    assert ok(db, "disable_roaming", line_id=line_id)["features"] == line["features"]
    assert db["customers"][line["customer_id"]]["plan_details"]["roaming_enabled"] is False
    unchanged(db, "disable_roaming", f"international roaming is not on for line {line_id}", line_id=line_id)


def test_roaming_refusals(db: Database) -> None:
    owing = with_overdue(db, lambda ln: ln["status"] == "active" and ROAMING_FEATURE not in ln["features"])
    unchanged(db, "enable_roaming", "account", line_id=owing["line_id"])
    suspended = find_line(db, lambda ln: ln["status"] == "suspended")["line_id"]
    unchanged(db, "enable_roaming", f"line {suspended} is suspended", line_id=suspended)
    gone = find_line(db, lambda ln: ln["status"] == "disconnected")["line_id"]
    unchanged(db, "disable_roaming", f"line {gone} is disconnected", line_id=gone)
    unchanged(db, "enable_roaming", "line L9999 not found", line_id="L9999")
    unchanged(db, "disable_roaming", "line L9999 not found", line_id="L9999")


# --- data refills ----------------------------------------------------------------------------


def test_refuel_data(db: Database, base: dict[str, dict]) -> None:
    line = active_in_good_standing(db, lambda ln: base["plans"][ln["plan_id"]]["data_limit_gb"] < 999)
    price = base["plans"][line["plan_id"]]["data_refueling_price_per_gb"]
    result = ok(db, "refuel_data", line_id=line["line_id"], gb_amount=3)
    assert result["charge"] == round(3 * price, 2)
    after = db["lines"][line["line_id"]]
    assert after["usage_current_month"]["data_remaining_gb"] == round(
        line["usage_current_month"]["data_remaining_gb"] + 3, 2
    )
    assert after["billing_info"]["one_time_charges"] == result["charge"]
    assert after["billing_info"]["total_monthly"] == round(line["billing_info"]["total_monthly"] + result["charge"], 2)


def test_refuel_refusals(db: Database, base: dict[str, dict]) -> None:
    line_id = active_in_good_standing(db, lambda ln: base["plans"][ln["plan_id"]]["data_limit_gb"] < 999)["line_id"]
    for gb in (0, 11):
        unchanged(db, "refuel_data", f"a refill is 1 to 10 GB, got {gb}", line_id=line_id, gb_amount=gb)
    unlimited = active_in_good_standing(db, lambda ln: base["plans"][ln["plan_id"]]["data_limit_gb"] >= 999)
    unchanged(
        db, "refuel_data", f"plan {unlimited['plan_id']} has unlimited data", line_id=unlimited["line_id"], gb_amount=2
    )
    owing = with_overdue(
        db, lambda ln: ln["status"] == "active" and base["plans"][ln["plan_id"]]["data_limit_gb"] < 999
    )
    unchanged(db, "refuel_data", "account", line_id=owing["line_id"], gb_amount=2)
    suspended = find_line(db, lambda ln: ln["status"] == "suspended")["line_id"]
    unchanged(db, "refuel_data", f"line {suspended} is suspended", line_id=suspended, gb_amount=2)
    db["lines"].edit(line_id)["plan_id"] = "PLAN528"
    unchanged(db, "refuel_data", "plan PLAN528 not found", line_id=line_id, gb_amount=2)
    unchanged(db, "refuel_data", "line L9999 not found", line_id="L9999", gb_amount=2)
