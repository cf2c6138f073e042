"""The package's layers hold: the core, the model client, the domains, the record, the backends and the three
stages (running episodes, reading recordings back, checking) import nothing above them, and no import cycle
runs anywhere in the package. Every import
counts, those inside functions too (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "taurl"
# a layer -> the layers it may import (itself included)
ALLOWED = {
    "core": {"core"},
    "llm": {"core", "llm"},
    "domains": {"core", "llm", "users", "agent", "domains"},
    "record": {"", "core", "paths", "record"},  # record/INVARIANTS.md ("": taurl.__version__ for run records)
    "backends": {"core", "domains", "llm", "backends"},  # backends/INVARIANTS.md
    # the stages: running episodes, then reading recordings back, then checking rewards and data
    "episodes": {"core", "llm", "users", "agent", "domains", "registry", "record", "paths", "episodes"},
    "review": {"", "core", "llm", "users", "agent", "domains", "backends", "registry", "record", "paths", "importers"}
    | {"episodes", "review"},
    "checks": {"core", "users", "agent", "domains", "registry", "record", "episodes", "review", "checks"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The taurl modules ``name`` imports (a ``from package import module`` names the module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("taurl") and target != name:
                yield target


@functools.cache
def graph() -> dict[str, set[str]]:
    """Every taurl module's imports (parsed once: the tests only read it)."""
    known = modules()
    return {name: set(imports(name, path, known)) for name, path in known.items()}


def layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def test_lower_layers_import_nothing_above_them():
    upward = [
        f"{module} imports {target}"
        for module, targets in graph().items()
        if layer(module) in ALLOWED
        for target in sorted(targets)
        if layer(target) not in ALLOWED[layer(module)]
    ]
    assert upward == []


def test_no_import_cycle():
    assert [sorted(component) for component in cycles(graph())] == []


def test_the_check_sees_a_lazy_upward_import_and_a_cycle():
    """The checks above are not vacuous: an import inside a function counts, and a cycle is found."""
    edges = graph()
    assert "taurl.registry" in edges["taurl.episodes.rollout"]  # rollout imports the registry at module level
    assert "taurl.users.llm" in edges["taurl.domains.base"]  # imported inside make_user
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
