"""The telecom task sets: deterministic, large enough, gold actions that succeed on the generated
database, outputs an agent can read, every write tool and policy rule exercised, an oracle that
scores 1.0 and a do-nothing agent that scores (almost) nothing.

The ``check_*`` helpers take the domain's module and generator so that other generated domains'
task tests use the same checks.
"""

from __future__ import annotations

import json
import re
from types import ModuleType

import pytest

import taurl.domains.telecom as mod
import taurl.domains.telecom.generate as gen
from taurl.agent.oracle import OracleAgent
from taurl.agent.silent import SilentAgent
from taurl.core.db import Database
from taurl.core.types import RewardBasis, Task, ToolKind
from taurl.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.users.scripted import ScriptedUser

METADATA_KEYS = {"persona", "goal", "rules", "refusal", "template"}


def all_tasks(generator: ModuleType, seed: int = 0) -> list[Task]:
    tasks = generator.generate_tasks(generator.generate_database(seed), seed)
    return tasks["train"] + tasks["test"]


def check_deterministic(domain_module: ModuleType, generator: ModuleType) -> None:
    first = [t.to_dict() for t in all_tasks(generator)]
    assert first == [t.to_dict() for t in all_tasks(generator)]
    assert generator.generate_database(0) == generator.generate_database(0)
    assert generator.generate_database(1) != generator.generate_database(0)
    assert [t.to_dict() for t in all_tasks(generator, 1)] != first


def check_shape(domain_module: ModuleType, generator: ModuleType) -> None:
    name = domain_module.DOMAIN.name
    tasks = generator.generate_tasks(generator.generate_database(0), 0)
    assert len(tasks["train"]) >= 200 and len(tasks["test"]) >= 50
    tools = domain_module.DOMAIN.tools
    for split, group in tasks.items():
        assert len({t.id for t in group}) == len(group)
        for task in group:
            assert re.fullmatch(rf"{name}-{split}-\d{{4}}", task.id) and task.split == split
            assert task.domain == name and task.reward_basis is RewardBasis.AUTO and task.user_id
            assert task.instruction.startswith("You are ") and set(task.metadata) == METADATA_KEYS
            assert task.metadata["goal"] in task.instruction and task.metadata["persona"] in task.instruction
            assert any(tools[a.name].kind is not ToolKind.THINK for a in task.actions), task.id
    templates = {t.metadata["template"] for t in tasks["train"]}
    assert templates == {t.metadata["template"] for t in tasks["test"]}


def check_gold_replays(domain_module: ModuleType, generator: ModuleType) -> None:
    """Every gold action succeeds in order; outputs appear verbatim in what the tools returned."""
    tools = domain_module.DOMAIN.tools
    data = generator.generate_database(0)
    root = Database(data)
    tasks = all_tasks(generator)
    changing, refusals, writes = 0, 0, set()
    for task in tasks:
        db = root.fork()
        observations = []
        for action in task.actions:
            result = tools.invoke(db, action)
            assert result.ok, (task.id, action, result.observation)
            observations.append(result.observation)
            if result.kind is ToolKind.WRITE:
                writes.add(action.name)
        changed = bool(db.diff(root.fork()))
        changing += changed
        if task.metadata["refusal"]:
            refusals += 1
            assert not changed and not task.outputs, task.id
        for output in task.outputs:
            assert "," not in output and any(output in text for text in observations), (task.id, output)
    assert changing * 2 >= len(tasks)
    assert refusals >= len(tasks) // 20
    assert writes == {tool.name for tool in tools if tool.kind is ToolKind.WRITE}


def check_rules_covered(domain_module: ModuleType, generator: ModuleType) -> None:
    domain = domain_module.DOMAIN
    rules = domain.policy_rules()
    assert 8 <= len(rules) <= 15
    tested = {rule for task in all_tasks(generator) for rule in task.metadata["rules"]}
    assert tested <= set(rules) and set(domain.rules_enforced) <= set(rules)
    assert set(rules) == tested | set(domain.rules_enforced)


def check_builtin_files(domain_module: ModuleType, generator: ModuleType) -> None:
    """The package's data and task files are exactly what the generators make (seed 0)."""
    domain = domain_module.DOMAIN
    data = generator.generate_database(0)
    for table, records in data.items():
        assert json.loads((domain.builtin_data_dir / domain.tables[table]).read_text()) == records, table
    for split, tasks in generator.generate_tasks(data, 0).items():
        assert domain.tasks(split) == tasks, split


def check_agents(domain_module: ModuleType, generator: ModuleType) -> None:
    """Through the environment: the oracle scores 1.0 on every task, a silent agent on at most 5%."""
    domain = domain_module.DOMAIN
    tasks = all_tasks(generator)
    config = RolloutConfig()

    def reward(task: Task, agent: object) -> float:
        return run_episode(EpisodeSpec(task), agent, ScriptedUser(), config, domain=domain).reward

    oracle = [t.id for t in tasks if reward(t, OracleAgent()) != 1.0]
    assert oracle == []
    silent = [t.id for t in tasks if reward(t, SilentAgent()) > 0]
    assert len(silent) <= 0.05 * len(tasks), silent


CHECKS = [check_deterministic, check_shape, check_gold_replays, check_rules_covered, check_builtin_files, check_agents]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_telecom_tasks(check) -> None:
    check(mod, gen)
