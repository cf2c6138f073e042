"""The ``taurl`` command, one module per command group.

``taurl NAME ...`` loads only the module that defines NAME: importing every group and building every
command's parameters took about a third of a second before any command ran. ``taurl --help``, a name
not listed here, and ``from taurl.cli import app`` load them all.
"""

from __future__ import annotations

import atexit
import os
import sys
import warnings
from importlib import import_module
from typing import Any

import typer

from taurl.cli.common import UntypedHelpGroup, show_warning

HELP = "taurl: record, replay and score τ-bench-style tool-use episodes; train on them with SkyRL."
# modules whose commands sit at the top level, in the order of --help, with the commands each defines
TOP_LEVEL = {
    "run": ("run", "hash"),
    "recording": ("sql", "compact"),
    "sim": ("serve-sim",),
    "train": ("train",),
    "analysis": ("replay", "rescore", "report", "show"),
    "judge": ("judge",),
}
# command groups: name -> (module, its Typer), then the order of --help
GROUPS = {
    "domains": ("domains", "app"),
    "data": ("data", "data_app"),
    "import": ("importing", "import_app"),
    "export": ("export", "app"),
    "audit": ("audit", "app"),
}


def build(command: str | None = None) -> typer.Typer:
    """The ``taurl`` app with every command, or with ``command``'s module alone."""
    app = typer.Typer(
        help=HELP, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, cls=UntypedHelpGroup
    )
    app.callback()(lambda: None)  # a group even when it holds one command
    for module, commands in TOP_LEVEL.items():
        if command is None or command in commands:
            app.add_typer(import_module(f"taurl.cli.{module}").app)
    for name, (module, attribute) in GROUPS.items():
        if command is None or command == name:
            app.add_typer(getattr(import_module(f"taurl.cli.{module}"), attribute), name=name)
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        globals()["app"] = build()
        return globals()["app"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_exit_status: list[int] = []  # the command's exit status, once it is known


def exit_without_teardown() -> None:
    """The last exit handler (registered first): once every other one ran, flush and leave with the
    command's status, skipping the interpreter's module teardown. There DuckDB's extension may report
    "leaked instance of type DuckDBPyType" lines, or abort the process (SIGABRT) after the command
    succeeded, depending on the modules' finalisation order (seen in CI)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(_exit_status[0] if _exit_status else 1)  # no status: an exception escaped, as Python exits


def status_of(code: object) -> int:
    """The process exit status ``sys.exit(code)`` stands for (Python prints any other object, then exits 1)."""
    if code is None:
        return 0
    return code & 0xFF if isinstance(code, int) else 1


def main() -> None:
    atexit.register(exit_without_teardown)
    warnings.showwarning = show_warning
    command = sys.argv[1] if len(sys.argv) > 1 else None
    known = any(command in commands for commands in TOP_LEVEL.values()) or command in GROUPS
    try:
        build(command if known else None)()
    except SystemExit as exc:
        _exit_status.append(status_of(exc.code))
        raise
    _exit_status.append(0)
