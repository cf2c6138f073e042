"""A domain: its tools, its policy, where its data lives and how its tasks are loaded; the rest of
the domain contract (:mod:`taurl.core.domain`) is the built-in default, its users taurl's own.

The base database is loaded once per process per data directory (τ-bench's airline data takes
about a second to parse) and shared, read-only, by every episode through copy-on-write views.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.core import domain as contract
from taurl.core.db import Database, derived_once
from taurl.core.reward_judge import ChatModel
from taurl.core.tools import Tool, ToolRegistry
from taurl.core.types import Action, RewardBasis, Task

SPLITS = ("train", "test", "dev")
RULE_LINE = re.compile(r"^\s*(?:[-*]|\d+\.)\s+\[([A-Z]+\d+)\]\s*(.*)$")


class DataError(ValueError):
    """A data directory or task file that cannot be used; the message says which file and why."""


@dataclass(frozen=True, eq=False)
class BaseDomain(contract.Domain):
    """What every domain taurl names shares: its tools, its policy, its task files. What an episode's state
    is, :meth:`database`, is each kind's own: :class:`Domain` (the built-in domains, a copy-on-write
    :class:`~taurl.core.db.Database`) or a backend's.

    ``tables`` maps each state table to its file name; ``id_fields`` keys list-shaped files;
    ``reference_files`` are static tables outside the state (and its hash);
    ``tool_sets`` name the tools a task may see (``default`` is every tool unless given);
    ``readers`` turn an unusual file shape into ``{record id: record}`` for one table."""

    name: str
    tools: ToolRegistry
    policy: str
    tables: Mapping[str, str]
    package_dir: Path
    id_fields: Mapping[str, str] = field(default_factory=dict)
    reference_files: Mapping[str, str] = field(default_factory=dict)
    tool_sets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    readers: Mapping[str, Callable[[Any], dict[str, Any]]] = field(default_factory=dict)
    rules_enforced: Mapping[str, str] = field(default_factory=dict)  # policy rule id -> tool(s) enforcing it

    def policy_rules(self) -> dict[str, str]:
        """The policy's rules by id: list items that start with ``[R<n>]`` (or another letters+digits id)."""
        rules = {}
        for line in self.policy.splitlines():
            match = RULE_LINE.match(line)
            if match:
                rules[match.group(1)] = match.group(2).strip()
        return rules

    def policy_for(self, tool_set: str = "default") -> str:
        """The policy an agent offered ``tool_set`` is given (see :meth:`_policy_text`), worked out once per
        domain and tool set: every episode asks for it, and it costs as much as the tools of a short episode."""
        return derived_once(self, ("policy", tool_set), lambda: self._policy_text(tool_set))

    def _policy_text(self, tool_set: str) -> str:
        """The policy an agent offered ``tool_set`` is given: only what those tools can carry out.

        Rules only absent tools enforce (``rules_enforced``) are left out, and so is any mention of an
        absent tool; ``scope.<tool_set>.md`` beside the policy, when present, replaces its opening
        paragraph (what the desk may do)."""
        offered = set(self.tools_for(tool_set).names)
        absent = set(self.tools.names) - offered
        if not absent:
            return self.policy
        unenforceable = {
            rule for rule, tools in self.rules_enforced.items() if not offered & set(re.split(r",\s*", tools))
        }
        lines, skipping = [], False
        for line in self.policy.splitlines():
            match = RULE_LINE.match(line)
            if match or not line.startswith(" "):
                skipping = bool(match) and match.group(1) in unenforceable
            if not skipping:
                lines.append(line)
        text = re.sub(r"^#+ [^\n]*\n\s*(?=^#|\Z)", "", without_tools("\n".join(lines), absent), flags=re.M)
        scope = self.package_dir / f"scope.{tool_set}.md"
        if scope.exists():
            title, _, rest = text.partition("\n\n")
            text = f"{title}\n\n{scope.read_text(encoding='utf-8').strip()}\n\n{rest.partition(chr(10) * 2)[2]}"
        return text.strip() + "\n"

    def make_user(self, strategy: str, client: ChatModel | None, sample_index: int = 0) -> contract.UserSimulator:
        """taurl's own users: the scripted one, or an LLM user of τ-bench's ``strategy``."""
        from taurl.users.llm import USER_STRATEGIES
        from taurl.users.scripted import ScriptedUser

        if strategy == "scripted":
            return ScriptedUser()
        return USER_STRATEGIES[strategy](client, sample_index=sample_index)

    @property
    def builtin_data_dir(self) -> Path:
        return self.package_dir / "data"

    def tools_for(self, tool_set: str = "default") -> ToolRegistry:
        if tool_set == "all" or (tool_set == "default" and "default" not in self.tool_sets):
            return self.tools
        if tool_set not in self.tool_sets:
            raise DataError(f"{self.name} has no tool set {tool_set!r}; known: {', '.join(self.tool_sets)}")
        return _offered(self.tools, self.tool_sets[tool_set])

    def tasks(self, split: str = "test", data_dir: Path | str | None = None) -> list[Task]:
        """Tasks of ``split``: from ``data_dir`` when given (``tasks_<split>.json``), else built in."""
        if data_dir is None:
            path = self.package_dir / "tasks" / f"{split}.json"
        else:
            path = _resolve(data_dir) / f"tasks_{split}.json"
        if not path.exists():
            where = "built in" if data_dir is None else f"in {data_dir} (no tasks_{split}.json)"
            splits = self.splits(data_dir)
            known = f"splits: {', '.join(splits)}" if splits else "no task files"
            raise DataError(f"no {split!r} split for {self.name} {where}; {known}")
        return load_tasks(path, self.name, split)

    def splits(self, data_dir: Path | str | None = None) -> list[str]:
        """The splits that have a task file: built in, or ``tasks_<split>.json`` in ``data_dir``."""
        if data_dir is None:
            return sorted(p.stem for p in (self.package_dir / "tasks").glob("*.json"))
        return sorted(p.stem.removeprefix("tasks_") for p in _resolve(data_dir).glob("tasks_*.json"))


