"""Tool registry: plain functions ``(db, **kwargs) -> str`` whose signature and docstring are the schema.

A tool is registered with the decorator of its kind (``@registry.read``, ``.write``, ``.think``,
``.terminate``). Its OpenAI function schema is derived from the type hints (``str``, ``int``,
``float``, ``bool``, ``list[...]``, ``dict``, ``Literal[...]`` for enums, ``TypedDict`` for objects,
``Annotated[T, "description"]`` for field descriptions) and its Google-style docstring (summary,
``Args:``). Every call is checked against that schema before the function runs, so a bad call
becomes an ``Error: ...`` observation and changes nothing.
"""

from __future__ import annotations

import inspect
import re
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints, is_typeddict

from taurl.core.db import Database, clone
from taurl.core.types import Action, ToolKind, ToolResult

ToolFunction = Callable[..., str]
JSON_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


class Refusal(Exception):
    """Raised inside a tool for a request the policy or the data does not allow. The registry turns
    it into the observation ``Error: <message>`` (a tool error, not a crash); like any tool error,
    it should be raised before the tool changes anything."""


def require_record(db: Database, table: str, key: str, what: str) -> Any:
    """The record ``key`` of ``table`` (read-only), or a :class:`Refusal` saying ``<what> <key> not found``."""
    records = db[table]
    if key not in records:
        raise Refusal(f"{what} {key} not found")
    return records[key]


class ToolSchemaError(TypeError):
    """A tool's signature cannot be turned into a schema: a programming error, raised at import."""


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Summary paragraph and ``Args:`` descriptions of a Google-style docstring."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    args: dict[str, str] = {}
    current: str | None = None
    in_args = False
    for line in lines:
        stripped = line.strip()
        if stripped in ("Args:", "Arguments:"):
            in_args = True
            continue
        if in_args:
            if re.match(r"^[A-Z][a-z]+:$", stripped):  # next section (Returns:, Raises:)
                in_args = False
                continue
            match = re.match(r"^(\w+)(?:\s*\(.*?\))?:\s*(.*)$", stripped)
            if match and not line.startswith("        "):
                current = match.group(1)
                args[current] = match.group(2)
            elif current and stripped:
                args[current] = f"{args[current]} {stripped}".strip()
        elif stripped or summary:
            summary.append(stripped)
    return " ".join(s for s in summary if s).strip(), args


