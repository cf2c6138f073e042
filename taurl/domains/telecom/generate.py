"""A small synthetic mobile carrier and tasks over it, with the seed system's record schema.

``generate_database`` builds a plan catalogue, about forty customers with one to three lines each,
their devices and three months of bills (some paid, some open, some overdue), all consistent with
each other and with the fixed date the policy names. ``generate_tasks`` writes customer goals over
that database, each with the gold tool calls that satisfy it under the telecom policy. Everything
comes from ``random.Random(seed)`` and the constants below.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from taurl.core.db import Database
from taurl.core.types import Action, Task
from taurl.domains.generation import (
    Draft,
    FreshValues,
    GoldReplay,
    TaskFormat,
    draft_tasks,
    money_text,
    sample_names,
    shift_day,
    two_decimal_amount,
)
from taurl.domains.telecom.tools import ROAMING_FEATURE, TODAY, TOOLS, UNLIMITED_DATA_GB

# --- catalogue, people and places ------------------------------------------------------------

# plan id -> (name, data GB (999 = unlimited), price per month, refill price per GB, type, minutes, SMS, features)
PLANS: dict[str, tuple[str, float, float, float, str, Any, Any, list[str]]] = {
    "P1001": ("Basic Plan", 5.0, 40.0, 4.99, "mobile", 1000, 500, ["4G LTE", "Visual Voicemail"]),
    "P1002": ("Premium Plan", 15.0, 65.0, 2.49, "mobile", 2000, 1000, ["5G", "Mobile Hotspot", "Visual Voicemail"]),
    "P1003": ("Unlimited Plus", 999.0, 85.0, 0.99, "mobile", "unlimited", "unlimited", ["5G", "Mobile Hotspot"]),
    "P1004": ("Family Share", 25.0, 120.0, 2.99, "family", "unlimited", "unlimited", ["5G", "Parental Controls"]),
    "P1005": ("IoT Basic", 1.0, 15.0, 9.99, "iot", 0, 100, ["LTE-M"]),
    "P1006": ("Starter", 2.0, 25.0, 5.99, "mobile", 500, 250, ["4G LTE"]),
    "P1007": ("Travel Plus", 30.0, 95.0, 1.99, "mobile", "unlimited", "unlimited", ["5G", "Roaming Discounts"]),
    "P1008": ("Student Saver", 10.0, 30.0, 3.49, "mobile", 1500, "unlimited", ["4G LTE", "Mobile Hotspot"]),
}
PHONE_PLANS = [p for p, spec in PLANS.items() if spec[4] != "iot"]
IOT_PLAN = "P1005"
# model -> monthly instalment while the device is not paid off
PHONES = {
    "iPhone 15": 29.99,
    "iPhone 14": 19.99,
    "Samsung Galaxy S24": 27.49,
    "Samsung Galaxy A54": 9.99,
    "Google Pixel 8": 22.99,
    "Motorola Edge": 12.49,
    "OnePlus 12": 24.99,
}
IOT_DEVICES = {"Apple Watch Series 9": 14.99, "GPS Tracker": 4.99}
LINE_FEATURES = ["caller_id", "voicemail", "call_waiting"]
INSURANCE_FEE = 7.99
TAX_RATE = 0.08
FIRST_NAMES = [
    "Aaliyah", "Benedict", "Carmen", "Darius", "Esther", "Felix", "Gloria", "Hector", "Ingrid", "Jamal",
    "Keiko", "Leon", "Marisol", "Nikolai", "Olive", "Pablo", "Rania", "Stefan", "Tamsin", "Ulrich",
    "Valentina", "Winston", "Yara", "Zeke",
]  # fmt: skip
LAST_NAMES = [
    "Adeyemi", "Brennan", "Cho", "Delgado", "Engstrom", "Ferreira", "Gupta", "Hoffman", "Iversen", "Jablonski",
    "Kaur", "Lindgren", "Mbeki", "Nakamura", "O'Connell", "Pereira", "Rahman", "Schulz", "Trujillo", "Vasquez",
]  # fmt: skip
CITIES = [
    ("New York", "NY", "100"), ("Chicago", "IL", "606"), ("Houston", "TX", "770"), ("Miami", "FL", "331"),
    ("Seattle", "WA", "981"), ("Denver", "CO", "802"), ("Boston", "MA", "021"), ("Atlanta", "GA", "303"),
]  # fmt: skip
STREETS = ["Main St", "Oak Ave", "Pine St", "Elm St", "Maple Dr", "Cedar Ln", "Park Blvd", "Lake Rd"]
RELATIONS = ["spouse", "parent", "sibling", "friend", "child"]
LANGUAGES = ["English"] * 6 + ["Spanish", "French", "Mandarin"]
PAY_METHOD_WORDS = {"credit_card": "credit card", "debit_card": "debit card", "bank_transfer": "bank transfer"}
CUSTOMER_COUNT = 40
STANDINGS = {"good": 0.625, "overdue": 0.25, "delinquent": 0.125}  # shares of customers
BILL_MONTHS = ("2025-04", "2025-05", "2025-06")  # the last one is not due yet on TODAY
OVERDUE_MONTHS = {"good": (), "overdue": BILL_MONTHS[1:2], "delinquent": BILL_MONTHS[:2]}
DUE_AFTER_DAYS = 20


def _random_day(rng: random.Random, first: str, last: str) -> str:
    return shift_day(first, rng.randint(0, (date.fromisoformat(last) - date.fromisoformat(first)).days))


# --- lines -----------------------------------------------------------------------------------


def _usage(rng: random.Random, plan_id: str, status: str) -> dict[str, Any]:
    """This month's usage (mid-month): limited plans between 10% and 115% of their data."""
    _, data_gb, _, _, _, minutes, sms, _ = PLANS[plan_id]
    if status == "disconnected":
        used_gb, used_minutes, used_sms = 0.0, 0, 0
    else:
        top = 60.0 if data_gb >= UNLIMITED_DATA_GB else data_gb * (1.15 if status == "active" else 0.4)
        used_gb = two_decimal_amount(rng, max(data_gb * 0.1, 0.1) if data_gb < UNLIMITED_DATA_GB else 1.0, top)
        used_minutes = rng.randint(0, 900) if minutes else 0
        used_sms = rng.randint(0, 400)
    return {
        "data_used_gb": used_gb,
        "minutes_used": used_minutes,
        "sms_sent": used_sms,
        "data_remaining_gb": round(max(data_gb - used_gb, 0.0), 2),
        "minutes_remaining": minutes if isinstance(minutes, str) else max(minutes - used_minutes, 0),
        "sms_remaining": sms if isinstance(sms, str) else max(sms - used_sms, 0),
    }


