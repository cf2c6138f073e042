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
    "import": ("importing", "import_app"),  # data's import_app, with `taurl import tau2` added
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


def quiet_teardown() -> None:
    """Once every exit handler has run (registered first, this one runs last), send stderr to /dev/null:
    DuckDB's extension may report "leaked instance of type DuckDBPyType" lines while the interpreter tears
    its modules down, depending on their finalisation order, after the command has said all it had to say."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stderr.fileno())
    except (OSError, ValueError):
        pass


def main() -> None:
    atexit.register(quiet_teardown)
    warnings.showwarning = show_warning
    command = sys.argv[1] if len(sys.argv) > 1 else None
    known = any(command in commands for commands in TOP_LEVEL.values()) or command in GROUPS
    build(command if known else None)()
