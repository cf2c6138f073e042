"""The telecom domain: a mobile carrier's customer-service desk (the seed system's telecom environment)."""

from __future__ import annotations

from typing import Any

from taurl.domains.base import DataError, Domain, json_kind, records_by_id
from taurl.domains.telecom.tools import SEED_TOOLS, TOOLS


def _devices_by_id(data: Any) -> dict[str, Any]:
    """``devices.json``: the seed's ``{"devices": [record, ...]}`` or taurl's ``{device_id: record}``."""
    if isinstance(data, dict) and isinstance(data.get("devices"), list):
        data = data["devices"]
    if isinstance(data, list):
        return records_by_id(data, "device_id")
    if isinstance(data, dict):
        return data
    raise DataError(f"expected an object of devices by id, or a list of them, got {json_kind(data)}")


DOMAIN = Domain.builtin(
    __file__,
    TOOLS,
    tables=("customers", "lines", "plans", "bills", "devices"),
    id_fields={"customers": "customer_id", "lines": "line_id", "plans": "plan_id", "bills": "bill_id"},
    tool_sets={"seed": SEED_TOOLS},
    readers={"devices": _devices_by_id},
    rules_enforced={
        "R4": "process_payment",
        "R5": "change_plan, enable_roaming, refuel_data",
        "R6": "suspend_line",
        "R7": "reactivate_line",
        "R8": "reactivate_line",
        "R9": "change_plan",
        "R10": "change_plan",
        "R11": "enable_roaming, disable_roaming",
        "R12": "refuel_data",
    },
)

__all__ = ["DOMAIN", "TOOLS"]