def _billing(plan_id: str, usage: dict[str, Any], device_payment: float, insured: bool, status: str) -> dict:
    if status == "disconnected":
        return {
            "monthly_charge": 0.0,
            "overage_charges": 0.0,
            "device_payment": 0.0,
            "insurance_fee": 0.0,
            "total_monthly": 0.0,
        }
    _, data_gb, price, refill, *_ = PLANS[plan_id]
    overage = round(max(usage["data_used_gb"] - data_gb, 0.0) * refill, 2) if data_gb < UNLIMITED_DATA_GB else 0.0
    insurance = INSURANCE_FEE if insured else 0.0
    return {
        "monthly_charge": price,
        "overage_charges": overage,
        "device_payment": device_payment,
        "insurance_fee": insurance,
        "total_monthly": round(price + overage + device_payment + insurance, 2),
    }


def _line(
    rng: random.Random, numbers: FreshValues, line_id: str, customer_id: str, status: str, plan_id: str
) -> tuple[dict, dict]:
    """A line and its device record."""
    models = IOT_DEVICES if plan_id == IOT_PLAN else PHONES
    model = rng.choice(list(models))
    device_payment = models[model] if rng.random() < 0.6 else 0.0
    insured = rng.random() < 0.4
    phone_number = numbers.phone()
    imei = numbers.digits(15)
    activated = _random_day(rng, "2019-01-01", "2025-01-31")
    usage = _usage(rng, plan_id, status)
    features = sorted(rng.sample(LINE_FEATURES, rng.randint(1, len(LINE_FEATURES))), key=LINE_FEATURES.index)
    if status != "disconnected" and plan_id != IOT_PLAN and rng.random() < 0.3:
        features.append(ROAMING_FEATURE)
    line: dict[str, Any] = {
        "id": line_id,
        "line_id": line_id,
        "customer_id": customer_id,
        "phone_number": phone_number,
        "line_type": "iot" if plan_id == IOT_PLAN else "mobile",
        "status": status,
        "activation_date": activated,
        "plan_id": plan_id,
        "device_info": {"model": model, "imei": imei, "serial_number": f"SN{numbers.digits(9)}"},
        "features": features,
        "usage_current_month": usage,
        "network_performance": {
            "signal_strength": rng.choice(["excellent", "good", "good", "fair", "poor"]),
            "data_speed_mbps": round(rng.uniform(5, 300), 1),
            "tower_id": f"TOWER_{rng.randint(100, 999)}",
        },
        "billing_info": _billing(plan_id, usage, device_payment, insured, status),
    }
    device = {
        "device_id": f"DEV{numbers.digits(6)}",
        "customer_id": customer_id,
        "line_id": line_id,
        "model": model,
        "imei": imei,
        "phone_number": phone_number,
        "status": "inactive" if status == "disconnected" else "active",
        "activation_date": activated,
        "insurance": insured,
        "monthly_device_payment": device_payment,
    }
    return line, device


def _suspend(rng: random.Random, line: dict, reason: str, recent: bool) -> None:
    """Mark a generated line suspended, recently (reactivation free) or long ago (fee), away from the 30-day edge."""
    line["status"] = "suspended"
    line["suspension_reason"] = reason
    line["suspension_date"] = (
        _random_day(rng, shift_day(TODAY, -26), shift_day(TODAY, -3))
        if recent
        else _random_day(rng, shift_day(TODAY, -134), shift_day(TODAY, -36))
    )