@dataclass(frozen=True, eq=False)
class Domain(BaseDomain):
    """A built-in domain: its tables are JSON files, an episode's state a copy-on-write database over them."""

    @classmethod
    def builtin(
        cls,
        package_file: str,
        tools: ToolRegistry,
        tables: tuple[str, ...],
        references: tuple[str, ...] = (),
        **more: Any,
    ) -> Domain:
        """A built-in domain, from its package's ``__init__.py``: named after the package, its policy the
        ``policy.md`` beside it, each of its tables and reference tables in ``<name>.json``."""
        package_dir = Path(package_file).parent
        return cls(
            name=package_dir.name,
            tools=tools,
            policy=(package_dir / "policy.md").read_text(encoding="utf-8"),
            tables={name: f"{name}.json" for name in tables},
            package_dir=package_dir,
            reference_files={name: f"{name}.json" for name in references},
            **more,
        )

    def database(self, data_dir: Path | str | None = None) -> Database:
        """A fresh episode database over the (cached) base for ``data_dir``."""
        base, reference = _load_base(self, _resolve(data_dir) if data_dir else self.builtin_data_dir)
        return Database(base, reference)


def without_tools(text: str, absent: set[str]) -> str:
    """``text`` without its mentions of the ``absent`` tools: a parenthesis that names one goes, and
    otherwise the sentence that does."""
    return _without_tools(text, frozenset(absent)) if absent else text


@functools.lru_cache(maxsize=4096)
def _without_tools(text: str, absent: frozenset[str]) -> str:
    # cached: every episode of a task set asks for the same few policies, and the sentence pattern
    # costs milliseconds on a whole policy
    names = "|".join(sorted(map(re.escape, absent)))
    text = re.sub(rf"\s*\([^()]*\b(?:{names})\b[^()]*\)", "", text)
    return re.sub(rf"[^.\n]*(?:\n[ ]+[^.\n-][^.\n]*)*\b(?:{names})\b[^.]*\.\s?", "", text)


@functools.cache
def _offered(tools: ToolRegistry, names: tuple[str, ...]) -> ToolRegistry:
    """The tools of a tool set, their descriptions pointing at no tool outside it."""
    absent = set(tools.names) - set(names)
    subset = tools.subset(names)

    def pruned(tool: Tool) -> Tool:
        properties = {
            name: {**schema, "description": without_tools(schema["description"], absent)}
            if "description" in schema
            else schema
            for name, schema in tool.parameters["properties"].items()
        }
        return dataclasses.replace(
            tool,
            description=without_tools(tool.description, absent),
            parameters={**tool.parameters, "properties": properties},
        )

    return ToolRegistry(tools.domain, (pruned(t) for t in subset))


def _resolve(data_dir: Path | str) -> Path:
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"data directory {path} does not exist")
    return path.resolve()


