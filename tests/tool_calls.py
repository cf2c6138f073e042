"""Calling one domain's tools in tests: the observation, a success's parsed answer, a refusal that
changes nothing."""

from __future__ import annotations

import json
from typing import Any

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action


class ToolCalls:
    def __init__(self, tools: ToolRegistry):
        self.tools = tools

    def call(self, db: Database, name: str, /, **kwargs: Any) -> str:
        return self.tools.invoke(db, Action(name, kwargs)).observation

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
