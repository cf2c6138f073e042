"""τ-bench's own retail tasks check the retail tools: replaying each task's gold actions from the
initial database must give exactly the final-state hash τ-bench recorded for it."""

from __future__ import annotations

import json

import pytest

from taurl.core.db import Database
from taurl.core.hashing import canonical_hash
from taurl.core.types import Action
from taurl.domains.retail import DOMAIN
from tests.conftest import TAUBENCH

SHARED = TAUBENCH / "retail"
SPLITS = {"test": 115, "train": 500, "dev": 20}

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not (SHARED / "orders.json").exists(), reason=f"τ-bench data not at {SHARED}"),
]


def _task_file(split: str) -> dict:
    return json.loads((SHARED / f"tasks_{split}.json").read_text())


def test_initial_hash_is_reproduced(taubench_base: dict[str, dict]) -> None:
    expected = _task_file("test")["initial_data_hash"]
    assert Database(taubench_base).state_hash() == expected


@pytest.mark.parametrize("split", list(SPLITS))
def test_gold_actions_reach_gold_hash(taubench_base: dict[str, dict], split: str) -> None:
    tasks = _task_file(split)["tasks"]
    assert len(tasks) == SPLITS[split]
    root = Database(taubench_base)
    mismatches = []
    for task in tasks:
        db = root.fork()
        for action in task["actions"]:
            DOMAIN.tools.invoke(db, Action.from_dict(action))
        if db.state_hash() != task["gold_data_hash"]:
            mismatches.append(task["index"])
    assert not mismatches, f"{len(mismatches)}/{len(tasks)} {split} tasks miss their gold hash: {mismatches}"


def test_replays_leave_the_base_untouched(taubench_base: dict[str, dict]) -> None:
    initial_hash = _task_file("test")["initial_data_hash"]
    root = Database(taubench_base)
    for split in SPLITS:
        for task in _task_file(split)["tasks"]:
            db = root.fork()
            for action in task["actions"]:
                DOMAIN.tools.invoke(db, Action.from_dict(action))
    assert canonical_hash(taubench_base) == initial_hash
    assert root.state_hash() == initial_hash
