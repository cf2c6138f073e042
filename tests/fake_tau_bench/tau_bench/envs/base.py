"""The environment base: its data, tools, tasks and policy, and the package's reward."""

import hashlib
from collections.abc import Callable
from typing import Any

from tau_bench.envs.tool import Tool
from tau_bench.envs.user import load_user
from tau_bench.types import RESPOND_ACTION_NAME, Action, RewardResult, Task


def canonical(value: Any) -> Any:
    """Nested tuples with dict items sorted by key: the form whose text the package hashes."""
    if isinstance(value, dict):
        return tuple((key, canonical(item)) for key, item in sorted(value.items()))
    if isinstance(value, list):
        return tuple(canonical(item) for item in value)
    return value


def data_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(str(canonical(data)).encode("utf-8")).hexdigest()


class Env:
    def __init__(
        self,
        data_load_func: Callable[[], dict[str, Any]],
        tools: list[type[Tool]],
        tasks: list[Task],
        wiki: str,
        user_strategy: str,
        user_model: str,
        user_provider: str | None = None,
        task_index: int | None = None,
    ) -> None:
        self.data_load_func = data_load_func
        self.data = data_load_func()
        self.tools_map = {tool.get_info()["function"]["name"]: tool for tool in tools}
        self.tools_info = [tool.get_info() for tool in tools]
        self.terminate_tools: list[str] = []
        self.tasks = tasks
        self.task_index = task_index or 0
        self.task = tasks[self.task_index]
        self.wiki = wiki
        self.user = load_user(user_strategy, model=user_model, provider=user_provider)
        self.actions: list[Action] = []

    def run_tool(self, action: Action) -> str:
        """One tool call on ``self.data``; an exception is the call's observation."""
        try:
            return self.tools_map[action.name].invoke(data=self.data, **action.kwargs)
        except Exception as exc:
            return f"Error: {exc}"

    def calculate_reward(self) -> RewardResult:
        """1 when the data equals what the gold actions make from fresh data and every output was said."""
        final_hash = data_hash(self.data)
        self.data = self.data_load_func()
        for action in self.task.actions:
            if action.name in self.tools_map and action.name not in self.terminate_tools:
                self.run_tool(action)
        gold_hash = data_hash(self.data)
        replies = [a.kwargs["content"].lower().replace(",", "") for a in self.actions if a.name == RESPOND_ACTION_NAME]
        outputs = {output: any(output.lower() in reply for reply in replies) for output in self.task.outputs}
        reward = float(final_hash == gold_hash and all(outputs.values()))
        return RewardResult(reward=reward, data_hash=final_hash, gold_data_hash=gold_hash, outputs=outputs)
