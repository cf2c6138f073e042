"""The generated airline tasks: deterministic, large enough, every gold call succeeds with the task's own
tool set, most change the database, every write tool (upgrade_seat included) and every policy rule is
exercised, the oracle passes all of them and a do-nothing agent none; the packaged data, reference
tables and task files are what the generators make."""

from __future__ import annotations

import json

import pytest

import taurl.domains.airline as mod
from taurl.agent.oracle import OracleAgent
from taurl.agent.silent import SilentAgent
from taurl.core.db import Database
from taurl.core.types import RewardBasis, Task, ToolKind
from taurl.domains.airline.generate import generate_database, generate_reference, generate_tasks
from taurl.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.users.scripted import ScriptedUser

DOMAIN = mod.DOMAIN
TOOLS = DOMAIN.tools


@pytest.fixture(scope="module")
def data() -> dict[str, dict]:
    return generate_database(0)


@pytest.fixture(scope="module")
def splits(data: dict[str, dict]) -> dict[str, list[Task]]:
    return generate_tasks(data, 0)


@pytest.fixture(scope="module")
def tasks(splits: dict[str, list[Task]]) -> list[Task]:
    return splits["train"] + splits["test"]


@pytest.fixture(scope="module")
def replays(data: dict[str, dict], tasks: list[Task]) -> dict[str, tuple[bool, list[str]]]:
    """Per task: whether its gold calls change the database, and every observation they give."""
    root = Database(data, generate_reference(0))
    initial = root.state_hash()
    results = {}
    for task in tasks:
        tools = DOMAIN.tools_for(task.tool_set)
        db = root.fork()
        observations = []
        for action in task.actions:
            result = tools.invoke(db, action)
            assert result.ok, (task.id, action, result.observation)
            observations.append(result.observation)
        results[task.id] = (db.state_hash() != initial, observations)
    return results


def test_deterministic(data: dict[str, dict], splits: dict[str, list[Task]]) -> None:
    again = generate_tasks(generate_database(0), 0)
    for split in ("train", "test"):
        assert [t.to_dict() for t in again[split]] == [t.to_dict() for t in splits[split]]
    assert generate_reference(0) == generate_reference(0) != generate_reference(1)
    other = generate_tasks(generate_database(1), 1)
    assert [t.instruction for t in other["test"]] != [t.instruction for t in splits["test"]]


def test_counts_and_shape(splits: dict[str, list[Task]]) -> None:
    assert len(splits["train"]) >= 200 and len(splits["test"]) >= 50
    for split, tasks in splits.items():
        assert [t.id for t in tasks] == [f"airline-{split}-{i:03d}" for i in range(len(tasks))]
        for task in tasks:
            assert task.split == split and task.domain == "airline"
            assert task.reward_basis is RewardBasis.AUTO and task.actions
            assert task.instruction.startswith("You are ")
            assert {"persona", "goal", "rules", "refusal", "template"} <= set(task.metadata)
            assert task.metadata["persona"] in task.instruction and task.metadata["goal"] in task.instruction
            # the user knows their user id, or else an email or confirmation number the agent can look up
            assert task.user_id in task.instruction or task.actions[0].name == "lookup_passenger", task.id


def test_tool_sets(tasks: list[Task]) -> None:
    """Tasks that need a seed-system tool ask for the extended tool set (so do a few that must refuse
    what the extra tools tempt, e.g. first class); the others see τ-bench's 14."""
    extra = set(mod.SEED_EXTRA_TOOLS)
    for task in tasks:
        used = {a.name for a in task.actions}
        assert task.tool_set in ("default", "extended"), task.id
        assert used <= set(DOMAIN.tools_for(task.tool_set).names), task.id  # extra tools only when extended
    assert {a.name for t in tasks for a in t.actions} >= extra
    assert sum(t.tool_set == "extended" for t in tasks) >= 0.1 * len(tasks)


def test_gold_actions_succeed_and_most_change_the_db(tasks: list[Task], replays: dict) -> None:
    changing = sum(replays[t.id][0] for t in tasks)
    assert changing * 2 >= len(tasks)
    for task in tasks:
        writes = any(TOOLS[a.name].kind is ToolKind.WRITE for a in task.actions)
        assert replays[task.id][0] == writes, task.id
        if task.metadata["refusal"]:
            assert not writes and not task.outputs, task.id
        elif not writes:
            assert task.outputs, task.id  # an information request says what must be told
    assert sum(t.metadata["refusal"] for t in tasks) >= 0.1 * len(tasks)


def test_outputs_come_from_tool_answers(tasks: list[Task], replays: dict) -> None:
    for task in tasks:
        observations = replays[task.id][1]
        for output in task.outputs:
            assert "," not in output, (task.id, output)  # the checker deletes commas from replies
            assert any(output in observation for observation in observations), (task.id, output)


def test_every_write_tool_is_exercised(tasks: list[Task]) -> None:
    used = {a.name for t in tasks for a in t.actions}
    writes = {tool.name for tool in TOOLS if tool.kind is ToolKind.WRITE}
    assert len(writes) >= 4 and "upgrade_seat" in writes and writes <= used


def test_every_policy_rule_is_covered(tasks: list[Task]) -> None:
    rules = set(DOMAIN.policy_rules())
    assert len(rules) >= 8
    tested = {rule for t in tasks for rule in t.metadata["rules"]}
    assert tested <= rules and set(DOMAIN.rules_enforced) <= rules
    assert rules <= tested | set(DOMAIN.rules_enforced)
    assert len({t.metadata["template"] for t in tasks}) >= 20


def test_packaged_files_match_the_generators(data: dict[str, dict], splits: dict[str, list[Task]]) -> None:
    """What ``tools/generate_data.py`` writes, so the built-in database and tasks are the generated ones."""

    def render(value: object) -> str:
        return json.dumps(value, indent=1, ensure_ascii=False) + "\n"

    for table, records in data.items():
        assert (DOMAIN.builtin_data_dir / DOMAIN.tables[table]).read_text() == render(records), table
    for table, records in generate_reference(0).items():
        assert (DOMAIN.builtin_data_dir / DOMAIN.reference_files[table]).read_text() == render(records), table
    for split, tasks in splits.items():
        path = DOMAIN.package_dir / "tasks" / f"{split}.json"
        assert path.read_text() == render({"tasks": [t.to_dict() for t in tasks]}), path
        assert [t.to_dict() for t in DOMAIN.tasks(split)] == [t.to_dict() for t in tasks]


def test_oracle_passes_and_silence_fails(tasks: list[Task]) -> None:
    config = RolloutConfig()
    oracle = [run_episode(EpisodeSpec(t), OracleAgent(), ScriptedUser(), config, domain=DOMAIN) for t in tasks]
    failed = [(r.task.id, r.breakdown) for r in oracle if r.reward != 1.0]
    assert not failed, failed[:3]
    assert not any(r.breakdown.trivially_passable for r in oracle)
    silent = [run_episode(EpisodeSpec(t), SilentAgent(), ScriptedUser(), config, domain=DOMAIN) for t in tasks]
    assert sum(r.reward for r in silent) <= 0.05 * len(tasks)
