"""The telecom domain's tools: a mobile carrier's account, line and billing desk.

The eleven tools of the seed system (CTU's τ-bench fork) keep its names, parameters and JSON
types, so its tool calls run unchanged, and its read tools return the same shapes. Unlike the
seed's, ``process_payment`` really settles bills and every refusal is an ``Error: ...``
observation that says why. The tools the seed lacks (plan catalogue, balance, plan changes,
roaming, reactivation, data refills) make the policy (policy.md) enforceable. Every check runs
before the first edit, so a refused call changes nothing. Dates compare with the fixed
:data:`TODAY`, never the wall clock.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any

from taurl.core.db import Database, Record
from taurl.core.tools import Refusal, ToolRegistry, require_record
from taurl.domains import common

TOOLS = ToolRegistry("telecom")

TODAY = "2025-06-15"  # the carrier's fixed current date (policy: "How the carrier works")
PAYMENT_METHODS = ("credit_card", "debit_card", "bank_transfer")
SUSPENSION_REASONS = ("lost_or_stolen", "travel", "temporary_hold")
OPEN_BILL_STATUSES = ("unpaid", "overdue")
ROAMING_FEATURE = "international_roaming"
RECONNECTION_FEE = 25.0
FREE_REACTIVATION_DAYS = 30
REFILL_GB = (1, 10)
UNLIMITED_DATA_GB = 999.0


# --- lookups ---------------------------------------------------------------------------------


_customer = common.record_lookup("customers", "customer")
_line = common.record_lookup("lines", "line")


def _lines_of(db: Database, customer_id: str) -> list[Record]:
    lines = db["lines"]
    return [lines[key] for key in lines if lines[key].get("customer_id") == customer_id]


def _bills_of(db: Database, customer_id: str) -> list[Record]:
    """The customer's bills, oldest first."""
    bills = db["bills"]
    found = [bills[key] for key in bills if bills[key].get("customer_id") == customer_id]
    return sorted(found, key=lambda bill: str(bill.get("bill_date", "")))


def _amount_due(bill: Record) -> float:
    """What is still owed on a bill: its total less what has been paid on it."""
    total = bill.get("charges", {}).get("total", 0.0)
    paid = (bill.get("payment_info") or {}).get("amount_paid") or 0.0
    return round(total - paid, 2)


def _open_bills(db: Database, customer_id: str) -> list[Record]:
    """Unpaid and overdue bills with money still owed, oldest first (the order payments settle them)."""
    return [
        bill
        for bill in _bills_of(db, customer_id)
        if bill.get("status") in OPEN_BILL_STATUSES and _amount_due(bill) > 0
    ]


def _balance(bills: list[Record]) -> float:
    return round(sum(_amount_due(bill) for bill in bills), 2)


def _require_good_standing(db: Database, customer_id: str) -> None:
    """Plan changes, roaming and refills need an active account with no overdue bill (policy R5)."""
    status = _customer(db, customer_id).get("account_status")
    if status != "active":
        raise Refusal(f"account {customer_id} is {status}, not active")
    _require_nothing_overdue(db, customer_id)


def _require_nothing_overdue(db: Database, customer_id: str) -> None:
    overdue = [bill for bill in _open_bills(db, customer_id) if bill.get("status") == "overdue"]
    if overdue:
        raise Refusal(f"account {customer_id} has an overdue balance of {_balance(overdue)}: it must be paid first")


def _require_status(line: Record, status: str, action: str) -> None:
    if line.get("status") != status:
        raise Refusal(f"line {line.get('line_id')} is {line.get('status')}: only {status} lines can {action}")


def _add_charge(line: Record, amount: float, component: str) -> None:
    """Add ``amount`` to one billing component of an editable line and to its monthly total."""
    billing = line.setdefault("billing_info", {})
    billing[component] = round(billing.get(component, 0.0) + amount, 2)
    billing["total_monthly"] = round(billing.get("total_monthly", 0.0) + amount, 2)


