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

# --skyrl: (package that must import, taurl's entrypoint module, what it is, the extra that installs it)
ENTRYPOINTS = {
    "0.3": ("skyrl_train", "taurl.skyrl.train", "skyrl-train 0.3.1", "train"),
    "0.4": ("skyrl.train", "taurl.skyrl.train04", "skyrl 0.4.0", "skyrl04"),
}


def _installed(package: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(package) is not None
    except ModuleNotFoundError:  # skyrl.train without skyrl
        return False


def skyrl_entrypoint(choice: str = "auto") -> tuple[str, str]:
    """(what runs, the module to run) for --skyrl 0.3, 0.4 or auto (the one SkyRL installed here)."""
    if choice not in ("auto", *ENTRYPOINTS):
        raise ValueError(f"--skyrl {choice!r}: one of auto, {', '.join(ENTRYPOINTS)}")
    installed = [v for v, (package, *_) in ENTRYPOINTS.items() if _installed(package)]
    if choice == "auto":
        if len(installed) != 1:
            found = "both are" if installed else "neither is"
            raise ValueError(
                f"skyrl-train 0.3.1 or skyrl 0.4.0: {found} installed here. On a GPU machine with Python 3.12 "
                "install one (`pip install 'taurl[train]'` or `'taurl[skyrl04]'`, see README, Training) and/or pass "
                "--skyrl 0.3|0.4; or use --dry-run to check the pipeline on this CPU"
            )
        choice = installed[0]
    package, module, name, extra = ENTRYPOINTS[choice]
    if choice not in installed:
        raise ValueError(
            f"{name} is not installed here: on a GPU machine with Python 3.12 run `pip install 'taurl[{extra}]'` "
            "(see README, Training), or use --dry-run to check the pipeline on this CPU"
        )
    return name, module


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
    user: Annotated[
        str,
        typer.Option(
            help="Dry run user: auto (the config's when it can answer here, else scripted), config, scripted, "
            "or serve-sim (an LLM user on taurl's local simulator)."
        ),
    ] = "auto",
    skyrl: Annotated[
        str,
        typer.Option(
            "--skyrl",
            help="Training run: which SkyRL, 0.3 (skyrl-train 0.3.1, the train extra), 0.4 (skyrl 0.4.0, the "
            "skyrl04 extra) or auto (the one installed).",
        ),
    ] = "auto",
) -> None:
    """PPO on SkyRL. Extra KEY=VALUE arguments are config overrides (e.g. data.train_data=[...]).

    Without --dry-run this runs `python -m taurl.skyrl.train` (skyrl-train 0.3.1, `pip install 'taurl[train]'`)
    or `python -m taurl.skyrl.train04` (skyrl 0.4.0, `pip install 'taurl[skyrl04]'`) on a GPU machine, saying
    which. With it, one step's generation on this CPU: skyrl-train's own generator where it imports, else the envs."""
    overrides = list(ctx.args)
    if not dry_run:
        import subprocess

        try:
            version, module = skyrl_entrypoint(skyrl)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        console.print(f"SkyRL {version}: python -m {module}")
        raise typer.Exit(subprocess.call([sys.executable, "-m", module, *overrides]))
    from contextlib import ExitStack

    from omegaconf.errors import OmegaConfBaseException

    from taurl.sim.server import SimServer
    from taurl.skyrl import dry_run as dry
    from taurl.skyrl.env import TauBenchEnv

    config_file = config or dry.CONFIG_FILE
    try:
        with ExitStack() as stack:
            user_overrides, user_said = dry.offline_user(dry.load_config(config_file, overrides), user)
            if user == "serve-sim":
                sim = stack.enter_context(SimServer())
                user_overrides.append(f"{dry.ENV_CONFIG}.user_base_url={sim.base_url}")
            console.print(f"user: {user_said}")
            version = dry.training_stack()
            if version:
                console.print(
                    f"path: skyrl-train {version}'s SkyRLGymGenerator and InferenceEngineClient (config composed over "
                    "its ppo_base_config and validated, its PromptDataset), a CPU policy where vLLM would be"
                )
                trajectories, metrics = dry.generator_dry_run(
                    [*overrides, *user_overrides], config_file, prompts, policy, policy_model, policy_base_url
                )
            else:
                console.print(
                    "path: tau_bench envs via skyrl_gym.make, without SkyRL's generator (skyrl-train is not importable "
                    "here; on Python 3.12 with the train extra installed the dry run runs SkyRL's own generator)"
                )
                cfg = dry.load_config(config_file, [*overrides, *user_overrides])
                trajectories = dry.dry_run(cfg, prompts, policy, policy_model, policy_base_url)
                metrics = TauBenchEnv.aggregate_metrics([t.metrics for t in trajectories])
    except (FileNotFoundError, ValueError, DataError, OmegaConfBaseException) as exc:
        raise fail(str(exc)) from exc
    tokens = bool(trajectories) and trajectories[0].prompt_tokens is not None
    table = Table("task", "domain", "reward", "turns", "ended", *(["prompt tokens", "response tokens"] * tokens))
    for t in trajectories:
        counts = [str(t.prompt_tokens), str(t.response_tokens)] if tokens else []
        table.add_row(t.task_id, t.domain, f"{t.reward:.2f}", str(t.turns), t.ended, *counts)
    console.print(table)
    console.print(
        "metrics (as SkyRL aggregates them): " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(metrics.items()))
    )
