"""``tau_bench:<env>``: an installed τ-bench package (or a fork with more domains) behind taurl's interface.

The package is optional and imported on first use. Everything about an environment comes from it:
``tau_bench.envs.get_env`` gives the data loader, the tool classes (their ``get_info()`` schema is
the schema taurl checks calls against and shows the model), the terminate tools, the policy
(``wiki``) and the tasks of each split. So ``taurl run``, the recorder, ``taurl replay``,
``taurl data convert`` and the ``tau_bench`` SkyRL environment work on it unchanged.

- Database: τ-bench's tools change plain nested dicts in place, so an episode gets a deep copy of the
  data (:class:`~taurl.core.db.PlainDatabase`), as τ-bench reloads its data for every episode.
- User: :class:`PackageUser` runs the package's own user simulator class (picked by strategy through
  its ``load_user``); the module-level ``completion`` it calls is answered by a taurl ChatClient, so
  its model calls are cached, recorded and replayable like those of taurl's own users. The scripted
  user is taurl's.
- Reward: taurl's ``db+outputs`` reward on the adapter's database is τ-bench's; :func:`package_reward`
  runs the package's own ``calculate_reward`` for an episode, to check that they agree.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from taurl.backends import TAU_BENCH_PREFIX
from taurl.backends.routing import UserRoute, UserSimulatorError, route_calls
from taurl.core.db import PlainDatabase, clone
from taurl.core.domain import UserSimulator
from taurl.core.hashing import canonical_json
from taurl.core.reward_judge import ChatModel
from taurl.core.tools import Tool, ToolRegistry
from taurl.core.types import Action, ModelCall, RewardBasis, Task, ToolKind
from taurl.domains.base import SPLITS, BaseDomain, DataError, _load_base, _resolve
from taurl.llm.cache import ReplayMissError
from taurl.llm.client import ModelCallError

REPOSITORY = "https://github.com/sierra-research/tau-bench"
NOT_INSTALLED = (
    "τ-bench is not installed. tau_bench:<env> domains drive an installed τ-bench package; install it into "
    f"taurl's environment from its repository with `pip install git+{REPOSITORY}`. taurl needs it for "
    "nothing else: the built-in domains run without it."
)
THINK_TOOLS = ("think", "calculate")
READ_PREFIXES = ("get_", "find_", "search_", "list_")
NAMESPACE = "user"
# What the package's user simulators are told while their constructor warms up: the conversation
# it opens is thrown away by reset(instruction), so no model is asked. The text satisfies every
# strategy's parsing: a verifier finds "true", a reflection finds "Response:", react finds the stop.
WARM_UP_REPLY = "true\nResponse: ###STOP###"
# load_user insists on a provider; it only reaches litellm, which taurl never calls for these users
PROVIDER = "openai"

_LOCK = threading.RLock()
_ENVS: dict[str, Any] = {}
_DOMAINS: dict[str, PackageDomain] = {}
_TASKS: dict[tuple[str, str], tuple[Task, ...]] = {}


_ROUTE = UserRoute()


def _import(module_name: str) -> ModuleType:
    """A module of the installed τ-bench, or DataError saying how to install it."""
    # litellm (imported by τ-bench) would otherwise fetch its price list from the network at import;
    # taurl prices calls itself and must run offline
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        importlib.import_module("tau_bench")
    except ModuleNotFoundError as exc:
        if exc.name == "tau_bench":
            raise DataError(NOT_INSTALLED) from exc
        raise DataError(f"τ-bench is installed but cannot be imported: {exc}") from exc
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or str(exc)
        if missing.startswith("tau_bench"):
            raise DataError(f"the installed tau_bench package has no module {missing}: is it τ-bench?") from exc
        raise DataError(
            f"τ-bench is installed but its dependency {missing!r} is missing: reinstall it with its dependencies "
            f"(`pip install git+{REPOSITORY}`)"
        ) from exc


def _new_env(env_name: str, split: str) -> Any:
    """A fresh environment of the package (its human user: constructing it calls no model)."""
    envs = _import("tau_bench.envs")
    try:
        return envs.get_env(
            env_name, user_strategy="human", user_model="gpt-4o", task_split=split, user_provider=None, task_index=0
        )
    except (ValueError, IndexError) as exc:  # τ-bench's answer to an unknown environment or split
        raise DataError(f"{TAU_BENCH_PREFIX}{env_name}, {split} split: τ-bench says {exc!r}") from exc


def _any_new_env(env_name: str) -> Any:
    """A fresh environment on whichever split the package has (tools, policy and data do not depend on it)."""
    error: DataError | None = None
    for split in ("test", *(s for s in SPLITS if s != "test")):
        try:
            return _new_env(env_name, split)
        except DataError as exc:
            error = exc
    assert error is not None
    raise error


def _cached(cache: dict, key: Any, make: Callable[[], Any]) -> Any:
    """``cache[key]``, made once per process even when episodes ask for it concurrently."""
    with _LOCK:
        if key not in cache:
            cache[key] = make()
        return cache[key]


def forget_package() -> None:
    """Drop every environment, domain and task built from the package, e.g. after it was swapped
    (tests put a stand-in in its place)."""
    with _LOCK:
        _ENVS.clear()
        _DOMAINS.clear()
        _TASKS.clear()


# ---------------------------------------------------------------- the domain


def _kind(name: str, terminate_tools: Sequence[str]) -> ToolKind:
    if name in terminate_tools:
        return ToolKind.TERMINATE
    if name in THINK_TOOLS:
        return ToolKind.THINK
    if name.startswith(READ_PREFIXES):
        return ToolKind.READ
    return ToolKind.WRITE


def _tool(tool_class: Any, terminate_tools: Sequence[str]) -> Tool:
    """A taurl tool whose schema is the package tool's own and which runs it on the episode's data."""
    info = tool_class.get_info()["function"]
    parameters = {"type": "object", "properties": {}, "required": [], **clone(info.get("parameters") or {})}

    def invoke(db: PlainDatabase, **kwargs: Any) -> str:
        return tool_class.invoke(data=db.data, **kwargs)

    name = info["name"]
    return Tool(name, _kind(name, terminate_tools), invoke, info.get("description", ""), parameters)


def _task(index: int, package_task: Any, domain: str, split: str) -> Task:
    return Task(
        id=str(index),
        domain=domain,
        split=split,
        user_id=package_task.user_id,
        instruction=package_task.instruction,
        actions=tuple(Action(a.name, clone(dict(a.kwargs))) for a in package_task.actions),
        outputs=tuple(package_task.outputs),
        reward_basis=RewardBasis.DB_OUTPUTS,
    )


@dataclass(frozen=True, eq=False)
class PackageDomain(BaseDomain):
    """A τ-bench environment as a taurl domain. ``package_data`` is the package's data, loaded once."""

    env_name: str = ""
    package_data: dict[str, Any] = field(default_factory=dict)

    def database(self, data_dir: Path | str | None = None) -> PlainDatabase:
        """The package's data, or the same tables (``<table>.json``) read from ``data_dir``."""
        if data_dir is None:
            return PlainDatabase(self.package_data)
        tables, _ = _load_base(self, _resolve(data_dir))
        return PlainDatabase(tables)

    def tasks(self, split: str = "test", data_dir: Path | str | None = None) -> list[Task]:
        """The package's tasks of ``split`` (ids are their indices); ``tasks_<split>.json`` in ``data_dir``
        instead when it has one."""
        if data_dir is not None and (_resolve(data_dir) / f"tasks_{split}.json").exists():
            return super().tasks(split, data_dir)
        env_name, name = self.env_name, self.name

        def convert() -> tuple[Task, ...]:
            env = _new_env(env_name, split)
            return tuple(_task(index, t, name, split) for index, t in enumerate(env.tasks))

        return list(_cached(_TASKS, (env_name, split), convert))

    def make_user(self, strategy: str, client: ChatModel | None, sample_index: int = 0) -> UserSimulator:
        """The package's own user simulator of ``strategy``, through taurl's client (scripted: taurl's)."""
        if strategy == "scripted":
            return super().make_user(strategy, client, sample_index)
        assert client is not None
        return PackageUser(client, strategy, sample_index=sample_index)