# --- bills -----------------------------------------------------------------------------------


def _bill(rng: random.Random, bill_id: str, customer_id: str, month: str, lines: list[dict]) -> dict:
    start = f"{month}-01"
    end = shift_day(f"{shift_day(start, 31)[:7]}-01", -1)  # the day before the first of the next month
    line_charges, usage = [], {"total_data_gb": 0.0, "total_minutes": 0, "total_sms": 0}
    for line in lines:
        billing = line["billing_info"]
        overage = (
            billing["overage_charges"]
            if month == BILL_MONTHS[-1]
            else rng.choice([0.0, two_decimal_amount(rng, 1, 30)])
        )
        charge = {
            "line_id": line["line_id"],
            "phone_number": line["phone_number"],
            "plan_charge": billing["monthly_charge"],
            "overage_charges": overage,
            "device_payment": billing["device_payment"],
            "insurance": billing["insurance_fee"],
        }
        charge["total"] = round(sum(v for v in charge.values() if isinstance(v, float)), 2)
        line_charges.append(charge)
        usage["total_data_gb"] = round(usage["total_data_gb"] + two_decimal_amount(rng, 0.5, 20), 2)
        usage["total_minutes"] += rng.randint(50, 900)
        usage["total_sms"] += rng.randint(10, 400)
    subtotal = round(sum(c["total"] for c in line_charges), 2)
    taxes = round(subtotal * TAX_RATE, 2)
    return {
        "id": bill_id,
        "bill_id": bill_id,
        "customer_id": customer_id,
        "billing_period": {"start_date": start, "end_date": end},
        "bill_date": start,
        "due_date": shift_day(start, DUE_AFTER_DAYS),
        "status": "unpaid",
        "charges": {
            "line_charges": line_charges,
            "subtotal": subtotal,
            "taxes_and_fees": taxes,
            "total": round(subtotal + taxes, 2),
        },
        "usage_summary": usage,
        "payment_info": {"amount_paid": 0.0, "payment_date": None, "payment_method": None, "confirmation_number": None},
    }


def _settle(rng: random.Random, numbers: FreshValues, bill: dict, method: str) -> dict:
    """Mark a generated bill paid before its due date; returns the payment-history entry."""
    paid_on = shift_day(bill["due_date"], -rng.randint(1, 15))
    confirmation = f"PAY{numbers.digits(6)}"
    bill["status"] = "paid"
    bill["payment_info"] = {
        "amount_paid": bill["charges"]["total"],
        "payment_date": paid_on,
        "payment_method": method,
        "confirmation_number": confirmation,
    }
    return {
        "date": paid_on,
        "amount": bill["charges"]["total"],
        "method": method,
        "status": "paid",
        "confirmation": confirmation,
    }


# --- customers -------------------------------------------------------------------------------


def _plan_details(line: dict) -> dict:
    name, data_gb, price, _, kind, minutes, sms, features = PLANS[line["plan_id"]]
    return {
        "plan_id": line["plan_id"],
        "name": name,
        "type": kind,
        "data_limit_gb": data_gb,
        "minutes_limit": minutes,
        "sms_limit": sms,
        "price_per_month": price,
        "features": list(features),
        "roaming_enabled": ROAMING_FEATURE in line["features"],
    }


def _customer(
    rng: random.Random,
    numbers: FreshValues,
    customer_id: str,
    name: tuple[str, str],
    lines: list[dict],
    devices: list[dict],
    history: list[dict],
    account: dict[str, Any],
) -> dict:
    """A customer record; its contact number is the first line's, its ``plan_details`` that line's plan;
    ``account`` gives its ``account_status`` and ``auto_pay``."""
    first, last = name
    city, state, zip_prefix = rng.choice(CITIES)
    handle = f"{first}.{last}".lower().replace("'", "")
    return {
        "id": customer_id,
        "customer_id": customer_id,
        "name": f"{first} {last}",
        "email": f"{handle}{rng.randint(100, 999)}@email.com",
        "phone": lines[0]["phone_number"],
        "date_of_birth": _random_day(rng, "1950-01-01", "2004-12-31"),
        "address": {
            "street": f"{rng.randint(100, 9999)} {rng.choice(STREETS)}",
            "city": city,
            "state": state,
            "zip": f"{zip_prefix}{rng.randint(10, 99)}",
        },
        "account_status": account["account_status"],
        "customer_since": min(line["activation_date"] for line in lines),
        "security_pin": numbers.digits(4),
        "account_type": "individual" if len(lines) == 1 else rng.choice(["family", "business"]),
        "credit_score": rng.randint(520, 820),
        "monthly_spending_limit": rng.choice([100, 200, 300, 500]),
        "auto_pay": account["auto_pay"],
        "billing_cycle": "monthly",
        "preferred_language": rng.choice(LANGUAGES),
        "marketing_consent": rng.random() < 0.4,
        "emergency_contact": {
            "name": f"{rng.choice(FIRST_NAMES)} {last}",
            "phone": numbers.phone(),
            "relationship": rng.choice(RELATIONS),
        },
        "plan_details": _plan_details(lines[0]),
        "devices": [{k: v for k, v in device.items() if k not in ("customer_id", "line_id")} for device in devices],
        "usage_patterns": {
            "average_monthly_data_gb": two_decimal_amount(rng, 1, 40),
            "average_monthly_minutes": rng.randint(100, 1500),
            "average_monthly_sms": rng.randint(20, 800),
        },
        "payment_history": history,
    }


