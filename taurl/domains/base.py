"""A domain: its tools, its policy, where its data lives and how its tasks are loaded.

The base database is loaded once per process per data directory (τ-bench's airline data takes
about a second to parse) and shared, read-only, by every episode through copy-on-write views.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, RewardBasis, Task

SPLITS = ("train", "test", "dev")
RULE_LINE = re.compile(r"^\s*(?:[-*]|\d+\.)\s+\[([A-Z]+\d+)\]\s*(.*)$")


class DataError(ValueError):
    """A data directory or task file that cannot be used; the message says which file and why."""


@dataclass(frozen=True, eq=False)
class Domain:
    """``tables`` maps each state table to its file name; ``id_fields`` keys list-shaped files;
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

    @property
    def builtin_data_dir(self) -> Path:
        return self.package_dir / "data"

    def tools_for(self, tool_set: str = "default") -> ToolRegistry:
        if tool_set == "all" or (tool_set == "default" and "default" not in self.tool_sets):
            return self.tools
        if tool_set not in self.tool_sets:
            raise DataError(f"{self.name} has no tool set {tool_set!r}; known: {', '.join(self.tool_sets)}")
        return self.tools.subset(self.tool_sets[tool_set])

    def database(self, data_dir: Path | str | None = None) -> Database:
        """A fresh episode database over the (cached) base for ``data_dir``."""
        base, reference = _load_base(self, _resolve(data_dir) if data_dir else self.builtin_data_dir)
        return Database(base, reference)

    def tasks(self, split: str = "test", data_dir: Path | str | None = None) -> list[Task]:
        """Tasks of ``split``: from ``data_dir`` when given (``tasks_<split>.json``), else built in."""
        if data_dir is None:
            path = self.package_dir / "tasks" / f"{split}.json"
        else:
            path = _resolve(data_dir) / f"tasks_{split}.json"
        if not path.exists():
            where = "built in" if data_dir is None else f"in {data_dir}"
            raise DataError(f"no {split} tasks for {self.name} {where} (looked for {path})")
        return load_tasks(path, self.name, split)


def _resolve(data_dir: Path | str) -> Path:
    path = Path(data_dir).expanduser()
    if not path.is_dir():
        raise DataError(f"data directory {path} does not exist")
    return path.resolve()


@functools.cache
def _load_base(domain: Domain, data_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    def read(directory: Path, file_name: str, table: str) -> Any:
        path = directory / file_name
        if not path.exists():
            raise DataError(
                f"{domain.name}: {path} is missing (a {domain.name} data directory holds "
                f"{', '.join(sorted({**domain.tables, **domain.reference_files}.values()))})"
            )
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} is not valid JSON: {exc}") from exc
        if table in domain.readers:
            return domain.readers[table](data)
        if isinstance(data, list):
            id_field = domain.id_fields.get(table)
            if not id_field:
                raise DataError(f"{path} is a list but {domain.name}.{table} has no id field to key it by")
            data = {str(record[id_field]): record for record in data}
        return data

    tables = {table: read(data_dir, file_name, table) for table, file_name in domain.tables.items()}
    reference = {}
    for table, file_name in domain.reference_files.items():
        # static reference tables come with the package unless the data directory has its own
        source = data_dir if (data_dir / file_name).exists() else domain.builtin_data_dir
        reference[table] = read(source, file_name, table)
    return tables, reference


def load_tasks(path: Path, domain: str, split: str) -> list[Task]:
    """taurl's task files (``{"tasks": [Task...]}``) and τ-bench exports (tasks with an ``index``)."""
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not valid JSON: {exc}") from exc
    rows = data["tasks"] if isinstance(data, dict) else data
    tasks = []
    for position, row in enumerate(rows):
        if "id" in row:
            tasks.append(Task.from_dict({"domain": domain, "split": split, **row}))
            continue
        tasks.append(
            Task(
                id=str(row.get("index", position)),
                domain=domain,
                split=split,
                user_id=row.get("user_id"),
                instruction=row["instruction"],
                actions=tuple(Action.from_dict(a) for a in row.get("actions", [])),
                outputs=tuple(row.get("outputs", [])),
                reward_basis=RewardBasis(row.get("reward_basis", "db+outputs")),
                metadata={k: row[k] for k in ("gold_data_hash",) if k in row},
            )
        )
    return tasks
