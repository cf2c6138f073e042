"""The CLI starts fast: ``taurl NAME`` loads the module of command NAME and no other command's, and every
command works the same through that app as through the whole one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize(("command", "module"), [("sql", "taurl.cli.recording"), ("show", "taurl.cli.analysis")])
def test_a_command_loads_its_own_module_and_no_other_command_module(command, module):
    code = (
        f"import sys; from taurl.cli import build; build({command!r}); "
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('taurl.cli.'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert set(done.stdout.split()) - {"taurl.cli.common", "taurl.cli.tables"} == {module}


def test_every_command_runs_through_the_app_built_for_it_alone():
    import typer.main

    from taurl.cli import GROUPS, TOP_LEVEL, build

    full = typer.main.get_command(build())
    assert set(full.commands) == {c for commands in TOP_LEVEL.values() for c in commands} | set(GROUPS)
    for name, command in full.commands.items():
        alone = typer.main.get_command(build(name))
        assert name in alone.commands and len(alone.commands) <= max(len(c) for c in TOP_LEVEL.values())
        assert alone.commands[name].get_short_help_str() == command.get_short_help_str()