def _schema_for(annotation: Any, where: str) -> dict[str, Any]:
    """JSON schema of a type hint (the subset tools use)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        schema = _schema_for(inner, where)
        descriptions = [m for m in meta if isinstance(m, str)]
        if descriptions:
            schema["description"] = descriptions[0]
        return schema
    if annotation in JSON_TYPE_NAMES:
        return {"type": JSON_TYPE_NAMES[annotation]}
    if origin is Literal:
        values = list(get_args(annotation))
        kinds = {type(v) for v in values}
        if len(kinds) != 1 or next(iter(kinds)) not in JSON_TYPE_NAMES:
            raise ToolSchemaError(f"{where}: Literal values must share one JSON type")
        return {"type": JSON_TYPE_NAMES[kinds.pop()], "enum": values}
    if origin in (list, tuple) or annotation in (list, tuple):
        args = get_args(annotation)
        schema: dict[str, Any] = {"type": "array"}
        if args:
            schema["items"] = _schema_for(args[0], where)
        return schema
    if is_typeddict(annotation):
        hints = get_type_hints(annotation, include_extras=True)
        return {
            "type": "object",
            "properties": {name: _schema_for(hint, f"{where}.{name}") for name, hint in hints.items()},
            "required": [name for name in hints if name in annotation.__required_keys__],
        }
    if origin is dict or annotation is dict:
        return {"type": "object"}
    if origin in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _schema_for(members[0], where)
        return {"anyOf": [_schema_for(m, where) for m in members]}
    if annotation is Any:
        return {}
    raise ToolSchemaError(f"{where}: unsupported type {annotation!r}")


def _type_name(value: Any) -> str:
    return {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}.get(
        type(value), type(value).__name__
    )


def check_value(value: Any, schema: dict[str, Any], where: str) -> str | None:
    """The first way ``value`` breaks ``schema``, in words, or None. Nested objects may carry extra keys."""
    if "anyOf" in schema:
        if all(check_value(value, s, where) for s in schema["anyOf"]):
            return f"{where} has the wrong type ({_type_name(value)})"
        return None
    expected = schema.get("type")
    ok = {
        None: True,
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
    }[expected]
    if not ok:
        return f"{where} must be {expected}, got {_type_name(value)} {value!r:.60}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{where} must be one of {schema['enum']}, got {value!r:.60}"
    if expected == "array" and "items" in schema:
        for index, item in enumerate(value):
            problem = check_value(item, schema["items"], f"{where}[{index}]")
            if problem:
                return problem
    if expected == "object" and "properties" in schema:
        for name in schema.get("required", []):
            if name not in value:
                return f"{where} is missing required key '{name}'"
        for name, sub in schema["properties"].items():
            if name in value:
                problem = check_value(value[name], sub, f"{where}.{name}")
                if problem:
                    return problem
    return None


@dataclass(frozen=True)
class Tool:
    name: str
    kind: ToolKind
    function: ToolFunction
    description: str
    parameters: dict[str, Any]

    @classmethod
    def from_function(cls, function: ToolFunction, kind: ToolKind) -> Tool:
        name = function.__name__
        summary, arg_docs = _parse_docstring(function.__doc__)
        if not summary:
            raise ToolSchemaError(f"tool {name} needs a docstring: it is the description the model sees")
        hints = get_type_hints(function, include_extras=True)
        signature = inspect.signature(function)
        params = list(signature.parameters.values())
        if not params or params[0].name != "db":
            raise ToolSchemaError(f"tool {name}: the first parameter must be `db`")
        properties: dict[str, Any] = {}
        required: list[str] = []
        for param in params[1:]:
            if param.name not in hints:
                raise ToolSchemaError(f"tool {name}: parameter {param.name} needs a type hint")
            schema = _schema_for(hints[param.name], f"{name}.{param.name}")
            if param.name in arg_docs and "description" not in schema:
                schema = {"description": arg_docs[param.name], **schema}
            properties[param.name] = schema
            if param.default is inspect.Parameter.empty:
                required.append(param.name)
        parameters = {"type": "object", "properties": properties, "required": required}
        return cls(name, kind, function, summary, parameters)

    def openai_schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def signature_text(self) -> str:
        """``name(a: string, b?: integer)``: what the tool accepts, for error messages."""
        required = set(self.parameters["required"])
        args = ", ".join(
            f"{p}{'' if p in required else '?'}: {s.get('type', 'any')}"
            for p, s in self.parameters["properties"].items()
        )
        return f"{self.name}({args})"

    def check_arguments(self, kwargs: dict[str, Any]) -> str | None:
        """Why these arguments are not acceptable, or None."""
        properties = self.parameters["properties"]
        unknown = sorted(set(kwargs) - set(properties))
        if unknown:
            return f"unexpected argument(s) {', '.join(unknown)}"
        missing = [p for p in self.parameters["required"] if p not in kwargs]
        if missing:
            return f"missing required argument(s) {', '.join(missing)}"
        for name, value in kwargs.items():
            problem = check_value(value, properties[name], name)
            if problem:
                return problem
        return None


class ToolRegistry:
    """The tools of one domain, in registration order (the order the model sees them)."""

    def __init__(self, domain: str, tools: Iterable[Tool] = ()):
        self.domain = domain
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self._add(t)

    def _add(self, t: Tool) -> None:
        if t.name in self._tools:
            raise ToolSchemaError(f"{self.domain}: tool {t.name} registered twice")
        self._tools[t.name] = t

    def register(self, kind: ToolKind) -> Callable[[ToolFunction], ToolFunction]:
        def decorator(function: ToolFunction) -> ToolFunction:
            self._add(Tool.from_function(function, kind))
            return function

        return decorator

    @property
    def read(self) -> Callable[[ToolFunction], ToolFunction]:
        return self.register(ToolKind.READ)

    @property
    def write(self) -> Callable[[ToolFunction], ToolFunction]:
        return self.register(ToolKind.WRITE)

    @property
    def think(self) -> Callable[[ToolFunction], ToolFunction]:
        return self.register(ToolKind.THINK)

    @property
    def terminate(self) -> Callable[[ToolFunction], ToolFunction]:
        return self.register(ToolKind.TERMINATE)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __iter__(self):
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        wanted = set(names)
        missing = wanted - set(self._tools)
        if missing:
            raise KeyError(f"{self.domain} has no tool(s) {sorted(missing)}")
        return ToolRegistry(self.domain, (t for t in self._tools.values() if t.name in wanted))

    def openai_schemas(self) -> list[dict[str, Any]]:
        return [t.openai_schema() for t in self._tools.values()]

    def check(self, action: Action) -> str | None:
        """Why ``action`` cannot run, in words that say what is accepted, or None."""
        tool = self._tools.get(action.name)
        if tool is None:
            return f"unknown tool '{action.name}'. Available tools: {', '.join(self._tools)}"
        problem = tool.check_arguments(action.kwargs)
        if problem:
            return f"{problem} in call to {action.name}. It accepts {tool.signature_text()}"
        return None

    def invoke(self, db: Database, action: Action) -> ToolResult:
        """Run one tool call. Never raises: every failure is an ``Error: ...`` observation."""
        problem = self.check(action)
        tool = self._tools.get(action.name)
        kind = tool.kind if tool else None
        if problem:
            error = "unknown_tool" if tool is None else "bad_arguments"
            return ToolResult(action, f"Error: {problem}", kind, error)
        try:
            # tools may store argument values in the database: never alias the caller's action
            observation = tool.function(db, **clone(action.kwargs))
        except Refusal as refusal:
            return ToolResult(action, f"Error: {refusal}", kind, "tool_error")
        except Exception as exc:  # a tool bug or a KeyError deep in data: the model sees it, as in τ-bench
            return ToolResult(action, f"Error: {exc}", kind, "tool_exception")
        if not isinstance(observation, str):
            observation = str(observation)
        error = "tool_error" if observation.startswith("Error") else None
        return ToolResult(action, observation, kind, error)
