"""An episode's state on a τ² domain: a live τ² environment, set up from the task's τ² initial state.

The package's tools change the environment's pydantic databases in place, so each episode gets its own
environment (over copies of the domain's loaded databases), set up the way τ²'s evaluator does:
initialization data, initialization actions, then the tool calls of the task's message history. Every
tool call, the agent's and the user's, goes through the package's ``get_response`` and is logged with
its requestor: the ACTION check and the user's steps read that log.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from taurl.backends.tau2 import package
from taurl.core.types import Task
from taurl.domains.base import DataError


class Tau2Source(Protocol):
    """What a state needs of its τ² domain (:class:`taurl.backends.tau2.domain.Tau2Domain`)."""

    name: str
    tau2_name: str

    def fresh_environment(self) -> Any: ...


@dataclass(frozen=True)
class ToolCallRecord:
    """One tool call made on an episode's τ² environment, as τ²'s trajectory would hold it."""

    requestor: str  # "assistant" or "user"
    name: str
    arguments: dict[str, Any]
    content: str
    error: bool


class Tau2State:
    """An episode's τ² environment, made on first use (``fork`` copies nothing)."""

    def __init__(self, domain: Tau2Source, env: Any = None):
        self.domain = domain
        self._env = env
        self.calls: list[ToolCallRecord] = []

    @property
    def env(self) -> Any:
        if self._env is None:
            self._env = self.domain.fresh_environment()
        return self._env

    @property
    def base_id(self) -> int:
        return id(self.domain)

    def fork(self) -> Tau2State:
        return Tau2State(self.domain)

    def call(self, requestor: str, name: str, arguments: Mapping[str, Any], call_id: str = "") -> ToolCallRecord:
        """Run one tool call as τ²'s ``get_response`` does (errors become ``Error: ...`` content)."""
        message = package("tau2.data_model.message")
        tool_call = message.ToolCall(id=call_id, name=name, arguments=dict(arguments), requestor=requestor)
        response = self.env.get_response(tool_call)
        record = ToolCallRecord(requestor, name, dict(arguments), response.content or "", bool(response.error))
        self.calls.append(record)
        return record


def start_state(domain: Tau2Source, task: Task) -> Tau2State:
    """A fresh environment in the task's τ² initial state; the history's tool calls are logged."""
    state = Tau2State(domain)
    initial = tau2_task(task).initial_state
    if initial is None:
        return state
    env = state.env
    if initial.initialization_data is not None:
        if initial.initialization_data.agent_data is not None:
            env.tools.update_db(initial.initialization_data.agent_data)
        if initial.initialization_data.user_data is not None:
            env.user_tools.update_db(initial.initialization_data.user_data)
    for action in initial.initialization_actions or ():
        env.run_env_function_call(action)
    for message in initial.message_history or ():
        for tool_call in getattr(message, "tool_calls", None) or ():
            state.call(tool_call.requestor, tool_call.name, tool_call.arguments, tool_call.id)
    env.sync_tools()
    return state


@functools.cache
def _parsed(domain: str, task_id: str, text: str) -> Any:
    return package("tau2.data_model.tasks").Task.model_validate_json(text)


def tau2_task(task: Task) -> Any:
    """The τ² task a taurl task was made from (parsed once per process)."""
    data = task.metadata.get("tau2_task")
    if data is None:
        raise DataError(f"task {task.domain}/{task.id} carries no τ² task (metadata.tau2_task)")
    return _parsed(task.domain, task.id, json.dumps(data, sort_keys=True))