def _build_domain(env_name: str) -> PackageDomain:
    env = _cached(_ENVS, env_name, lambda: _any_new_env(env_name))
    name = f"{TAU_BENCH_PREFIX}{env_name}"
    tools = ToolRegistry(name, (_tool(cls, env.terminate_tools) for cls in env.tools_map.values()))
    return PackageDomain(
        name=name,
        tools=tools,
        policy=env.wiki,
        tables={table: f"{table}.json" for table in env.data},
        package_dir=Path(inspect.getfile(type(env))).parent,
        env_name=env_name,
        package_data=env.data,  # this environment is never stepped: its data stays as loaded
    )


def package_domain(env_name: str) -> PackageDomain:
    """The domain of the package's environment ``env_name``, built once per process."""
    return _cached(_DOMAINS, env_name, lambda: _build_domain(env_name))


# ---------------------------------------------------------------- the user simulator


@dataclass(frozen=True)
class _Message:
    content: str
    role: str = "assistant"

    def model_dump(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class _Choice:
    message: _Message


class _Response:
    """Shaped like litellm's ModelResponse as far as τ-bench's user simulators read one."""

    def __init__(self, content: str, cost_usd: float):
        self.choices = [_Choice(_Message(content))]
        self._hidden_params = {"response_cost": cost_usd}


def _user_module() -> ModuleType:
    """``tau_bench.envs.user`` with its ``completion`` routed to the PackageUser on the calling thread."""
    module = _import("tau_bench.envs.user")
    route_calls(module, "completion", _ROUTE, lambda user, *_, messages, **__: user._answer(messages))
    return module


def _plain_message(message: Any) -> dict[str, Any]:
    data = message.model_dump() if hasattr(message, "model_dump") else message
    return {"role": data["role"], "content": data.get("content") or ""}


class PackageUser(UserSimulator):
    """τ-bench's own user simulator for ``strategy``, its model calls answered by a taurl ChatClient
    (namespace ``user``) and kept in ``calls``.

    A request repeated within an episode (a verifier's retry asks the same question again) is a new
    draw: its sample index is ``sample_index`` plus the times it was asked before.
    """

    def __init__(self, client: ChatModel, strategy: str, sample_index: int = 0):
        self.client = client
        self.strategy = strategy
        self.sample_index = sample_index
        self.calls: list[ModelCall] = []
        self._asked: Counter[str] = Counter()
        self._warming_up = False
        self._simulator: Any = None

    def reset(self, task: Task) -> str:
        module = _user_module()
        self._asked.clear()
        self._warming_up = True
        try:
            self._simulator = self._routed(
                lambda: module.load_user(self.strategy, model=self.client.model, provider=PROVIDER)
            )
        finally:
            self._warming_up = False
        return self._routed(lambda: self._simulator.reset(instruction=task.instruction))

    def step(self, agent_message: str) -> str:
        if self._simulator is None:
            raise RuntimeError("call reset(task) before step()")
        return self._routed(lambda: self._simulator.step(agent_message))

    def _routed(self, run: Callable[[], Any]) -> Any:
        """Run package code with its ``completion`` calls on this thread answered by this user."""
        with _ROUTE.to(self):
            try:
                return run()
            except (ModelCallError, ReplayMissError):
                raise
            except Exception as exc:
                raise UserSimulatorError(
                    f"τ-bench's {self.strategy!r} user simulator failed: {type(exc).__name__}: {exc}"
                ) from exc

    def _answer(self, messages: list[Any]) -> _Response:
        if self._warming_up:
            return _Response(WARM_UP_REPLY, 0.0)
        plain = [_plain_message(m) for m in messages]
        request = canonical_json(plain)
        draw = self._asked[request]
        self._asked[request] += 1
        completion = self.client.complete(plain, namespace=NAMESPACE, sample_index=self.sample_index + draw)
        self.calls.append(completion.call)
        return _Response(completion.message.get("content") or "", completion.call.cost_usd)


# ---------------------------------------------------------------- the package's own reward


def package_reward(
    domain_name: str, task: Task, actions: Sequence[Action], data_dir: Path | str | None = None
) -> float:
    """τ-bench's own ``calculate_reward`` for an episode that took ``actions`` on ``task``.

    A fresh environment of the package runs the episode's tool calls with the package's tools, the
    way its ``step`` does (an exception is only the call's observation; an unknown tool changes
    nothing), takes the episode's actions as its own and scores the result with the package's code.
    So it checks the adapter independently. Calls taurl refuses for their arguments (a wrong type,
    say) do run here, as in τ-bench: the two agree on episodes whose calls were well-formed.
    """
    env_name = domain_name.removeprefix(TAU_BENCH_PREFIX)
    env = _any_new_env(env_name)
    types = _import("tau_bench.types")
    if data_dir is not None:
        loaded = package_domain(env_name).database(data_dir).to_dict()
        env.data_load_func = lambda: clone(loaded)

    def package_action(action: Action) -> Any:
        return types.Action(name=action.name, kwargs=clone(action.kwargs))

    env.task = types.Task(
        user_id=task.user_id or "",
        instruction=task.instruction,
        actions=[package_action(a) for a in task.actions],
        outputs=list(task.outputs),
    )
    env.data = env.data_load_func()
    for action in actions:
        tool = env.tools_map.get(action.name)
        if tool is not None:
            with contextlib.suppress(Exception):
                tool.invoke(data=env.data, **clone(action.kwargs))
    env.actions = [package_action(a) for a in actions]
    return float(env.calculate_reward().reward)