def _statuses(rng: random.Random, count: int) -> list[str]:
    first = "active" if rng.random() < 0.85 else "suspended"
    return [first] + rng.choices(["active", "suspended", "disconnected"], weights=[60, 22, 18], k=count - 1)


def generate_database(seed: int = 0) -> dict[str, dict]:
    """A small, consistent carrier: ``{"customers", "lines", "plans", "bills", "devices"}``.

    Standing is drawn per customer: in good standing, one overdue bill, or two overdue bills (the
    account and its working lines are then suspended for non-payment). Auto-pay customers have
    paid this month's bill; the others still owe it.
    """
    rng = random.Random(seed)
    numbers = FreshValues(rng)
    plans = {
        plan_id: {
            "plan_id": plan_id,
            "name": spec[0],
            "data_limit_gb": spec[1],
            "price_per_month": spec[2],
            "data_refueling_price_per_gb": spec[3],
        }
        for plan_id, spec in PLANS.items()
    }
    customers: dict[str, dict] = {}
    lines: dict[str, dict] = {}
    devices: dict[str, dict] = {}
    bills: dict[str, dict] = {}
    names = sample_names(rng, FIRST_NAMES, LAST_NAMES, CUSTOMER_COUNT)
    standings = rng.sample(
        [s for s, share in STANDINGS.items() for _ in range(round(share * CUSTOMER_COUNT))], CUSTOMER_COUNT
    )
    for index, (first, last) in enumerate(names, start=1):
        customer_id = f"TC{index:03d}"
        count = rng.choices([1, 2, 3], weights=[45, 30, 25])[0]
        standing = standings[index - 1]
        mine = []
        for status in _statuses(rng, count):
            line_id = f"L{len(lines) + 1:04d}"
            plan_id = IOT_PLAN if mine and rng.random() < 0.12 else rng.choice(PHONE_PLANS)
            line, device = _line(rng, numbers, line_id, customer_id, status, plan_id)
            if status == "suspended":
                _suspend(rng, line, rng.choice(["lost_or_stolen", "travel", "temporary_hold"]), rng.random() < 0.5)
            lines[line_id], devices[device["device_id"]] = line, device
            mine.append(line)
        if standing == "delinquent":
            recent = rng.random() < 0.5
            for line in mine:
                if line["status"] == "active":
                    _suspend(rng, line, "non_payment", recent)
        auto_pay = standing == "good" and rng.random() < 0.5
        method = rng.choice(list(PAY_METHOD_WORDS))
        billed = [line for line in mine if line["status"] != "disconnected"]
        history = []
        for month in BILL_MONTHS:
            bill_id = f"B{len(bills) + 1:04d}"
            bill = bills[bill_id] = _bill(rng, bill_id, customer_id, month, billed)
            if month in OVERDUE_MONTHS[standing]:
                bill["status"] = "overdue"
            elif month != BILL_MONTHS[-1] or auto_pay:
                history.insert(0, _settle(rng, numbers, bill, method))
        owned = [device for device in devices.values() if device["customer_id"] == customer_id]
        account = {"account_status": "suspended" if standing == "delinquent" else "active", "auto_pay": auto_pay}
        customers[customer_id] = _customer(rng, numbers, customer_id, (first, last), mine, owned, history, account)
    return {"customers": customers, "lines": lines, "plans": plans, "bills": bills, "devices": devices}


# --- tasks -----------------------------------------------------------------------------------

PERSONAS = [
    "You are polite and patient.",
    "You are busy and keep your messages short.",
    "You are chatty and friendly.",
    "You are careful and want each step explained before you agree to it.",
    "You are not good with technology and need things explained simply.",
    "You are a little annoyed but stay civil.",
    "You are direct and businesslike.",
]
SUSPEND_STORIES = {
    "lost_or_stolen": ["You lost your phone on the train yesterday.", "Your phone was stolen this morning."],
    "travel": ["You will be working abroad for four months and will not use the line while you are away."],
    "temporary_hold": ["You do not need the line for a while and want to pause it for now."],
}
COUNTRIES = ["Portugal", "Japan", "Mexico", "Canada", "Italy", "Kenya", "Australia", "Germany"]
TASK_FORMAT = TaskFormat("telecom", PERSONAS)


