"""Option bundles: options defined once (taurl/cli/common.py) that every command taking them shows alike and
hands to the command as one value."""

from __future__ import annotations

from pathlib import Path

import typer
import typer.main
from typer.testing import CliRunner

from taurl.cli import app
from taurl.cli.common import JudgeModel, ModelCalls, ReadRecordings, option_bundles


def test_a_command_gets_its_bundles_built_from_the_options_given():
    seen = {}
    toy = typer.Typer()

    @toy.command()
    @option_bundles
    def command(
        name: str,
        judge: JudgeModel = JudgeModel("default-judge"),
        calls: ModelCalls = ModelCalls(cache_dir=Path("cache")),
        read: ReadRecordings = ReadRecordings(),
        loud: bool = False,
    ) -> None:
        seen.update(name=name, judge=judge, calls=calls, read=read, loud=loud)

    args = ["n", "rec", "--judge-base-url", "http://j", "--max-cost-usd", "2", "--query-timeout", "5", "--loud"]
    done = CliRunner().invoke(toy, args)
    assert done.exit_code == 0, done.output
    assert seen["name"] == "n" and seen["loud"] is True
    assert seen["judge"] == JudgeModel("default-judge", "http://j")  # the command's default kept where not given
    assert seen["calls"] == ModelCalls(cache_dir=Path("cache"), max_cost_usd=2.0)
    assert seen["read"].names == ["rec"] and seen["read"].timeout == 5.0
    assert seen["calls"].limits().max_cost_usd == 2.0 and seen["judge"].endpoint("KEY").api_key_env == "KEY"


def test_a_bundle_shows_the_same_options_in_every_command_that_takes_it():
    root = typer.main.get_command(app)
    bundled = ("judge_model", "judge_base_url", "api_key_env", "max_cost_usd", "max_tokens_budget")
    helps: dict[str, set[str | None]] = {}
    for name in ("run", "judge", "train", "rescore"):
        for param in root.commands[name].params:
            if param.name in bundled:
                helps.setdefault(param.name, set()).add(param.help)
    assert set(helps) == set(bundled)
    assert {name: len(texts) for name, texts in helps.items()} == dict.fromkeys(bundled, 1)
