"""The healthcare domain: a clinic's patient desk (the seed system's healthcare environment)."""

from __future__ import annotations

from taurl.domains.base import Domain
from taurl.domains.healthcare.tools import SEED_TOOLS, TOOLS

DOMAIN = Domain.builtin(
    __file__,
    TOOLS,
    tables=("patients", "doctors", "appointments"),
    id_fields={"patients": "patient_id", "doctors": "doctor_id", "appointments": "appointment_id"},
    tool_sets={"seed": SEED_TOOLS},
    rules_enforced={
        "R4": "book_appointment, reschedule_appointment",
        "R5": "book_appointment, reschedule_appointment",
        "R6": "book_appointment",
        "R7": "book_appointment",
        "R8": "cancel_appointment",
        "R9": "cancel_appointment",
        "R10": "reschedule_appointment",
        "R11": "request_prescription_refill",
        "R12": "update_patient_contact",
    },
)

__all__ = ["DOMAIN", "TOOLS"]
