"""The airline domain: τ-bench's airline tools plus the seed system's five, an airline policy in taurl's
words, generated data.

τ-bench's own tasks see its fourteen tools (the ``default`` tool set); generated tasks that need the
extra tools ask for ``extended``. Airports, aircraft and which aircraft flies which flight are static
reference tables, outside the state and its hash.
"""

from __future__ import annotations

from taurl.domains.airline.tools import TOOLS
from taurl.domains.base import Domain

TAU_BENCH_TOOLS = (
    "book_reservation",
    "calculate",
    "cancel_reservation",
    "get_reservation_details",
    "get_user_details",
    "list_all_airports",
    "search_direct_flight",
    "search_onestop_flight",
    "send_certificate",
    "think",
    "transfer_to_human_agents",
    "update_reservation_baggages",
    "update_reservation_flights",
    "update_reservation_passengers",
)
SEED_EXTRA_TOOLS = ("check_flight_status", "get_aircraft_info", "get_airport_info", "lookup_passenger", "upgrade_seat")

DOMAIN = Domain.builtin(
    __file__,
    TOOLS,
    tables=("flights", "reservations", "users"),
    references=("airports", "aircraft", "fleet"),
    tool_sets={
        "default": TAU_BENCH_TOOLS,
        "extended": TAU_BENCH_TOOLS + SEED_EXTRA_TOOLS,
        "seed": TAU_BENCH_TOOLS + SEED_EXTRA_TOOLS,
    },
    rules_enforced={
        "R4": "book_reservation",
        "R8": "upgrade_seat",
        "R10": "update_reservation_passengers",
        "R11": "update_reservation_flights, update_reservation_baggages, upgrade_seat",
    },
)

__all__ = ["DOMAIN", "SEED_EXTRA_TOOLS", "TAU_BENCH_TOOLS", "TOOLS"]
