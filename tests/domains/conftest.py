"""What the built-in domains' tests share. A test module names its domain in a module-level ``DOMAIN``;
the fixtures here load that domain's data, and :class:`ToolCalls` calls its tools."""

from __future__ import annotations

import collections
import importlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, ToolKind, ToolResult
from tests.conftest import CTU, TAUBENCH, require


def _domain(request: pytest.FixtureRequest) -> Any:
    return request.module.DOMAIN


@pytest.fixture(scope="module")
def base(request: pytest.FixtureRequest) -> dict[str, dict]:
    """The module's domain's generated database (seed 0), as plain tables."""
    generator = importlib.import_module(f"taurl.domains.{_domain(request).name}.generate")
    return generator.generate_database(0)


@pytest.fixture
def db(base: dict[str, dict]) -> Database:
    """A fresh episode database over :func:`base`."""
    return Database(base)


@pytest.fixture(scope="module")
def taubench_base(request: pytest.FixtureRequest) -> dict[str, dict]:
    """τ-bench's own database of the module's domain (../shared/taubench/<domain>), as plain tables."""
    domain = _domain(request)
    shared = TAUBENCH / domain.name
    return {table: json.loads((shared / file_name).read_text()) for table, file_name in domain.tables.items()}


@pytest.fixture(scope="module")
def seed_db(request: pytest.FixtureRequest) -> Database:
    """The module's domain over the seed system's own data (../shared/ctu/<domain>); skips without it."""
    domain = _domain(request)
    return domain.database(require(CTU / domain.name))


class ToolCalls:
    """Calling one domain's tools in tests: the observation, a success's parsed answer, a refusal that
    changes nothing."""

    def __init__(self, tools: ToolRegistry):
        self.tools = tools

    def result(self, db: Database, name: str, /, **kwargs: Any) -> ToolResult:
        return self.tools.invoke(db, Action(name, kwargs))

    def call(self, db: Database, name: str, /, **kwargs: Any) -> str:
        return self.result(db, name, **kwargs).observation

    def ok(self, db: Database, name: str, /, **kwargs: Any) -> Any:
        """The parsed result of a call that must succeed."""
        observation = self.call(db, name, **kwargs)
        assert not observation.startswith("Error"), observation
        return json.loads(observation)

    def refused_with(self, db: Database, name: str, expected: str, /, **kwargs: Any) -> None:
        """The call is refused with a message starting with ``expected`` and leaves the state as it was."""
        before = db.state_hash()
        observation = self.call(db, name, **kwargs)
        assert observation.startswith(f"Error: {expected}"), observation
        assert db.state_hash() == before

    def refused_mentioning(self, db: Database, name: str, expected: str, /, **kwargs: Any) -> None:
        """The call is an ``Error: ...`` containing ``expected`` and leaves the state as it was."""
        before = db.state_hash()
        observation = self.call(db, name, **kwargs)
        assert observation.startswith("Error: ") and expected in observation, observation
        assert db.state_hash() == before


def assert_tools_and_kinds(domain: Any, seed_tools: Sequence[str], kinds: Mapping[ToolKind, Sequence[str]]) -> None:
    """The seed system's tools come first, as the ``seed`` tool set; every tool has its kind (read unless
    ``kinds`` says otherwise) and a description of itself and of each argument."""
    tools = domain.tools
    assert tools.names[: len(seed_tools)] == list(seed_tools)
    assert domain.tools_for("seed").names == list(seed_tools)
    for tool in tools:
        expected = next((kind for kind, names in kinds.items() if tool.name in names), ToolKind.READ)
        assert tool.kind == expected, tool.name
        assert tool.description
        assert all(schema.get("description") for schema in tool.parameters["properties"].values()), tool.name


def assert_seed_schemas_match(domain: Any, seed_tools: Sequence[str]) -> None:
    """The seed tools' arguments, required ones and types are the seed system's (../shared/ctu)."""
    schemas = json.loads(require(CTU / "tool_schemas.json").read_text())[domain.name]
    assert sorted(schemas) == sorted(seed_tools)
    for name, seed in schemas.items():
        params = domain.tools[name].parameters
        assert list(params["properties"]) == list(seed["parameters"]), name
        assert params["required"] == seed["required"], name
        for param, schema in seed["parameters"].items():
            assert params["properties"][param]["type"] == schema["type"], (name, param)


def assert_seed_gold_calls_run(domain: Any, seed_db: Database, min_calls: int = 1000) -> None:
    """Every gold call of the seed system's tasks of ``domain`` (more than ``min_calls``), each task's calls in
    order on their own copy as in an episode, gives a result or a clean ``Error: ...`` that says something."""
    tasks = json.loads(require(CTU / "novel_sft_dataset.json").read_text())["tasks"]
    outcomes: collections.Counter[str] = collections.Counter()
    per_tool: dict[str, collections.Counter[str]] = {}
    for task in (t for t in tasks if t.get("domain") == domain.name):
        db = seed_db.fork()
        for raw in task["actions"]:
            result = domain.tools.invoke(db, Action.from_dict(raw))
            outcome = result.error or "ok"
            outcomes[outcome] += 1
            per_tool.setdefault(raw["name"], collections.Counter())[outcome] += 1
            assert result.error != "tool_exception", (raw, result.observation)
            if not result.ok:
                assert result.observation.startswith("Error: ") and len(result.observation) > len("Error: "), raw
    print(f"{domain.name} seed gold calls: {dict(outcomes)}")
    for name, counts in sorted(per_tool.items()):
        print(f"  {name}: {dict(counts)}")
    assert sum(outcomes.values()) > min_calls and outcomes["ok"] > 0
