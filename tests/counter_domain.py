"""A two-table toy domain used by the core tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypedDict

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry
from taurl.domains.base import Domain


class Step(TypedDict):
    counter: Annotated[str, "Counter id."]
    amount: Annotated[int, "How much to add."]


def make_registry() -> ToolRegistry:
    tools = ToolRegistry("counter")

    @tools.read
    def get_counter(db: Database, counter_id: str) -> str:
        """Read one counter.

        Args:
            counter_id: The counter's id, such as 'a'.
        """
        if counter_id not in db["counters"]:
            return "Error: counter not found"
        return str(db["counters"][counter_id]["value"])

    @tools.write
    def add(db: Database, counter_id: str, amount: int, mode: Literal["add", "set"] = "add") -> str:
        """Change a counter.

        Args:
            counter_id: The counter's id.
            amount: The amount
                to add or set.
            mode: Whether to add or set.
        """
        if counter_id not in db["counters"]:
            return "Error: counter not found"
        record = db["counters"].edit(counter_id)
        record["value"] = amount if mode == "set" else record["value"] + amount
        return str(record["value"])

    @tools.write
    def batch(db: Database, steps: list[Step], note: str | None = None) -> str:
        """Apply several additions."""
        for step in steps:
            db["counters"].edit(step["counter"])["value"] += step["amount"]
        return "ok"

    @tools.write
    def explode(db: Database) -> str:
        """Change a counter, then fail."""
        db["counters"].edit("a")["value"] = -1
        raise RuntimeError("boom")

    @tools.think
    def think(db: Database, thought: str) -> str:
        """Think."""
        return ""

    @tools.terminate
    def transfer_to_human_agents(db: Database, summary: str) -> str:
        """Hand over to a person."""
        return "Transfer successful"

    return tools


def make_domain(root: Path) -> Domain:
    return Domain(
        name="counter", tools=make_registry(), policy="Be nice.", tables={"counters": "counters.json"}, package_dir=root
    )