class _Writer:
    """Reads the generated database (and runs tools on a scratch copy) to phrase goals and gold calls."""

    def __init__(self, data: dict[str, dict], rng: random.Random):
        self.rng = rng
        self.replay = GoldReplay(TOOLS, Database(data))
        self.customers, self.lines, self.plans = data["customers"], data["lines"], data["plans"]

    def run(self, *actions: Action) -> Any:
        """The parsed answer of the last action, each run in order on a fresh copy of the database."""
        return self.replay.require(actions)[-1]

    def balance(self, customer_id: str) -> dict:
        return self.run(Action("get_account_balance", {"customer_id": customer_id}))

    def lines_of(self, customer_id: str, *statuses: str) -> list[dict]:
        return [
            line
            for line in self.lines.values()
            if line["customer_id"] == customer_id and (not statuses or line["status"] in statuses)
        ]

    def good_standing(self, customer_id: str) -> bool:
        balance = self.balance(customer_id)
        return balance["account_status"] == "active" and balance["overdue_balance"] == 0

    def identify(self, customer_id: str, wrong_pin: bool = False) -> tuple[str, Action]:
        """How the customer introduces themself, and the lookup that finds the account."""
        customer = self.customers[customer_id]
        pin = customer["security_pin"]
        while wrong_pin and pin == customer["security_pin"]:
            pin = str(self.rng.randint(1000, 9999))
        if self.rng.random() < 0.4:
            intro = f"You are {customer['name']}, customer id {customer_id}."
            action = Action("get_customer_info", {"customer_id": customer_id})
        else:
            numbers = [customer["phone"], *(line["phone_number"] for line in self.lines_of(customer_id, "active"))]
            phone = self.rng.choice(list(dict.fromkeys(numbers)))
            intro = f"You are {customer['name']} and you are calling about the account of your number {phone}."
            action = Action("lookup_customer_by_phone", {"phone_number": phone})
        return f"{intro} Your security PIN is {pin}.", action

    def refer(self, line: dict) -> str:
        """The line by its number, or by its device when no other line of the customer has that model."""
        model = line["device_info"]["model"]
        others = [other for other in self.lines_of(line["customer_id"]) if other["device_info"]["model"] == model]
        if len(others) == 1 and self.rng.random() < 0.35:
            return f"the line of your {model}"
        return f"your line {line['phone_number']}"

    def line_task(self, template: str, line: dict, goal: str, calls: list[Action], rules: list[str], **kw: Any):
        """A draft about one line: identify, list the lines, then ``calls``."""
        customer_id = line["customer_id"]
        intro, auth = self.identify(customer_id)
        lines = Action("get_customer_lines", {"customer_id": customer_id})
        return Draft(template, customer_id, intro, goal, [auth, lines, *calls], ["R1", *rules], **kw)

    def plan_name(self, plan_id: str) -> str:
        return self.plans[plan_id]["name"]


def _method(w: _Writer) -> tuple[str, str]:
    method = w.rng.choice(list(PAY_METHOD_WORDS))
    return method, PAY_METHOD_WORDS[method]


# Each template turns one candidate (a customer or line id) into a draft, or None when it does not fit.


def _pay(w: _Writer, customer_id: str, part: str) -> Draft | None:
    """Pay the whole balance, only the overdue part, or a round amount of it."""
    balance = w.balance(customer_id)
    outstanding, overdue = balance["outstanding_balance"], balance["overdue_balance"]
    method, words = _method(w)
    if part == "all" and outstanding > 0:
        amount, goal = outstanding, f"You want to pay your whole outstanding balance by {words}."
    elif part == "overdue" and 0 < overdue < outstanding:
        amount, goal = overdue, f"You want to pay only the overdue part of your balance, by {words}, not the rest."
    elif part == "fixed" and outstanding > 30:
        amount = float(w.rng.choice([x for x in (20, 25, 30, 40, 50, 75, 100) if x < outstanding]))
        goal = f"You want to pay {amount:.2f} dollars towards your balance by {words}."
    else:
        return None
    payment = Action("process_payment", {"customer_id": customer_id, "amount": amount, "payment_method": method})
    result = w.run(payment)
    outputs: list[str] = []
    if part == "all" and w.rng.random() < 0.5:
        goal += " You want the confirmation number of the payment."
        outputs = [result["confirmation_number"]]
    elif part != "all" and money_text(result["remaining_balance"]):
        goal += " Afterwards you want to know how much you still owe."
        outputs = [money_text(result["remaining_balance"])]
    intro, auth = w.identify(customer_id)
    actions = [auth, Action("get_account_balance", {"customer_id": customer_id}), payment]
    return Draft(f"pay_{part}", customer_id, intro, goal, actions, ["R1", "R3", "R4"], outputs)


