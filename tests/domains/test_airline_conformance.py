"""τ-bench's own airline tasks check the airline tools: replaying each task's gold actions from the
initial database must give exactly the final-state hash τ-bench recorded for it. The generated
database is also checked against the shape of τ-bench's records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from taurl.core.db import Database
from taurl.core.hashing import canonical_hash
from taurl.core.types import Action
from taurl.domains.airline import DOMAIN
from taurl.domains.airline.generate import generate_database
from tests.conftest import TAUBENCH

SHARED = TAUBENCH / "airline"
N_TASKS = 50

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not (SHARED / "tasks_test.json").exists(), reason=f"τ-bench data not at {SHARED}"),
]


@pytest.fixture(scope="module")
def task_file() -> dict:
    return json.loads((SHARED / "tasks_test.json").read_text())


def _replay(root: Database, task: dict) -> Database:
    episode = root.fork()
    for action in task["actions"]:
        DOMAIN.tools.invoke(episode, Action.from_dict(action))
    return episode


def test_initial_hash_is_reproduced(taubench_base: dict[str, dict], task_file: dict) -> None:
    assert Database(taubench_base).state_hash() == task_file["initial_data_hash"]


def test_gold_actions_reach_gold_hash(taubench_base: dict[str, dict], task_file: dict) -> None:
    tasks = task_file["tasks"]
    assert len(tasks) == N_TASKS
    root = Database(taubench_base)
    mismatches = [task["index"] for task in tasks if _replay(root, task).state_hash() != task["gold_data_hash"]]
    assert not mismatches, f"{len(mismatches)}/{len(tasks)} airline tasks miss their gold hash: {mismatches}"


def test_replays_leave_the_base_untouched(taubench_base: dict[str, dict], task_file: dict) -> None:
    before = canonical_hash(taubench_base)
    root = Database(taubench_base)
    for task in task_file["tasks"]:
        _replay(root, task)
    assert canonical_hash(taubench_base) == before == task_file["initial_data_hash"]
    assert root.state_hash() == before


def _shapes(tables: dict[str, dict]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(kind of record, its field names in order) for every record and nested record."""

    def fields(record: dict[str, Any]) -> tuple[str, ...]:
        return tuple(record)

    for flight in tables["flights"].values():
        yield "flight", fields(flight)
        for day in flight["dates"].values():
            yield f"day:{day['status']}", fields(day)
            for nested in ("available_seats", "prices"):
                if nested in day:
                    yield nested, fields(day[nested])
    for user in tables["users"].values():
        yield "user", fields(user)
        yield "name", fields(user["name"])
        yield "address", fields(user["address"])
        for method in user["payment_methods"].values():
            yield f"payment:{method['source']}", fields(method)
        for person in user["saved_passengers"]:
            yield "passenger", fields(person)
    for reservation in tables["reservations"].values():
        yield "reservation", fields(reservation)
        for segment in reservation["flights"]:
            yield "segment", fields(segment)
        for person in reservation["passengers"]:
            yield "passenger", fields(person)
        for payment in reservation["payment_history"]:
            yield "payment_history", fields(payment)


def test_generated_records_have_tau_bench_shapes(taubench_base: dict[str, dict]) -> None:
    reference = set(_shapes(taubench_base))
    generated = set(_shapes(generate_database(0)))
    assert generated <= reference, sorted(generated - reference)
    assert {kind for kind, _ in generated} == {kind for kind, _ in reference}
