"""τ²'s environments and tasks as a taurl domain: the domain contract (:mod:`taurl.core.domain`) over
τ²'s own state, history, user and evaluation.

An episode's state is a live τ² environment (:mod:`.state`) over copies of the domain's databases
(loaded once per process, copied by :func:`copy_db`). A task may start from a message history
(:mod:`.history`); it is played by τ²'s own user simulator (:mod:`.user`), which on telecom acts on its
device in the episode's state; and it is scored by τ²'s evaluation (:mod:`.evaluation`).

Tasks keep their τ² form in ``metadata["tau2_task"]``; the taurl fields are derived from it: the
instruction is the user scenario as τ²'s user simulator sees it, ``actions`` the assistant's gold
actions (what the oracle plays), ``outputs`` the communicate info, ``nl_assertions`` its NL assertions.
"""

from __future__ import annotations

import copy
import datetime
import enum
import functools
import gc
import importlib
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.backends import TAU2_PREFIX
from taurl.backends.tau2 import package
from taurl.backends.tau2.evaluation import evaluate
from taurl.backends.tau2.history import agent_history
from taurl.backends.tau2.state import Tau2State, start_state
from taurl.backends.tau2.user import Tau2ScriptedUser, Tau2User, user_gold
from taurl.core.domain import UserSimulator
from taurl.core.messages import Message
from taurl.core.reward import GoldState, RewardConfig
from taurl.core.reward_judge import ChatModel
from taurl.core.tools import Tool, ToolRegistry
from taurl.core.types import Action, JudgeResult, RewardBasis, RewardBreakdown, Task, TerminatedBy, ToolKind
from taurl.domains.base import BaseDomain, DataError

TERMINATE_TOOLS = ("transfer_to_human_agents",)
KINDS = {"read": ToolKind.READ, "write": ToolKind.WRITE, "think": ToolKind.THINK, "generic": ToolKind.WRITE}
ALL_TASKS = "base"  # τ²'s name for a domain's whole task set (mock has no other split)


_IMMUTABLE = (str, int, float, bool, type(None), bytes, datetime.date, datetime.datetime, enum.Enum)


def _copied(value: Any, model: type) -> Any:
    kind = type(value)
    if kind is dict:
        return {key: _copied(item, model) for key, item in value.items()}
    if kind is list:
        return [_copied(item, model) for item in value]
    if isinstance(value, _IMMUTABLE):
        return value
    if isinstance(value, model):
        # what pydantic's BaseModel.__deepcopy__ sets, without copy.deepcopy's memo and dispatch
        new = object.__new__(kind)
        object.__setattr__(new, "__dict__", {key: _copied(item, model) for key, item in value.__dict__.items()})
        object.__setattr__(new, "__pydantic_extra__", _copied(value.__pydantic_extra__, model))
        object.__setattr__(new, "__pydantic_fields_set__", set(value.__pydantic_fields_set__))
        object.__setattr__(new, "__pydantic_private__", _copied(getattr(value, "__pydantic_private__", None), model))
        return new
    return copy.deepcopy(value)


def copy_db(db: Any) -> Any:
    """A deep copy of a τ² database as loaded from its JSON file: a tree (no object appears twice),
    so no memo is needed. pydantic's ``model_copy(deep=True)`` took 0.6-0.9 s for airline's ~370,000
    objects on an idle machine and several seconds on a busy one, most of it ``copy.deepcopy``'s
    dispatch and memo per object and the garbage collector walking the new objects; this copy takes
    a third to a half of that (0.2-0.5 s), with the collector paused (the copy makes no cycles)."""
    model = importlib.import_module("pydantic").BaseModel
    paused = gc.isenabled()
    gc.disable()
    try:
        return _copied(db, model)
    finally:
        if paused:
            gc.enable()


def registry() -> Any:
    return package("tau2.registry").registry


def _tool(tool: Any, kind: ToolKind) -> Tool:
    schema = copy.deepcopy(tool.openai_schema["function"])
    parameters = {"type": "object", "properties": {}, "required": [], **schema.get("parameters", {})}
    name = schema["name"]

    def invoke(episode: Tau2State, /, **kwargs: Any) -> str:  # positional: a tool may take a `state` (retail)
        return episode.call("assistant", name, kwargs).content

    return Tool(name, kind, invoke, schema.get("description", ""), parameters)


def _task(package_task: Any, domain: str, split: str) -> Task:
    criteria = package_task.evaluation_criteria
    gold = [a for a in (criteria.actions or ()) if a.requestor == "assistant"] if criteria else []
    return Task(
        id=package_task.id,
        domain=domain,
        split=split,
        instruction=str(package_task.user_scenario),
        actions=tuple(Action(a.name, copy.deepcopy(a.arguments)) for a in gold),
        outputs=tuple(criteria.communicate_info or ()) if criteria else (),
        reward_basis=RewardBasis.DB_OUTPUTS,  # informative only: the τ² evaluation uses the task's own basis
        metadata={"tau2_task": package_task.model_dump(mode="json", exclude_none=True)},
        nl_assertions=tuple(criteria.nl_assertions or ()) if criteria else (),
    )


