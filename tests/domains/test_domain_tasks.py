"""Every domain's generated task set, by the same rules: deterministic for a seed, large enough,
well-formed, every gold call succeeds on the generated database, at least half change it, refusals
change nothing, expected outputs appear in some tool answer (and have no commas, which the checker
deletes from replies), every state-changing tool and every policy rule is exercised. The oracle and
do-nothing checks run through `taurl domains validate` (tests/test_domain_content.py)."""

from __future__ import annotations

import importlib
import re

import pytest

from taurl.core.db import Database
from taurl.core.types import RewardBasis, ToolKind
from taurl.domains import DOMAIN_NAMES
from taurl.registry import get_domain

REQUIRED_METADATA = {"persona", "goal", "rules", "refusal", "template"}


@pytest.fixture(scope="module", params=DOMAIN_NAMES)
def generated(request):
    name = request.param
    generator = importlib.import_module(f"taurl.domains.{name}.generate")
    data = generator.generate_database(0)
    reference = generator.generate_reference(0) if hasattr(generator, "generate_reference") else {}
    return name, generator, data, reference, generator.generate_tasks(data, 0)


def test_generation_is_deterministic_for_a_seed(generated):
    name, generator, data, _, splits = generated
    again = generator.generate_tasks(generator.generate_database(0), 0)
    assert {s: [t.to_dict() for t in ts] for s, ts in again.items()} == {
        s: [t.to_dict() for t in ts] for s, ts in splits.items()
    }
    assert generator.generate_database(1) != data


def test_task_sets_are_large_and_well_formed(generated):
    name, _, _, _, splits = generated
    domain = get_domain(name)
    assert len(splits["train"]) >= 200 and len(splits["test"]) >= 50
    for split, tasks in splits.items():
        assert len({t.id for t in tasks}) == len(tasks)
        for task in tasks:
            assert re.fullmatch(rf"{name}-{split}-\d+", task.id) and task.split == split and task.domain == name
            assert task.reward_basis is RewardBasis.AUTO and task.user_id and task.instruction
            assert REQUIRED_METADATA <= set(task.metadata), task.id
            tools = domain.tools_for(task.tool_set)
            assert any(tools[a.name].kind is not ToolKind.THINK for a in task.actions), task.id


def test_gold_replays_cleanly_and_refusals_change_nothing(generated):
    name, _, data, reference, splits = generated
    domain = get_domain(name)
    root = Database(data, reference)
    tasks = splits["train"] + splits["test"]
    changing = refusals = 0
    exercised: set[str] = set()
    for task in tasks:
        tools = domain.tools_for(task.tool_set)
        db = root.fork()
        observations = []
        for action in task.actions:
            result = tools.invoke(db, action)
            assert result.ok, (task.id, action, result.observation)
            observations.append(result.observation)
            if result.kind is ToolKind.WRITE:
                exercised.add(action.name)
        changed = bool(db.diff(root.fork()))
        changing += changed
        if task.metadata["refusal"]:
            refusals += 1
            assert not changed, task.id
        for output in task.outputs:
            assert "," not in output and any(output in text for text in observations), (task.id, output)
    writes = {tool.name for tool in domain.tools if tool.kind is ToolKind.WRITE}
    assert changing * 2 >= len(tasks)
    assert refusals >= len(tasks) // 20
    assert len(writes) >= 4 and exercised == writes


def test_every_policy_rule_is_enforced_or_tested(generated):
    name, _, _, _, splits = generated
    domain = get_domain(name)
    rules = set(domain.policy_rules())
    tested = {r for t in splits["train"] + splits["test"] for r in t.metadata["rules"]}
    assert rules and tested | set(domain.rules_enforced) == rules
    assert tested <= rules and set(domain.rules_enforced) <= rules


def test_packaged_tasks_are_what_the_generator_makes(generated):
    name, _, _, _, splits = generated
    for split, tasks in splits.items():
        assert get_domain(name).tasks(split) == tasks, split