def read_json(path: Path) -> Any:
    """A data file's JSON; unreadable bytes or syntax become a DataError that names the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    except ValueError as exc:  # bad syntax, or a number past Python's digit limit
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from exc


def json_kind(value: Any) -> str:
    """A JSON value's type in the words of a message about a file."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


@functools.cache
def _load_base(domain: BaseDomain, data_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    def read(directory: Path, file_name: str, table: str) -> Any:
        path = directory / file_name
        if not path.exists():
            raise DataError(
                f"{domain.name}: {path} is missing (a {domain.name} data directory holds "
                f"{', '.join(sorted({**domain.tables, **domain.reference_files}.values()))})"
            )
        data = read_json(path)
        try:
            return _table(domain, table, data)
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from exc

    tables = {table: read(data_dir, file_name, table) for table, file_name in domain.tables.items()}
    reference = {}
    for table, file_name in domain.reference_files.items():
        # static reference tables come with the package unless the data directory has its own
        source = data_dir if (data_dir / file_name).exists() else domain.builtin_data_dir
        reference[table] = read(source, file_name, table)
    return tables, reference


def _table(domain: BaseDomain, table: str, data: Any) -> dict[str, Any]:
    """``{record id: record}`` from a file's JSON; a wrong shape is refused here rather than failing
    later inside a tool."""
    if table in domain.readers:
        data = domain.readers[table](data)
    elif isinstance(data, list):
        id_field = domain.id_fields.get(table)
        if not id_field:
            raise DataError(f"a list, but {domain.name}.{table} has no id field to key it by")
        data = records_by_id(data, id_field)
    if not isinstance(data, dict):
        raise DataError(f"expected an object of {table} records by id, got {json_kind(data)}")
    if table in domain.tables:  # reference tables may map ids to plain values (fleet: flight -> aircraft)
        for key, record in data.items():
            if not isinstance(record, dict):
                raise DataError(f"{table} record {key!r} is {json_kind(record)}, not an object")
    return data


def records_by_id(records: list[Any], id_field: str) -> dict[str, Any]:
    """A list-shaped table keyed by each record's ``id_field``."""
    for position, record in enumerate(records):
        if not isinstance(record, dict) or id_field not in record:
            raise DataError(f"record {position} is not an object with a {id_field!r} field")
    return {str(record[id_field]): record for record in records}


def load_tasks(path: Path, domain: str, split: str) -> list[Task]:
    """taurl's task files (``{"tasks": [Task...]}``) and τ-bench exports (tasks with an ``index``)."""
    data = read_json(path)
    rows = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise DataError(
            f'{path}: expected a list of tasks or an object with a "tasks" list, got {json_kind(data)}'
            + (f" with keys {', '.join(map(repr, list(data)[:5]))}" if isinstance(data, dict) else "")
        )
    tasks = [_task(path, position, row, domain, split) for position, row in enumerate(rows)]
    first: dict[str, int] = {}
    for position, task in enumerate(tasks):
        if task.id in first:
            raise DataError(
                f"{path}: tasks {first[task.id]} and {position} share the id {task.id!r}: task ids must be unique "
                "(a run records one episode per task and trial)"
            )
        first[task.id] = position
    return tasks


def _task(path: Path, position: int, row: Any, domain: str, split: str) -> Task:
    if not isinstance(row, dict):
        raise DataError(f"{path}: task {position} is {json_kind(row)}, not an object")
    if not isinstance(row.get("instruction"), str):
        raise DataError(f'{path}: task {position} has no "instruction" text')
    actions = row.get("actions", [])
    if not isinstance(actions, list) or not all(isinstance(a, dict) and "name" in a for a in actions):
        raise DataError(f'{path}: task {position}\'s "actions" must be a list of objects with a "name"')
    try:
        if "id" in row:
            return Task.from_dict({"domain": domain, "split": split, **row})
        return Task(
            id=str(row.get("index", position)),
            domain=domain,
            split=split,
            user_id=row.get("user_id"),
            instruction=row["instruction"],
            actions=tuple(Action.from_dict(a) for a in actions),
            outputs=tuple(row.get("outputs", [])),
            reward_basis=RewardBasis(row.get("reward_basis", "db+outputs")),
            metadata={k: row[k] for k in ("gold_data_hash",) if k in row},
        )
    except (TypeError, ValueError) as exc:  # a field of the wrong type, an unknown reward basis
        raise DataError(f"{path}: task {position} is malformed: {exc}") from exc
