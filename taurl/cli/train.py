"""taurl train."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from taurl.cli.common import console, fail
from taurl.domains import DataError

app = typer.Typer()


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_command(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Drive the config and dataset on this CPU instead of launching PPO on GPUs."),
    ] = False,
    config: Annotated[Path | None, typer.Option(help="Training YAML (default: taurl's tau_bench.yaml).")] = None,
    prompts: Annotated[int, typer.Option(help="Dry run: prompts (trajectories) to run.")] = 4,
    policy: Annotated[
        str, typer.Option(help="Dry run policy: oracle, or endpoint (an OpenAI-compatible model).")
    ] = "oracle",
    policy_model: Annotated[str | None, typer.Option(help="Dry run endpoint policy: model name.")] = None,
    policy_base_url: Annotated[
        str | None, typer.Option(help="Dry run endpoint policy: base URL (e.g. serve-sim or vLLM).")
    ] = None,
) -> None:
    """PPO on SkyRL. Extra KEY=VALUE arguments are Hydra overrides (e.g. data.train_data=[...]).

    Without --dry-run this runs `python -m taurl.skyrl.train` (a GPU machine with `pip install 'taurl[train]'`)."""
    overrides = list(ctx.args)
    if not dry_run:
        import importlib.util
        import subprocess

        if importlib.util.find_spec("skyrl_train") is None:
            raise fail(
                "skyrl-train is not installed here: on a GPU machine with Python 3.12 run `pip install 'taurl[train]'` "
                "(see README, Training), or use --dry-run to check the pipeline on this CPU"
            )
        raise typer.Exit(subprocess.call([sys.executable, "-m", "taurl.skyrl.train", *overrides]))
    from taurl.skyrl.dry_run import CONFIG_FILE, load_config
    from taurl.skyrl.dry_run import dry_run as run_dry

    try:
        cfg = load_config(config or CONFIG_FILE, overrides)
        trajectories = run_dry(cfg, prompts, policy, policy_model, policy_base_url)
    except (FileNotFoundError, ValueError, DataError) as exc:
        raise fail(str(exc)) from exc
    table = Table(
        "task",
        "domain",
        "reward",
        "turns",
        "tool calls",
        "parse errors",
        "ended",
        title="dry run: tau_bench envs via skyrl_gym.make",
    )
    for t in trajectories:
        ended = next((k.removeprefix("ended_") for k in t.metrics if k.startswith("ended_")), "-")
        table.add_row(
            t.task_id,
            t.domain,
            f"{t.reward:.2f}",
            str(t.turns),
            str(t.metrics.get("tool_calls", 0)),
            str(t.metrics.get("parse_errors", 0)),
            ended,
        )
    console.print(table)
    from taurl.skyrl.env import TauBenchEnv

    aggregated = TauBenchEnv.aggregate_metrics([t.metrics for t in trajectories])
    console.print(
        "env metrics (as SkyRL aggregates them): " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(aggregated.items()))
    )