def _sync_account_plan(db: Database, line: Record) -> None:
    """Keep the customer's ``plan_details`` (the plan of the account's own number) in step with that line."""
    customer_id = line.get("customer_id")
    if customer_id not in db["customers"] or db["customers"][customer_id].get("phone") != line.get("phone_number"):
        return
    details = db["customers"].edit(customer_id).get("plan_details")
    if details is None:
        return
    plan = db["plans"].get(line["plan_id"])
    if plan is not None:
        details.update(
            plan_id=plan["plan_id"],
            name=plan["name"],
            data_limit_gb=plan["data_limit_gb"],
            price_per_month=plan["price_per_month"],
        )
    details["roaming_enabled"] = ROAMING_FEATURE in line.get("features", [])


def _parse_date(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except (TypeError, ValueError):
        raise Refusal(f"{what} must be a date written YYYY-MM-DD, got {text!r}") from None


def _digits(phone: str) -> str:
    """A phone number's digits without a leading country code 1, so '+1-555-0101' matches '555-0101'."""
    digits = re.sub(r"\D", "", phone)
    return digits[1:] if len(digits) in (8, 11) and digits.startswith("1") else digits


# --- tools (the seed's first, in its order, then the service tools) --------------------------

TOOLS.think(common.calculate)


@TOOLS.read
def get_bill_details(db: Database, customer_id: str, bill_date: str | None = None) -> str:
    """Show a customer's bills: the most recent one, or those of a given month or covering a given date.

    Args:
        customer_id: The customer's id, e.g. 'TC001'.
        bill_date: Optional. A month 'YYYY-MM' (the bills whose period starts in it) or a date 'YYYY-MM-DD'
            (the bills whose period contains it). Without it, only the most recent bill is returned.
    """
    _customer(db, customer_id)
    bills = _bills_of(db, customer_id)
    if not bills:
        raise Refusal(f"no bills found for customer {customer_id}")
    if bill_date is None:
        return json.dumps(bills[-1])
    if re.fullmatch(r"\d{4}-\d{2}", bill_date):
        chosen = [b for b in bills if str(b.get("billing_period", {}).get("start_date", "")).startswith(bill_date)]
    else:
        day = _parse_date(bill_date, "bill_date").isoformat()
        chosen = [
            b
            for b in bills
            if b.get("billing_period", {}).get("start_date", "")
            <= day
            <= b.get("billing_period", {}).get("end_date", "")
        ]
    if not chosen:
        raise Refusal(f"customer {customer_id} has no bill for {bill_date}")
    return json.dumps(chosen)


@TOOLS.read
def get_customer_info(db: Database, customer_id: str) -> str:
    """Show a customer's account: contact details, security PIN, status, plan, devices and payment history.

    Args:
        customer_id: The customer's id, e.g. 'TC001'.
    """
    return json.dumps(_customer(db, customer_id))


@TOOLS.read
def get_customer_lines(db: Database, customer_id: str) -> str:
    """List every phone line of a customer with its number, status, plan, features, usage and charges.

    Args:
        customer_id: The customer's id, e.g. 'TC001'.
    """
    _customer(db, customer_id)
    return json.dumps(_lines_of(db, customer_id))


@TOOLS.read
def get_line_details(db: Database, line_id: str) -> str:
    """Show one phone line: number, status, plan, device, features, usage this month and charges.

    Args:
        line_id: The line's id, e.g. 'L0001' (see get_customer_lines).
    """
    return json.dumps(_line(db, line_id))


@TOOLS.read
def get_usage_details(db: Database, customer_id: str, line_id: str | None = None) -> str:
    """Show this month's data, minutes and SMS used and remaining, for one line of a customer or all of them.

    Args:
        customer_id: The customer's id, e.g. 'TC001'.
        line_id: Optional. One of the customer's line ids, e.g. 'L0001'; without it every line is listed.
    """
    _customer(db, customer_id)
    lines = _lines_of(db, customer_id)
    if not lines:
        raise Refusal(f"no lines found for customer {customer_id}")

    def usage(line: Record) -> dict[str, Any]:
        return {
            "line_id": line.get("line_id"),
            "phone_number": line.get("phone_number"),
            "usage": line.get("usage_current_month", {}),
        }

    if line_id is None:
        return json.dumps([usage(line) for line in lines])
    line = next((line for line in lines if line.get("line_id") == line_id), None)
    if line is None:
        raise Refusal(f"line {line_id} is not a line of customer {customer_id}")
    return json.dumps(usage(line))


@TOOLS.read
def lookup_customer_by_phone(db: Database, phone_number: str) -> str:
    """Find the customer account a phone number belongs to: the account's contact number or one of its lines.

    Returns the customer's account (as get_customer_info does).

    Args:
        phone_number: The phone number, e.g. '+1-555-0101' (punctuation and the leading +1 are optional).
    """
    wanted = _digits(phone_number)
    if len(wanted) < 7:
        raise Refusal(f"{phone_number!r} is not a phone number")
    customers = db["customers"]
    for customer_id in customers:
        if _digits(str(customers[customer_id].get("phone", ""))) == wanted:
            return json.dumps(customers[customer_id])
    lines = db["lines"]
    for line_id in lines:
        line = lines[line_id]
        if _digits(str(line.get("phone_number", ""))) == wanted and line.get("customer_id") in customers:
            return json.dumps(customers[line["customer_id"]])
    raise Refusal(f"no customer found with phone number {phone_number}")


@TOOLS.write
def process_payment(db: Database, customer_id: str, amount: float, payment_method: str) -> str:
    """Take a payment towards a customer's unpaid and overdue bills, oldest bill first.

    The amount must be positive and at most the outstanding balance (see get_account_balance).
    A bill paid in full becomes 'paid'; paying off every overdue bill reactivates a suspended
    account (its lines stay as they are). State the amount and method and get an explicit yes first.

    Args:
        customer_id: The customer's id, e.g. 'TC001'.
        amount: The amount in dollars, e.g. 45.5.
        payment_method: 'credit_card', 'debit_card' or 'bank_transfer'.
    """
    customer = _customer(db, customer_id)
    if payment_method not in PAYMENT_METHODS:
        raise Refusal(f"invalid payment method {payment_method!r}; valid methods: {', '.join(PAYMENT_METHODS)}")
    amount = float(amount)
    if amount <= 0 or round(amount, 2) != amount:
        raise Refusal(f"the amount must be a positive number of dollars and cents, got {amount}")
    open_bills = _open_bills(db, customer_id)
    outstanding = _balance(open_bills)
    if outstanding <= 0:
        raise Refusal(f"customer {customer_id} has no outstanding balance")
    if amount > outstanding:
        raise Refusal(f"the amount {amount} exceeds the outstanding balance of {outstanding}")

    confirmation = f"PAY{customer_id[-3:]}{str(int(amount))[:4]}"
    remaining, settled = amount, []
    for bill in open_bills:
        if remaining <= 0:
            break
        part = min(_amount_due(bill), remaining)
        remaining = round(remaining - part, 2)
        editable = db["bills"].edit(bill["bill_id"])
        info = editable.setdefault("payment_info", {})
        info.update(
            amount_paid=round((info.get("amount_paid") or 0.0) + part, 2),
            payment_date=TODAY,
            payment_method=payment_method,
            confirmation_number=confirmation,
        )
        if _amount_due(editable) <= 0:
            editable["status"] = "paid"
        settled.append({"bill_id": bill["bill_id"], "amount_applied": part, "status": editable["status"]})
    account = db["customers"].edit(customer_id)
    account.setdefault("payment_history", []).insert(
        0, {"date": TODAY, "amount": amount, "method": payment_method, "status": "paid", "confirmation": confirmation}
    )
    if customer.get("account_status") == "suspended" and not any(
        b.get("status") == "overdue" for b in _open_bills(db, customer_id)
    ):
        account["account_status"] = "active"
    result = {
        "status": "success",
        "confirmation_number": confirmation,
        "amount": amount,
        "payment_method": payment_method,
        "bills": settled,
        "remaining_balance": _balance(_open_bills(db, customer_id)),
        "account_status": account["account_status"],
        "processing_time": "1-2 business days",
    }
    return json.dumps(result)


@TOOLS.write
def suspend_line(db: Database, line_id: str, reason: str) -> str:
    """Suspend an active phone line at the account holder's request; it keeps its number and can be reactivated.

    State what will happen and get an explicit yes first.

    Args:
        line_id: The line's id, e.g. 'L0001'.
        reason: Why: 'lost_or_stolen' (lost or stolen phone), 'travel' (away for a while) or 'temporary_hold'
            (any other temporary pause).
    """
    line = _line(db, line_id)
    if reason not in SUSPENSION_REASONS:
        raise Refusal(f"invalid reason {reason!r}; valid reasons: {', '.join(SUSPENSION_REASONS)}")
    if line.get("status") == "suspended":
        raise Refusal(f"line {line_id} is already suspended")
    _require_status(line, "active", "be suspended")
    line = db["lines"].edit(line_id)
    line["status"] = "suspended"
    line["suspension_reason"] = reason
    line["suspension_date"] = TODAY
    return json.dumps(line)


TOOLS.think(common.think)
TOOLS.terminate(common.transfer_to_human_agents)


@TOOLS.read
def list_plans(db: Database) -> str:
    """List the carrier's plan catalogue: each plan's id, name, monthly data (999 means unlimited), monthly
    price and the price per GB of a data refill."""
    plans = db["plans"]
    return json.dumps([plans[key] for key in plans])


@TOOLS.read
def get_account_balance(db: Database, customer_id: str) -> str:
    """Show what a customer owes: the outstanding balance, the overdue part of it and each open bill.

    Args:
        customer_id: The customer's id, e.g. 'TC001'.
    """
    customer = _customer(db, customer_id)
    open_bills = _open_bills(db, customer_id)
    overdue = [bill for bill in open_bills if bill.get("status") == "overdue"]
    result = {
        "customer_id": customer_id,
        "account_status": customer.get("account_status"),
        "outstanding_balance": _balance(open_bills),
        "overdue_balance": _balance(overdue),
        "open_bills": [
            {
                "bill_id": bill.get("bill_id"),
                "bill_date": bill.get("bill_date"),
                "due_date": bill.get("due_date"),
                "status": bill.get("status"),
                "amount_due": _amount_due(bill),
            }
            for bill in open_bills
        ],
    }
    return json.dumps(result)


@TOOLS.write
def change_plan(db: Database, line_id: str, new_plan_id: str) -> str:
    """Move an active line to another plan of the catalogue, effective at once.

    The line's monthly charge becomes the new plan's price and its monthly total moves by the
    difference. The account must be in good standing (active, nothing overdue), and a line cannot
    move to a plan with less monthly data than it has already used this month. State the new
    price and get an explicit yes first. Returns the updated line.

    Args:
        line_id: The line's id, e.g. 'L0001'.
        new_plan_id: The plan to move to, e.g. 'P1002' (see list_plans).
    """
    line = _line(db, line_id)
    _require_status(line, "active", "change plans")
    plan = require_record(db, "plans", new_plan_id, "plan")
    if line.get("plan_id") == new_plan_id:
        raise Refusal(f"line {line_id} is already on plan {new_plan_id}")
    _require_good_standing(db, line.get("customer_id", ""))
    usage = line.get("usage_current_month", {})
    used = usage.get("data_used_gb", 0.0)
    if plan["data_limit_gb"] < used:
        raise Refusal(
            f"line {line_id} has used {used} GB this month, more than the {plan['data_limit_gb']} GB of {new_plan_id}"
        )
    line = db["lines"].edit(line_id)
    billing = line.setdefault("billing_info", {})
    difference = round(plan["price_per_month"] - billing.get("monthly_charge", 0.0), 2)
    billing["monthly_charge"] = plan["price_per_month"]
    billing["total_monthly"] = round(billing.get("total_monthly", 0.0) + difference, 2)
    line["plan_id"] = new_plan_id
    if "usage_current_month" in line:
        line["usage_current_month"]["data_remaining_gb"] = round(max(plan["data_limit_gb"] - used, 0.0), 2)
    _sync_account_plan(db, line)
    return json.dumps(line)


def _set_roaming(db: Database, line_id: str, enabled: bool) -> str:
    """Add or remove the roaming feature of a line; the caller has made the policy checks."""
    line = db["lines"].edit(line_id)
    features = line.setdefault("features", [])
    if enabled:
        features.append(ROAMING_FEATURE)
    else:
        features.remove(ROAMING_FEATURE)
    _sync_account_plan(db, line)
    return json.dumps(line)


@TOOLS.write
def enable_roaming(db: Database, line_id: str) -> str:
    """Turn on international roaming for an active line of an account in good standing (active, nothing overdue).

    Get an explicit yes first. Returns the updated line.

    Args:
        line_id: The line's id, e.g. 'L0001'.
    """
    line = _line(db, line_id)
    _require_status(line, "active", "turn on roaming")
    if ROAMING_FEATURE in line.get("features", []):
        raise Refusal(f"international roaming is already on for line {line_id}")
    _require_good_standing(db, line.get("customer_id", ""))
    return _set_roaming(db, line_id, True)


@TOOLS.write
def disable_roaming(db: Database, line_id: str) -> str:
    """Turn off international roaming for a line (active or suspended). Get an explicit yes first.

    Args:
        line_id: The line's id, e.g. 'L0001'.
    """
    line = _line(db, line_id)
    if line.get("status") == "disconnected":
        raise Refusal(f"line {line_id} is disconnected")
    if ROAMING_FEATURE not in line.get("features", []):
        raise Refusal(f"international roaming is not on for line {line_id}")
    return _set_roaming(db, line_id, False)


def _reconnection_fee(line: Record) -> float:
    """Free within 30 days of the suspension; otherwise (or when the date is unknown) the reconnection fee."""
    suspended_on = line.get("suspension_date")
    try:
        days = (date.fromisoformat(TODAY) - date.fromisoformat(suspended_on)).days
    except (TypeError, ValueError):
        return RECONNECTION_FEE
    return 0.0 if days <= FREE_REACTIVATION_DAYS else RECONNECTION_FEE


@TOOLS.write
def reactivate_line(db: Database, line_id: str) -> str:
    """Bring a suspended line back into service. A disconnected line cannot be reactivated.

    Needs no overdue bill on the account. Free when the line was suspended at most 30 days ago;
    otherwise a one-time reconnection fee of 25.00 is added to the line's charges. State the fee
    and get an explicit yes first. Returns the line and the fee charged.

    Args:
        line_id: The line's id, e.g. 'L0001'.
    """
    line = _line(db, line_id)
    _require_status(line, "suspended", "be reactivated")
    _require_nothing_overdue(db, line.get("customer_id", ""))
    fee = _reconnection_fee(line)
    line = db["lines"].edit(line_id)
    line["status"] = "active"
    line.pop("suspension_reason", None)
    line.pop("suspension_date", None)
    if fee:
        _add_charge(line, fee, "one_time_charges")
    return json.dumps({"line": line, "reconnection_fee": fee})


@TOOLS.write
def refuel_data(db: Database, line_id: str, gb_amount: int) -> str:
    """Add extra data to an active line for the rest of this month, charged at its plan's refill price per GB.

    Whole GB from 1 to 10; not for unlimited plans; the account must be in good standing. The
    charge is added to the line's one-time charges. State the price and get an explicit yes first.

    Args:
        line_id: The line's id, e.g. 'L0001'.
        gb_amount: Whole gigabytes to add, from 1 to 10.
    """
    line = _line(db, line_id)
    low, high = REFILL_GB
    if not low <= gb_amount <= high:
        raise Refusal(f"a refill is {low} to {high} GB, got {gb_amount}")
    _require_status(line, "active", "be refilled")
    plan = require_record(db, "plans", line.get("plan_id", ""), "plan")
    if plan["data_limit_gb"] >= UNLIMITED_DATA_GB:
        raise Refusal(f"plan {plan['plan_id']} has unlimited data: no refill is needed")
    _require_good_standing(db, line.get("customer_id", ""))
    charge = round(gb_amount * plan["data_refueling_price_per_gb"], 2)
    line = db["lines"].edit(line_id)
    usage = line.setdefault("usage_current_month", {})
    usage["data_remaining_gb"] = round(usage.get("data_remaining_gb", 0.0) + gb_amount, 2)
    _add_charge(line, charge, "one_time_charges")
    result = {
        "line_id": line_id,
        "gb_added": gb_amount,
        "charge": charge,
        "data_remaining_gb": usage["data_remaining_gb"],
        "total_monthly": line["billing_info"]["total_monthly"],
    }
    return json.dumps(result)


SEED_TOOLS = (
    "calculate",
    "get_bill_details",
    "get_customer_info",
    "get_customer_lines",
    "get_line_details",
    "get_usage_details",
    "lookup_customer_by_phone",
    "process_payment",
    "suspend_line",
    "think",
    "transfer_to_human_agents",
)

__all__ = ["SEED_TOOLS", "TODAY", "TOOLS"]