def _suspend_task(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    reason = w.rng.choice(list(SUSPEND_STORIES))
    story = w.rng.choice(SUSPEND_STORIES[reason])
    goal = f"{story} You want {w.refer(line)} suspended."
    call = Action("suspend_line", {"line_id": line_id, "reason": reason})
    return w.line_task("suspend_line", line, goal, [call], ["R3", "R6"])


def _reactivate(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    if w.balance(line["customer_id"])["overdue_balance"]:
        return None
    call = Action("reactivate_line", {"line_id": line_id})
    result = w.run(call)
    goal = f"You want {w.refer(line)}, which is suspended, working again. If there is a fee you accept it."
    total = money_text(result["line"]["billing_info"]["total_monthly"])
    outputs = []
    if total and result["reconnection_fee"] and w.rng.random() < 0.7:
        goal += " You also want to know the line's monthly total afterwards."
        outputs = [total]
    return w.line_task("reactivate_line", line, goal, [call], ["R3", "R7", "R8"], outputs=outputs)


def _pay_then_reactivate(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    customer_id = line["customer_id"]
    overdue = w.balance(customer_id)["overdue_balance"]
    if not overdue:
        return None
    method, words = _method(w)
    goal = (
        f"{w.refer(line).capitalize()} is suspended and you want it working again. You are willing to pay what is "
        f"overdue (and no more than that) by {words}, and you accept a reconnection fee if there is one."
    )
    calls = [
        Action("get_account_balance", {"customer_id": customer_id}),
        Action("process_payment", {"customer_id": customer_id, "amount": overdue, "payment_method": method}),
        Action("reactivate_line", {"line_id": line_id}),
    ]
    return w.line_task("pay_then_reactivate", line, goal, calls, ["R3", "R4", "R7", "R8"])


def _plan_choices(w: _Writer, line: dict, allowed: bool) -> list[str]:
    """Other phone plans the line may (or, with ``allowed`` False, may not) move to under the data rule."""
    used = line["usage_current_month"]["data_used_gb"]
    return [p for p in PHONE_PLANS if p != line["plan_id"] and (w.plans[p]["data_limit_gb"] >= used) is allowed]


def _change_plan(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    choices = _plan_choices(w, line, True)
    if line["plan_id"] == IOT_PLAN or not choices or not w.good_standing(line["customer_id"]):
        return None
    plan_id = w.rng.choice(choices)
    call = Action("change_plan", {"line_id": line_id, "new_plan_id": plan_id})
    goal = f"You want to move {w.refer(line)} to the {w.plan_name(plan_id)}."
    total = money_text(w.run(call)["billing_info"]["total_monthly"])
    outputs = []
    if total and w.rng.random() < 0.5:
        goal += " You want to know the line's new monthly total."
        outputs = [total]
    calls = [Action("list_plans", {}), call]
    return w.line_task("change_plan", line, goal, calls, ["R3", "R5", "R9", "R10"], outputs=outputs)


def _enable_roaming(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    if ROAMING_FEATURE in line["features"] or line["plan_id"] == IOT_PLAN or not w.good_standing(line["customer_id"]):
        return None
    goal = (
        f"You are travelling to {w.rng.choice(COUNTRIES)} next week and want international roaming on {w.refer(line)}."
    )
    call = Action("enable_roaming", {"line_id": line_id})
    return w.line_task("enable_roaming", line, goal, [call], ["R3", "R5", "R11"])


def _disable_roaming(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    if ROAMING_FEATURE not in line["features"]:
        return None
    goal = f"You are back from a trip abroad and want international roaming turned off on {w.refer(line)}."
    call = Action("disable_roaming", {"line_id": line_id})
    return w.line_task("disable_roaming", line, goal, [call], ["R3", "R11"])


def _refill(w: _Writer, line_id: str, buy: bool = True) -> Draft | None:
    line = w.lines[line_id]
    plan = w.plans[line["plan_id"]]
    if plan["data_limit_gb"] >= UNLIMITED_DATA_GB or (buy and not w.good_standing(line["customer_id"])):
        return None
    gb = w.rng.randint(1, 10)
    charge = money_text(round(gb * plan["data_refueling_price_per_gb"], 2))
    if charge is None:
        return None
    if buy:
        goal = f"You are running low on data on {w.refer(line)} and want to buy {gb} GB of extra data."
        goal += " You want to know what it costs."
        calls = [Action("list_plans", {}), Action("refuel_data", {"line_id": line_id, "gb_amount": gb})]
        return w.line_task("refuel_data", line, goal, calls, ["R3", "R5", "R12"], outputs=[charge])
    goal = f"You want to know what {gb} GB of extra data would cost on {w.refer(line)}. You do not want to buy it now."
    calls = [
        Action("list_plans", {}),
        Action("calculate", {"expression": f"{gb} * {plan['data_refueling_price_per_gb']}"}),
    ]
    return w.line_task("refill_quote", line, goal, calls, ["R12"], outputs=[charge])


def _refill_quote(w: _Writer, line_id: str) -> Draft | None:
    return _refill(w, line_id, buy=False)


def _pay_and_roam(w: _Writer, line_id: str) -> Draft | None:
    """Clear the overdue balance so that roaming can be turned on."""
    line = w.lines[line_id]
    customer_id = line["customer_id"]
    balance = w.balance(customer_id)
    if not balance["overdue_balance"] or ROAMING_FEATURE in line["features"] or line["plan_id"] == IOT_PLAN:
        return None
    if w.customers[customer_id]["account_status"] != "active":
        return None
    method, words = _method(w)
    goal = (
        f"You are flying to {w.rng.choice(COUNTRIES)} soon and want international roaming on {w.refer(line)}. If "
        f"something has to be paid first, you pay exactly what is required by {words}."
    )
    calls = [
        Action("get_account_balance", {"customer_id": customer_id}),
        Action(
            "process_payment",
            {"customer_id": customer_id, "amount": balance["overdue_balance"], "payment_method": method},
        ),
        Action("enable_roaming", {"line_id": line_id}),
    ]
    return w.line_task("pay_and_roam", line, goal, calls, ["R3", "R4", "R5", "R11"])


def _suspend_and_change(w: _Writer, customer_id: str) -> Draft | None:
    """Two lines in one call: suspend a lost phone's line and move another line to a new plan."""
    active = [line for line in w.lines_of(customer_id, "active") if line["plan_id"] != IOT_PLAN]
    if len(active) < 2 or not w.good_standing(customer_id):
        return None
    lost, other = w.rng.sample(active, 2)
    choices = _plan_choices(w, other, True)
    if not choices:
        return None
    plan_id = w.rng.choice(choices)
    goal = (
        f"Your phone with the number {lost['phone_number']} was stolen and you want that line suspended. You "
        f"also want the line {other['phone_number']} moved to the {w.plan_name(plan_id)}."
    )
    intro, auth = w.identify(customer_id)
    actions = [
        auth,
        Action("get_customer_lines", {"customer_id": customer_id}),
        Action("suspend_line", {"line_id": lost["line_id"], "reason": "lost_or_stolen"}),
        Action("list_plans", {}),
        Action("change_plan", {"line_id": other["line_id"], "new_plan_id": plan_id}),
    ]
    return Draft("suspend_and_change", customer_id, intro, goal, actions, ["R1", "R3", "R6", "R9", "R10"])


def _bill_total(w: _Writer, customer_id: str) -> Draft | None:
    month = w.rng.choice(BILL_MONTHS)
    lookup = Action("get_bill_details", {"customer_id": customer_id, "bill_date": month})
    total = money_text(w.run(lookup)[0]["charges"]["total"])
    if total is None:
        return None
    label = date.fromisoformat(f"{month}-01").strftime("%B %Y")
    intro, auth = w.identify(customer_id)
    goal = f"You want to know the total amount of your bill for {label}. You do not want to change anything."
    return Draft("bill_total", customer_id, intro, goal, [auth, lookup], ["R1"], [total])


def _data_left(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    remaining = line["usage_current_month"]["data_remaining_gb"]
    if w.plans[line["plan_id"]]["data_limit_gb"] >= UNLIMITED_DATA_GB or not remaining or not money_text(remaining):
        return None
    customer_id = line["customer_id"]
    goal = f"You want to know how much data is left this month on {w.refer(line)}. You do not want to change anything."
    if len(w.lines_of(customer_id)) == 1:
        intro, auth = w.identify(customer_id)
        actions = [auth, Action("get_usage_details", {"customer_id": customer_id})]
        return Draft("data_left", customer_id, intro, goal, actions, ["R1"], [money_text(remaining)])
    call = Action("get_usage_details", {"customer_id": customer_id, "line_id": line_id})
    return w.line_task("data_left", line, goal, [call], [], outputs=[money_text(remaining)])


def _balance_due(w: _Writer, customer_id: str) -> Draft | None:
    outstanding = w.balance(customer_id)["outstanding_balance"]
    if not outstanding or not money_text(outstanding):
        return None
    intro, auth = w.identify(customer_id)
    goal = "You want to know how much you owe in total right now. You do not want to pay today."
    actions = [auth, Action("get_account_balance", {"customer_id": customer_id})]
    return Draft("balance_due", customer_id, intro, goal, actions, ["R1"], [money_text(outstanding)])


def _plan_of_line(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    goal = f"You want to know the name of the plan {w.refer(line)} is on. You do not want to change anything."
    return w.line_task(
        "plan_of_line", line, goal, [Action("list_plans", {})], [], outputs=[w.plan_name(line["plan_id"])]
    )


def _wrong_pin(w: _Writer, customer_id: str) -> Draft | None:
    intro, auth = w.identify(customer_id, wrong_pin=True)
    wish = w.rng.choice(
        ["to know your outstanding balance", "to suspend one of your lines", "to turn on international roaming"]
    )
    goal = f"You want {wish}. If the agent says the PIN is wrong, you say you do not remember another one and end the call."
    return Draft("refuse_wrong_pin", customer_id, intro, goal, [auth], ["R1"], refusal=True)


def _other_account(w: _Writer, customer_id: str) -> Draft | None:
    others = [line for line in w.lines.values() if line["customer_id"] != customer_id and line["status"] == "active"]
    target = w.rng.choice(others)
    relation = w.rng.choice(["sister", "brother", "neighbour", "colleague", "son"])
    goal = (
        f"Your {relation} asked you to suspend their phone line {target['phone_number']}, which is on their own "
        "account, because they lost the phone. If the agent refuses, you accept that and end the call."
    )
    intro, auth = w.identify(customer_id)
    return Draft("refuse_other_account", customer_id, intro, goal, [auth], ["R1", "R2"], refusal=True)


def _refuse_line(w: _Writer, line: dict, template: str, goal: str, rules: list[str], plans: bool) -> Draft:
    calls = [Action("list_plans", {})] if plans else []
    return w.line_task(template, line, goal, calls, rules, refusal=True)


def _reactivate_disconnected(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    goal = (
        f"You want to reactivate your old line {line['phone_number']}. If the agent says it cannot be done, you "
        "accept that and want nothing else."
    )
    return _refuse_line(w, line, "refuse_reactivate_disconnected", goal, ["R7"], plans=False)


def _downgrade_blocked(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    choices = _plan_choices(w, line, False)
    if line["plan_id"] == IOT_PLAN or not choices or not w.good_standing(line["customer_id"]):
        return None
    plan_id = w.rng.choice(choices)
    goal = (
        f"You want to move {w.refer(line)} to the {w.plan_name(plan_id)} right away. If the agent says it is "
        "not possible this month, you keep your current plan and want nothing else."
    )
    return _refuse_line(w, line, "refuse_downgrade", goal, ["R10"], plans=True)


def _overdue_blocks(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    if w.good_standing(line["customer_id"]) or line["plan_id"] == IOT_PLAN:
        return None
    choices = _plan_choices(w, line, True)
    if choices and (ROAMING_FEATURE in line["features"] or w.rng.random() < 0.5):
        wish = f"move {w.refer(line)} to the {w.plan_name(w.rng.choice(choices))}"
    elif ROAMING_FEATURE not in line["features"]:
        wish = f"turn on international roaming on {w.refer(line)}"
    else:
        return None
    goal = f"You want to {wish}. You do not want to pay anything today; if payment is required, you end the call."
    return _refuse_line(w, line, "refuse_overdue", goal, ["R5"], plans=False)


def _overpay(w: _Writer, customer_id: str) -> Draft | None:
    outstanding = w.balance(customer_id)["outstanding_balance"]
    amount = max(200, int(outstanding) + 100)
    method, words = _method(w)
    goal = (
        f"You want to pay {amount} dollars by {words} now so that you have credit for the coming months. If the "
        "agent says you cannot pay more than you owe, you decide not to pay anything today."
    )
    intro, auth = w.identify(customer_id)
    actions = [auth, Action("get_account_balance", {"customer_id": customer_id})]
    return Draft("refuse_overpay", customer_id, intro, goal, actions, ["R1", "R4"], refusal=True)


def _refill_unlimited(w: _Writer, line_id: str) -> Draft | None:
    line = w.lines[line_id]
    if w.plans[line["plan_id"]]["data_limit_gb"] < UNLIMITED_DATA_GB:
        return None
    goal = (
        f"You want to buy 5 GB of extra data for {w.refer(line)}. If the agent says it is not needed, you accept that."
    )
    return _refuse_line(w, line, "refuse_refill_unlimited", goal, ["R12"], plans=True)


Template = Callable[[_Writer, str], Draft | None]


def _templates(w: _Writer) -> Iterator[tuple[Template, list[str], int]]:
    """Each template with the candidates it draws from and how many tasks to write with it."""
    customers = list(w.customers)
    lines = list(w.lines)

    def status(*statuses: str) -> list[str]:
        return [line_id for line_id in lines if w.lines[line_id]["status"] in statuses]

    yield functools.partial(_pay, part="all"), customers, 22
    yield functools.partial(_pay, part="overdue"), customers, 10
    yield functools.partial(_pay, part="fixed"), customers, 14
    yield _suspend_task, status("active"), 24
    yield _reactivate, status("suspended"), 18
    yield _pay_then_reactivate, status("suspended"), 12
    yield _change_plan, status("active"), 24
    yield _enable_roaming, status("active"), 16
    yield _disable_roaming, status("active", "suspended"), 10
    yield _refill, status("active"), 16
    yield _pay_and_roam, status("active"), 8
    yield _suspend_and_change, customers, 8
    yield _bill_total, customers, 16
    yield _data_left, status("active"), 12
    yield _balance_due, customers, 10
    yield _plan_of_line, status("active", "suspended"), 8
    yield _refill_quote, status("active"), 8
    yield _wrong_pin, customers, 10
    yield _other_account, customers, 8
    yield _reactivate_disconnected, status("disconnected"), 8
    yield _downgrade_blocked, status("active"), 10
    yield _overdue_blocks, status("active"), 8
    yield _overpay, customers, 6
    yield _refill_unlimited, status("active"), 6


def generate_tasks(db: dict[str, dict], seed: int = 0) -> dict[str, list[Task]]:
    """Tasks over ``db`` (from :func:`generate_database`): ``{"train": [...], "test": [...]}``.

    Each task starts from the untouched database, so tasks may concern the same account.
    """
    rng = random.Random(seed)
    writer = _Writer(db, rng)
    return draft_tasks(writer, _templates(writer), rng, TASK_FORMAT, writer.replay, rounds=3)


__all__ = ["generate_database", "generate_tasks"]