@dataclass(frozen=True, eq=False)
class Tau2Domain(BaseDomain):
    """A τ² domain. ``base`` holds the package's databases as loaded (never stepped)."""

    tau2_name: str = ""
    base: Any = None
    user_tool_names: tuple[str, ...] = ()
    _tasks: dict[str, tuple[Task, ...]] = field(default_factory=dict)

    def fresh_environment(self) -> Any:
        """A new τ² environment over copies of the loaded databases (loading them again is slower)."""
        constructor = registry().get_env_constructor(self.tau2_name)
        accepted = inspect.signature(constructor).parameters
        kwargs = {"db": copy_db(self.base.tools.db)}
        if self.base.user_tools is not None and "user_db" in accepted:
            kwargs["user_db"] = copy_db(self.base.user_tools.db)
        return constructor(**kwargs)

    def database(self, data_dir: Path | str | None = None) -> Tau2State:
        if data_dir is not None:
            raise DataError(f"{self.name}: τ² domains use the package's own data; --data-dir is not supported")
        return Tau2State(self)

    def start(self, initial: Tau2State, task: Task) -> Tau2State:
        """The state an episode of ``task`` starts from: a fresh environment in the task's τ² initial state."""
        return start_state(self, task)

    def carried_metadata(self, task: Task) -> dict[str, Any]:
        """τ²'s task form: the env rebuilds the initial state, history, user side and criteria from it."""
        return {"tau2_task": task.metadata["tau2_task"]}

    def history(self, task: Task) -> list[Message]:
        """The task's message history as the agent sees it, before the opening (see :mod:`.history`)."""
        return agent_history(task)

    def make_user(self, strategy: str, client: ChatModel | None, sample_index: int = 0) -> UserSimulator:
        """τ²'s own user simulator, through taurl's client, whatever the LLM strategy; ``scripted``
        also makes the task's user-side gold tool calls (τ²'s dual control)."""
        if strategy == "scripted":
            return Tau2ScriptedUser()
        assert client is not None
        return Tau2User(client, sample_index=sample_index)

    def user_gold(self, task: Task) -> tuple[Action, ...]:
        """The task's gold tool calls of the user's own (telecom's device actions)."""
        return user_gold(task)

    def user_call(self, state: Tau2State, action: Action) -> None:
        state.call("user", action.name, action.kwargs)

    def gold(self, task: Task, initial: Tau2State) -> GoldState | None:
        """None: τ²'s evaluation compares database hashes, not records (see :mod:`.evaluation`)."""
        return None

    def evaluate(
        self,
        task: Task,
        initial: Tau2State,
        state: Tau2State,
        actions: Sequence[Action],
        terminated_by: TerminatedBy | None,
        config: RewardConfig,
        judged: JudgeResult | None = None,
    ) -> RewardBreakdown:
        """τ²'s reward for an episode, by the task's own τ² reward basis (``config`` does not apply)."""
        return evaluate(
            task, state, [a.kwargs.get("content", "") for a in actions if a.is_respond], terminated_by, judged
        )

    def plain_data(self, state: Tau2State) -> list[Any]:
        """The agent-side database, as plain data."""
        return [state.env.tools.db.model_dump(mode="json")]

    def splits(self, data_dir: Path | str | None = None) -> list[str]:
        loader = registry().get_task_splits_loader(self.tau2_name)
        return sorted(loader()) if loader is not None else [ALL_TASKS]

    def tasks(self, split: str = "test", data_dir: Path | str | None = None) -> list[Task]:
        """The package's tasks of ``split`` (``base`` is all of them; telecom also has ``full``, ``small``)."""
        if data_dir is not None:
            raise DataError(f"{self.name}: τ² domains use the package's own tasks; --data-dir is not supported")
        if split not in self._tasks:
            splits = self.splits()
            if split not in splits:
                raise DataError(f"no {split!r} split for {self.name}; splits: {', '.join(splits)}")
            loader = registry().get_tasks_loader(self.tau2_name)
            package_tasks = loader(split) if registry().get_task_splits_loader(self.tau2_name) else loader()
            self._tasks[split] = tuple(_task(t, self.name, split) for t in package_tasks)
        return list(self._tasks[split])


@functools.cache
def tau2_domain(tau2_name: str) -> Tau2Domain:
    """The domain of the package's environment ``tau2_name``, built once per process."""
    known = registry().get_domains()
    if tau2_name not in known:
        raise DataError(f"τ² has no domain {tau2_name!r}; its domains: {', '.join(known)}")
    base = registry().get_env_constructor(tau2_name)()
    kinds = {name: KINDS[str(base.tools.tool_type(name).value)] for name in base.tools.get_tools()}
    kinds.update(dict.fromkeys(set(TERMINATE_TOOLS) & set(kinds), ToolKind.TERMINATE))
    tools = ToolRegistry(f"{TAU2_PREFIX}{tau2_name}", (_tool(t, kinds[t.name]) for t in base.get_tools()))
    user_tools = tuple(sorted(base.user_tools.get_tools())) if base.user_tools is not None else ()
    return Tau2Domain(
        name=f"{TAU2_PREFIX}{tau2_name}",
        tools=tools,
        policy=base.get_policy(),
        tables={},
        package_dir=Path(inspect.getfile(type(base))).parent,
        tau2_name=tau2_name,
        base=base,
        user_tool_names=user_tools,
    )
