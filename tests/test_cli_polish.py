"""The CLI's surface: help without Python type tags, `taurl sql` tables that fit, recordings given either way."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from taurl.agent.oracle import OracleAgent
from taurl.cli import app
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.record.schema import episode_row
from taurl.record.writer import RecordingWriter
from taurl.registry import get_domain
from taurl.users.scripted import ScriptedUser

TYPE_TAG = re.compile(r"<(str|int|float|bool|path|list\[|[a-z]+ range)")


def invoke(*args: str, width: int = 200):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(width)}, terminal_width=width)


def commands() -> list[list[str]]:
    import typer.main

    root = typer.main.get_command(app)
    found = []
    for name, command in root.commands.items():
        subs = getattr(command, "commands", None)
        found += [[name, sub] for sub in subs] if subs else [[name]]
    return found


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_help_names_no_python_types(command):
    result = invoke(*command, "--help", width=80)
    assert result.exit_code == 0, result.output
    assert not TYPE_TAG.search(result.output), TYPE_TAG.search(result.output).group(0)
    assert "--help" in result.output


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_help_keeps_every_bracket_it_was_written_with(command):
    """Help is rich markup: `pip install 'taurl[train]'` would lose its extra unless the bracket is escaped."""
    import typer.main

    node = typer.main.get_command(app)
    for name in command:
        node = node.commands[name]
    texts = [node.help or "", *(getattr(param, "help", None) or "" for param in node.params)]
    written = {f"[{inner}]" for text in texts for inner in re.findall(r"\\?\[([^\]\n]*)\]", text)}
    shown = " ".join(invoke(*command, "--help", width=250).output.split())
    assert [b for b in written if " ".join(b.split()) not in shown] == []


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    rec = tmp_path_factory.mktemp("polish") / "rec"
    tasks = get_domain("retail").tasks("test")[:2]
    with RecordingWriter(rec) as writer:
        for task in tasks:
            result = run_episode(EpisodeSpec(task), OracleAgent(), ScriptedUser(), RolloutConfig())
            writer.add(episode_row(result, "a-rather-long-run-identifier", "oracle", "scripted"))
    return rec


def test_sql_table_rounds_numbers_shortens_hash_ids_and_prints_null(recording):
    query = "SELECT episode_id, run_id, 1 / 3 AS third, NULL AS nothing FROM episodes ORDER BY episode_id"
    table = invoke("sql", str(recording), query, width=80)
    assert table.exit_code == 0, table.output
    whole = json.loads(invoke("sql", str(recording), query, "--format", "json").output)
    lines = table.output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    for row in whole:
        (line,) = [line for line in lines if row["episode_id"][:10] in line]
        assert row["episode_id"] not in line  # the id is shortened (a prefix taurl show accepts) ...
        assert "0.3333" in line and "NULL" in line and "0.33333" not in line
    assert "a-rather-long-run-identifier" in table.output  # ... a run id is not
    assert "--format json prints them whole" in table.output
    assert len(whole[0]["episode_id"]) == 20 and whole[0]["nothing"] is None


def test_recordings_are_accepted_positionally_or_with_the_option(recording, tmp_path):
    query = "SELECT count(*) AS n FROM episodes -- " + "longer than a file name can be " * 10
    for args in (["sql", str(recording), query], ["sql", "--recording", str(recording), query]):
        assert json.loads(invoke(*args, "--format", "json").output) == [{"n": 2}]
    episode = "a-rather-long-run-identifier/" + get_domain("retail").tasks("test")[0].id
    for args in (["show", episode, str(recording)], ["show", episode, "--recording", str(recording)]):
        result = invoke(*args)
        assert result.exit_code == 0 and "a-rather-long-run-identifier" in result.output, result.output
    for flag in ([], ["--recording"]):
        result = invoke("replay", *flag, str(recording))
        assert result.exit_code == 0 and "2 identical" in " ".join(result.output.split()), result.output
        out = tmp_path / f"report{len(flag)}.html"
        assert invoke("report", *flag, str(recording), "--out", str(out)).exit_code == 0 and out.exists()
        assert invoke("compact", *flag, str(recording)).exit_code == 0
    missing = invoke("report", "--out", str(tmp_path / "none.html"))
    assert missing.exit_code == 2 and "name a recording" in missing.stderr
    two = invoke("rescore", str(recording), "--recording", str(tmp_path))
    assert two.exit_code == 2 and "one recording at a time" in two.stderr
