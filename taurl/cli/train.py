"""taurl train."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from taurl.cli.common import DataDirOption, JudgeModel, ModelCalls, console, fail, option_bundles, parse_data_dirs
from taurl.cli.tables import Col, print_table
from taurl.core.types import RewardBasis
from taurl.domains import DataError

app = typer.Typer()
TINKER = "Tinker backend (--backend tinker)"

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
@option_bundles(panel=TINKER)
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
            "or serve-sim (an LLM user on taurl's local simulator). --backend tinker: scripted (auto), llm, react, "
            "verify or reflection (with --user-model)."
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
    backend: Annotated[
        str,
        typer.Option(
            help="skyrl: PPO on SkyRL (GPU machine, or --dry-run here); tinker: group-relative RL through the Tinker "
            "API, every trajectory recorded (the options below).",
        ),
    ] = "skyrl",
    base_model: Annotated[
        str | None,
        typer.Option(
            rich_help_panel=TINKER,
            help="The model to train with LoRA (a Qwen-vocabulary model; with "
            "--serve-local, a local checkpoint directory).",
        ),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            rich_help_panel=TINKER, help="A Tinker server (default: the hosted service, key from TINKER_API_KEY)."
        ),
    ] = None,
    serve_local: Annotated[
        bool,
        typer.Option(
            "--serve-local",
            rich_help_panel=TINKER,
            help="Start SkyRL's Tinker server (JAX) on this machine for the run (make tinker-env).",
        ),
    ] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(
            rich_help_panel=TINKER,
            help="--serve-local: the server's directory (its checkpoints; kept for "
            "--resume). Default .taurl/tinker/RUN_ID.",
        ),
    ] = None,
    domain: Annotated[
        str | None, typer.Option(rich_help_panel=TINKER, help="Train on this domain's task set (or --data).")
    ] = None,
    split: Annotated[str, typer.Option(rich_help_panel=TINKER, help="The task set's split.")] = "train",
    task_ids: Annotated[
        str | None, typer.Option(rich_help_panel=TINKER, help="Comma-separated task ids (default: the whole split).")
    ] = None,
    data: Annotated[
        list[Path] | None,
        typer.Option(
            rich_help_panel=TINKER,
            help="Train on SkyRL parquet rows (taurl data convert), each with its own prompt. Repeatable.",
        ),
    ] = None,
    eval_split: Annotated[
        str | None, typer.Option(rich_help_panel=TINKER, help="Held-out split of --domain to evaluate on.")
    ] = None,
    eval_data: Annotated[
        list[Path] | None, typer.Option(rich_help_panel=TINKER, help="Held-out parquet rows to evaluate on.")
    ] = None,
    tasks_per_step: Annotated[int, typer.Option(rich_help_panel=TINKER, min=1, help="B: tasks per step.")] = 8,
    group_size: Annotated[int, typer.Option(rich_help_panel=TINKER, min=2, help="G: samples per task.")] = 8,
    steps: Annotated[int, typer.Option(rich_help_panel=TINKER, min=1, help="Training steps.")] = 10,
    learning_rate: Annotated[float, typer.Option(rich_help_panel=TINKER, help="Adam's learning rate.")] = 4e-5,
    lora_rank: Annotated[int, typer.Option(rich_help_panel=TINKER, min=1, help="LoRA rank.")] = 32,
    loss: Annotated[
        str, typer.Option(rich_help_panel=TINKER, help="importance_sampling or ppo (clipped ratio, --ppo-clip).")
    ] = "importance_sampling",
    ppo_clip: Annotated[float, typer.Option(rich_help_panel=TINKER, help="ppo: the ratio's clip range.")] = 0.2,
    advantage: Annotated[
        str,
        typer.Option(
            rich_help_panel=TINKER, help="grpo (group mean and std), dr_grpo (mean only) or rloo (leave-one-out mean)."
        ),
    ] = "grpo",
    max_turns: Annotated[int, typer.Option(rich_help_panel=TINKER, min=1, help="Agent actions per episode.")] = 30,
    max_tokens: Annotated[
        int, typer.Option(rich_help_panel=TINKER, min=1, help="Tokens the policy may sample per turn.")
    ] = 512,
    temperature: Annotated[float, typer.Option(rich_help_panel=TINKER, help="Sampling temperature.")] = 1.0,
    seed: Annotated[
        int, typer.Option(rich_help_panel=TINKER, help="Seeds the task order, the LoRA init and every sample.")
    ] = 0,
    eval_every: Annotated[
        int,
        typer.Option(
            rich_help_panel=TINKER, min=0, help="Evaluate (pass^1) after every N steps; 0: only after the last step."
        ),
    ] = 0,
    eval_trials: Annotated[
        int, typer.Option(rich_help_panel=TINKER, min=1, help="Trials per held-out task after the last step (pass^k).")
    ] = 1,
    recording: Annotated[
        str | None, typer.Option(rich_help_panel=TINKER, help="Record every trajectory and step here (required).")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(rich_help_panel=TINKER, help="Run id (default: derived from the settings and tasks).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            rich_help_panel=TINKER,
            help="Continue the run from its last checkpoint; recorded "
            "trajectories are trained on, never sampled again.",
        ),
    ] = False,
    checkpoint_every: Annotated[
        int, typer.Option(rich_help_panel=TINKER, min=1, help="save_state every N steps (and after the last).")
    ] = 1,
    durable: Annotated[
        bool, typer.Option("--durable", rich_help_panel=TINKER, help="fsync every segment written.")
    ] = False,
    unlocked: Annotated[
        bool,
        typer.Option("--unlocked", rich_help_panel=TINKER, help="Object-store recordings: run without the run lock."),
    ] = False,
    keep_trivial: Annotated[
        bool,
        typer.Option(
            "--keep-trivial",
            rich_help_panel=TINKER,
            help="Train on tasks a do-nothing, refuse or transfer policy already passes too (left out by default).",
        ),
    ] = False,
    measure_update: Annotated[
        bool,
        typer.Option(
            "--measure-update",
            rich_help_panel=TINKER,
            help="Record each trajectory's summed logprob before and after the update (train_steps.update_check).",
        ),
    ] = False,
    user_model: Annotated[str, typer.Option(rich_help_panel=TINKER, help="The LLM user's model.")] = "gpt-4o",
    user_base_url: Annotated[
        str | None, typer.Option(rich_help_panel=TINKER, help="The LLM user's OpenAI-compatible endpoint.")
    ] = None,
    basis: Annotated[
        RewardBasis | None, typer.Option(rich_help_panel=TINKER, help="Reward basis (default: each task's own).")
    ] = None,
    judge: JudgeModel = JudgeModel(),
    judge_weight: Annotated[
        float, typer.Option(rich_help_panel=TINKER, min=0.0, max=1.0, help="The judge as a shaping term.")
    ] = 0.0,
    calls: ModelCalls = ModelCalls(),
    data_dir: DataDirOption = None,
) -> None:
    """PPO on SkyRL, or (--backend tinker) RL through the Tinker API. SkyRL: extra KEY=VALUE arguments are config
    overrides (e.g. data.train_data=[...]).

    Without --dry-run this runs `python -m taurl.skyrl.train` (skyrl-train 0.3.1, `pip install 'taurl\\[train]'`)
    or `python -m taurl.skyrl.train04` (skyrl 0.4.0, `pip install 'taurl\\[skyrl04]'`) on a GPU machine, saying
    which. With it, one step's generation on this CPU: skyrl-train's own generator where it imports, else the envs."""
    overrides = list(ctx.args)
    if backend == "tinker":
        if overrides or dry_run:
            raise fail(
                f"--backend tinker takes no {'--dry-run' if dry_run else 'config overrides'} ({' '.join(overrides)}): "
                "see taurl train --help, Tinker options"
            )
        from taurl.cli.train_tinker import TinkerOptions, train_tinker
        from taurl.tinker.loop import TrainSettings

        if base_model is None:
            raise fail("--backend tinker needs --base-model")
        if serve_local and Path(base_model).is_dir():  # the local server runs in its work directory: name it whole
            base_model = str(Path(base_model).resolve())
        settings = TrainSettings(
            base_model, steps, tasks_per_step, group_size, learning_rate, lora_rank, loss, ppo_clip, advantage,
            max_tokens, temperature, eval_every, eval_trials, checkpoint_every, measure_update,
        )  # fmt: skip
        options = TinkerOptions(
            domain, split, task_ids, list(data or []), eval_split, list(eval_data or []), base_url, serve_local,
            workdir, recording, run_id, resume, durable, unlocked, keep_trivial,
            "scripted" if user == "auto" else user, user_model, user_base_url, basis, judge, judge_weight, max_turns, seed,
            parse_data_dirs(data_dir), calls,
        )  # fmt: skip
        train_tinker(settings, options)
        return
    if backend != "skyrl":
        raise fail(f"unknown --backend {backend!r}: skyrl or tinker")
    if not dry_run:
        import subprocess

        try:
            version, module = skyrl_entrypoint(skyrl)
        except ValueError as exc:
            raise fail(str(exc)) from exc
        console.print(f"SkyRL {version}: python -m {module}")  # which checks the prompt budget first
        raise typer.Exit(subprocess.call([sys.executable, "-m", module, *overrides]))
    from contextlib import ExitStack

    from omegaconf.errors import OmegaConfBaseException

    from taurl.sim.server import SimServer
    from taurl.skyrl import dry_run as dry
    from taurl.skyrl.env import TauBenchEnv

    config_file = config or dry.CONFIG_FILE
    try:
        with ExitStack() as stack:
            dry.check_overrides(overrides, config_file)
            user_overrides, user_said = dry.offline_user(dry.load_config(config_file, overrides), user)
            if user == "serve-sim":
                sim = stack.enter_context(SimServer())
                user_overrides.append(f"{dry.ENV_CONFIG}.user_base_url={sim.base_url}")
            recording_overrides, recording = dry.recording_override(overrides)
            user_overrides += recording_overrides
            console.print(f"user: {user_said}")
            console.print(
                f"recording: {recording} (every trajectory; taurl sql --recording {recording} ...)", markup=False
            )
            _print_prompt_budget(overrides, config_file)
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
    numbers = ["reward", "turns"] + ["prompt\ntokens", "response\ntokens"] * tokens
    columns = [Col("task"), Col("domain"), *(Col(h, justify="right") for h in numbers[:2]), Col("ended")]
    columns += [Col(h, justify="right") for h in numbers[2:]]
    rows = []
    for t in trajectories:
        counts = [str(t.prompt_tokens), str(t.response_tokens)] if tokens else []
        rows.append((escape(t.task_id), escape(t.domain), f"{t.reward:.2f}", str(t.turns), escape(t.ended), *counts))
    print_table(console, columns, rows)
    console.print(
        "metrics (as SkyRL aggregates them): " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(metrics.items()))
    )


def _print_prompt_budget(overrides: list[str], config_file: Path) -> None:
    """Refuse a generator.max_input_length that leaves no room for the datasets' longest prompt plus one turn
    (SkyRL's agent_loop would crash), before anything starts; else say what room it leaves. (A training run's
    entrypoint checks its composed config the same way.)"""
    from taurl.skyrl.budget import check_room
    from taurl.skyrl.dry_run import load_config

    try:
        said = check_room(load_config(config_file, overrides))
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if said:
        console.print(said, markup=False)
