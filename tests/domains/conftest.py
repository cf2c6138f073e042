"""What the built-in domains' tests share. A test module names its domain in a module-level ``DOMAIN``;
the fixtures here load that domain's data, and :class:`ToolCalls` calls its tools."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, ToolResult
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
