"""taurl hash and taurl run."""

from __future__ import annotations

import errno
import json
import os
import shlex
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from taurl.cli.common import (
    DataDirOption,
    JudgeModel,
    ModelCalls,
    console,
    err,
    fail,
    on_interrupt,
    option_bundles,
    parse_data_dirs,
)
from taurl.cli.progress import RunProgress
from taurl.core.reward import passed
from taurl.core.types import EpisodeResult, RewardBasis, TerminatedBy
from taurl.domains import DOMAIN_NAMES, DataError
from taurl.episodes.config import ConfigError, Endpoint, RunConfig
from taurl.episodes.rollout import pass_hat_k
from taurl.episodes.selection import select_tasks
from taurl.llm.cache import CacheMode
from taurl.llm.client import DEFAULT_CALL_TIMEOUT, ClientLimits, RetryPolicy
from taurl.llm.preflight import PreflightError, preflight
from taurl.record.schema import episode_id
from taurl.record.store import RecordingError
from taurl.record.writer import DEFAULT_COMMIT_WINDOW, check_run_id
from taurl.registry import get_domain
from taurl.review.terminal import printable

if TYPE_CHECKING:
    from taurl.episodes.runner import KeptEpisode, RunSummary

SHORT_ID = 8  # characters of an episode id in the table: enough for `taurl show`
app = typer.Typer()


@app.command("hash")
def hash_command(
    domain: Annotated[str, typer.Option(help="Domain whose database to hash.")] = "airline",
    data_dir: DataDirOption = None,
) -> None:
    """τ-bench's canonical hash of a domain's database (compare with a tasks file's initial_data_hash)."""
    dirs = parse_data_dirs(data_dir)
    try:
        db = get_domain(domain).database(dirs.get(domain))
    except DataError as exc:
        raise fail(str(exc)) from exc
    console.print(f"{domain} {dirs.get(domain, 'built-in')}: {db.state_hash()}")
    console.print(", ".join(f"{t}: {len(db[t])} records" for t in db.table_names))


@app.command("run")
@option_bundles
def run_command(
    domain: Annotated[
        str, typer.Option(rich_help_panel="Tasks", help=f"One of: {', '.join(DOMAIN_NAMES)}.")
    ] = "airline",
    split: Annotated[
        str,
        typer.Option(
            rich_help_panel="Tasks", help="Task split: test, train, ... (a bad one lists the domain's splits)."
        ),
    ] = "test",
    task_ids: Annotated[
        str | None, typer.Option(rich_help_panel="Tasks", help="Comma-separated task ids (default: all of the split).")
    ] = None,
    start_index: Annotated[
        int | None,
        typer.Option(
            rich_help_panel="Tasks",
            min=0,
            help="Run the split's tasks from this index on (0-based, as τ-bench's runner).",
        ),
    ] = None,
    end_index: Annotated[
        int | None,
        typer.Option(
            rich_help_panel="Tasks", min=1, help="Run the split's tasks up to this index, exclusive (default: the end)."
        ),
    ] = None,
    trials: Annotated[int, typer.Option(rich_help_panel="Tasks", min=1, help="Trials per task (for pass^k).")] = 1,
    agent: Annotated[
        str,
        typer.Option(
            rich_help_panel="Agent",
            help="oracle (plays the gold actions), silent (does nothing), tool-calling (a chat model with native tool calls) or text (a chat model whose text is parsed).",
        ),
    ] = "oracle",
    agent_model: Annotated[
        str | None, typer.Option(rich_help_panel="Agent", help="Model name for the tool-calling/text agent.")
    ] = None,
    agent_base_url: Annotated[
        str | None,
        typer.Option(rich_help_panel="Agent", help="OpenAI-compatible endpoint of the agent model (default: OpenAI)."),
    ] = None,
    agent_temperature: Annotated[
        float | None, typer.Option(rich_help_panel="Agent", help="Agent sampling temperature.")
    ] = None,
    user: Annotated[
        str,
        typer.Option(
            rich_help_panel="Simulated user",
            help="User simulator: scripted (opens with the instruction, stops at the first reply), llm, react, verify or reflection.",
        ),
    ] = "scripted",
    user_model: Annotated[
        str, typer.Option(rich_help_panel="Simulated user", help="Model of the LLM user simulator.")
    ] = "gpt-4o",
    user_base_url: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Simulated user", help="OpenAI-compatible endpoint of the user model (default: OpenAI)."
        ),
    ] = None,
    user_temperature: Annotated[
        float | None, typer.Option(rich_help_panel="Simulated user", help="User simulator sampling temperature.")
    ] = None,
    independent_user_samples: Annotated[
        bool,
        typer.Option(
            "--independent-user-samples",
            rich_help_panel="Simulated user",
            help="Draw the user's replies independently per trial instead of one cached reply per conversation prefix.",
        ),
    ] = False,
    calls: ModelCalls = ModelCalls(),
    cache_mode: Annotated[
        CacheMode,
        typer.Option(
            rich_help_panel="Model calls",
            help="live: always call; record: serve hits, call misses; replay: never touch the network; off: no cache.",
        ),
    ] = CacheMode.RECORD,
    recording: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Recording", help="Record every episode into this directory (or object-store URI)."
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(rich_help_panel="Recording", help="Run id in the recording (default: derived from the settings)."),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            rich_help_panel="Recording",
            help="Finish a run the recording already holds: keep its finished episodes, run the rest and re-run "
            "errored and interrupted ones (as their next attempt). Only with the settings it was recorded with "
            "(tasks, trials, agent, user, models, reward, seed...): any other is refused, nothing run. What may "
            "change: --concurrency, --cache-dir, --cache-mode, --max-cost-usd, --max-tokens-budget, "
            "--max-concurrent-calls, --calls-per-minute, --call-timeout, --format, --exclude-errors, --durable, "
            "--commit-window, the base URLs and --api-key-env. The summary covers the whole run.",
        ),
    ] = False,
    durable: Annotated[
        bool,
        typer.Option(
            "--durable",
            rich_help_panel="Recording",
            help="fsync every segment, so recorded episodes survive a machine crash, not just a kill.",
        ),
    ] = False,
    commit_window: Annotated[
        float,
        typer.Option(
            rich_help_panel="Recording",
            min=0.0,
            help="Seconds a finished episode may wait to be written with others; a SIGKILL loses at most the "
            "episodes finished this long (plus one segment write) before it.",
        ),
    ] = DEFAULT_COMMIT_WINDOW,
    unlocked: Annotated[
        bool,
        typer.Option(
            "--unlocked",
            rich_help_panel="Recording",
            help="Object-store recordings only: run without the recording's run lock (object stores have none); "
            "you make sure no other process runs this run id.",
        ),
    ] = False,
    seed: Annotated[
        int | None, typer.Option(rich_help_panel="Model calls", help="Seed sent with every model call.")
    ] = 0,
    basis: Annotated[
        RewardBasis | None,
        typer.Option(rich_help_panel="Reward", help="Reward basis for every task (default: each task's own)."),
    ] = None,
    judge: JudgeModel = JudgeModel(),
    judge_weight: Annotated[
        float,
        typer.Option(
            rich_help_panel="Reward",
            min=0.0,
            max=1.0,
            help="The judge model's share of the reward: (1 - w) * reward + w * the share of the task's "
            "natural-language assertions it finds met (basis db+outputs+judge instead needs every one met).",
        ),
    ] = 0.0,
    max_steps: Annotated[
        int, typer.Option(rich_help_panel="Reward", min=1, help="Actions per episode before it is cut off.")
    ] = 30,
    zero_on_max_steps: Annotated[
        bool,
        typer.Option(
            "--zero-on-max-steps",
            rich_help_panel="Reward",
            help="Score episodes cut off at max-steps 0, as τ-bench's runner does.",
        ),
    ] = False,
    concurrency: Annotated[int, typer.Option(rich_help_panel="Model calls", min=1, help="Episodes run at once.")] = 4,
    max_concurrent_calls: Annotated[
        int | None,
        typer.Option(rich_help_panel="Model calls", help="Limit on model calls in flight per endpoint (this process)."),
    ] = None,
    calls_per_minute: Annotated[
        int | None, typer.Option(rich_help_panel="Model calls", help="Limit on model calls per minute per endpoint.")
    ] = None,
    call_timeout: Annotated[
        float,
        typer.Option(
            rich_help_panel="Model calls",
            min=0.1,
            help="Seconds one model call may take from its first attempt, retries and waits included (each attempt "
            "at most 120 s, its whole answer read): a server that hangs or trickles its answer fails the call, "
            "and its episode, by then.",
        ),
    ] = DEFAULT_CALL_TIMEOUT,
    exclude_errors: Annotated[
        bool,
        typer.Option(
            "--exclude-errors",
            rich_help_panel="Output",
            help="Leave episodes that errored or were interrupted out of the summary's rates (τ²'s convention); "
            "by default they count as failures (τ-bench's).",
        ),
    ] = False,
    data_dir: DataDirOption = None,
    output_format: Annotated[
        str,
        typer.Option(
            "--format",
            rich_help_panel="Output",
            help="table; json (one array at the end); jsonl (one line per episode as it is recorded).",
        ),
    ] = "table",
) -> None:
    """Run episodes (optionally recording them) and print each episode's reward and a summary.

    Every model the run calls is checked first (key, endpoint, model, a writable cache): a problem is one message,
    exit 2, nothing run. A model's usage is not taken on trust: a call whose server reports none, or a negative or
    implausible count, is charged its estimate against the spend limits and flagged (model_calls.usage_flag).

    Ctrl-C once: no new episode starts, running ones finish and are recorded, exit 130.
    Twice, or SIGTERM: running episodes end at once, recorded as interrupted with what they did so far."""
    from taurl.episodes.rollout import RunControl
    from taurl.episodes.runner import RecordingWriteError, execute, interruptible
    from taurl.record.lock import RecordingLockedError

    if output_format not in ("table", "json", "jsonl"):
        raise fail(f"unknown --format {output_format!r}: use table, json or jsonl")

    key = calls.api_key_env
    config = RunConfig(
        domain=domain,
        split=split,
        task_ids=[t.strip() for t in task_ids.split(",") if t.strip()] if task_ids else None,
        data_dirs=parse_data_dirs(data_dir),
        trials=trials,
        seed=seed,
        agent=agent,
        agent_endpoint=Endpoint(agent_model, agent_base_url, key, agent_temperature) if agent_model else None,
        user=user,
        user_endpoint=Endpoint(user_model, user_base_url, key, user_temperature),
        independent_user_samples=independent_user_samples,
        judge_endpoint=judge.endpoint(key),
        judge_weight=judge_weight,
        basis=basis,
        max_steps=max_steps,
        zero_on_max_steps=zero_on_max_steps,
        cache_dir=calls.cache_dir,
        cache_mode=cache_mode,
        limits=calls.limits(max_concurrency=max_concurrent_calls, calls_per_minute=calls_per_minute),
        retry=RetryPolicy(call_timeout=call_timeout),
    )
    control = RunControl()
    on_signal = on_interrupt(
        "no new episode starts; running ones finish and are recorded. Ctrl-C again to end them now.",
        "running episodes are recorded as interrupted.",
    )

    def on_episode(result: EpisodeResult) -> None:
        progress.episode(result)
        if output_format == "jsonl":
            print(json.dumps(episode_summary(result, run_id_of[0]), ensure_ascii=False), flush=True)

    run_id_of = [run_id or config.default_run_id()]
    try:
        if run_id is not None:
            check_run_id(run_id)
        config.validate()
        tasks = select_tasks(domain, split, config.data_dirs.get(domain), config.task_ids, start_index, end_index)
        if start_index is not None or end_index is not None:
            config.task_ids = [task.id for task in tasks]
        preflight(config)
        progress = RunProgress(f"{domain}/{split}", err, quiet=output_format != "table")
        with progress, interruptible(control, on_signal):
            summary = execute(
                config,
                recording,
                run_id_of[0],
                resume,
                concurrency,
                on_episode=on_episode,
                on_start=progress.start,
                control=control,
                durable=durable,
                commit_window=commit_window,
                unlocked=unlocked,
            )
    except RecordingWriteError as exc:
        raise fail(f"{exc}. Episodes recorded before this are kept: free the space, then add --resume.", 1) from exc
    except (ConfigError, DataError, PreflightError, RecordingError, RecordingLockedError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if summary.reporting_error is not None:
        stop_reporting(summary, recording)
    results = sorted(summary.results, key=lambda r: (r.task.id, r.trial))
    if output_format == "json":
        json.dump([episode_summary(r, summary.run_id) for r in results], sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
    elif output_format == "table":
        print_results(results, trials, summary.run_id, exclude_errors, summary.kept)
        if summary.resumed:
            console.print(
                f"resumed run {summary.run_id}: {summary.resumed} finished episode(s) already recorded were kept"
            )
        if recording:
            console.print(f"recorded {len(results)} episode(s) of run {summary.run_id} in {recording}", markup=False)
            if results:
                console.print(
                    "next:",
                    *next_commands(recording, summary.run_id, results),
                    sep="\n  ",
                    markup=False,
                    soft_wrap=True,
                )
    for result in summary.errors:
        err.print(
            f"[red]episode {result.task.domain}/{result.task.id} trial {result.trial} errored:[/] "
            + escape(printable(result.error or ""))
        )
    if summary.budget_spent:
        err.print(
            f"[yellow]spend limit reached:[/] {escape(summary.budget_spent)}; {summary.not_run} episode(s) not run"
        )
    if config.limits.max_total_tokens is not None or config.limits.max_cost_usd is not None:
        print_spend(config.limits)
    if summary.interrupted:
        interrupted = sum(1 for r in summary.results if r.terminated_by is TerminatedBy.INTERRUPTED)
        err.print(
            f"[yellow]interrupted:[/] {len(summary.results) - interrupted} episode(s) ended, {interrupted} interrupted, "
            f"{summary.not_run} not run" + (f"; continue with --resume --run-id {summary.run_id}" if recording else "")
        )
        raise typer.Exit(130)
    if summary.errors or summary.budget_spent:
        raise typer.Exit(1)


def print_spend(limits: ClientLimits) -> None:
    """What the run spent against its limits, as its budget counted it (model calls in the recording
    hold no attempt that failed, though an attempt that timed out was charged its reservation)."""
    from taurl.llm.ledger import ledger_for

    tokens, cost = ledger_for(limits.ledger).spent()
    spent = [f"{tokens} of {limits.max_total_tokens} tokens"] if limits.max_total_tokens is not None else []
    spent += [f"${cost:.4f} of ${limits.max_cost_usd:.4f}"] if limits.max_cost_usd is not None else []
    err.print(f"spent {' and '.join(spent)}")


def stop_reporting(summary: RunSummary, recording: str | None) -> NoReturn:
    """The run stopped because an episode could not be reported (a closed stdout: ``| head``): say so
    on stderr, in one line, and exit as a pipe's writer does (141) or with 1 for any other failure."""
    cause = summary.reporting_error.cause
    closed = isinstance(cause, BrokenPipeError) or (isinstance(cause, OSError) and cause.errno == errno.EPIPE)
    if closed:  # nothing more can reach the reader; keep Python's own exit flush from complaining
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    what = "stdout was closed" if closed else f"reporting an episode failed ({summary.reporting_error})"
    unfinished = sum(1 for r in summary.results if not r.terminated_by.finished)
    recorded = f"{len(summary.results) - summary.unrecorded} episode(s) recorded" if recording else "nothing recorded"
    err.print(
        f"[yellow]stopped:[/] {escape(what)}: no new episode started; {recorded}, {unfinished} unfinished, "
        f"{summary.not_run} not run" + (f"; continue with --resume --run-id {summary.run_id}" if recording else ""),
        soft_wrap=True,
    )
    raise typer.Exit(141 if closed else 1)


def next_commands(recording: str, run_id: str, results: list[EpisodeResult]) -> list[str]:
    """Commands to look into the run just recorded, with its real ids, runnable as printed."""
    program = sys.argv[0] if Path(sys.argv[0]).name == "taurl" else "taurl"
    taurl = shlex.quote(program)
    where = shlex.quote(recording)
    worst = min(results, key=lambda r: (r.reward, r.task.id, r.trial))
    short_id = episode_id(run_id, worst.task.domain, worst.task.id, worst.trial)[:SHORT_ID]
    this_run = f"run_id = '{run_id}'"
    return [
        f'{taurl} sql --recording {where} "SELECT task_id, trial, reward, terminated_by FROM episodes '
        f'WHERE {this_run} ORDER BY reward, task_id LIMIT 10"',
        f"{taurl} show {short_id} --recording {where}",
        f'{taurl} replay {where} --where "{this_run}"',
        f"{taurl} report {where} --out report.html",
    ]


def episode_summary(result: EpisodeResult, run_id: str) -> dict:
    b = result.breakdown
    return {
        "episode_id": episode_id(run_id, result.task.domain, result.task.id, result.trial),
        "domain": result.task.domain,
        "task_id": result.task.id,
        "trial": result.trial,
        "reward": result.reward,
        "reward_basis": None if b is None else str(b.basis),
        "db_match": None if b is None else b.db_match,
        "outputs_missing": None if b is None else list(b.outputs_missing),
        "actions_score": None if b is None else b.actions_score,
        "terminated_by": str(result.terminated_by),
        "error": result.error,
        "steps": result.steps,
    }


def print_results(
    results: list[EpisodeResult],
    trials: int,
    run_id: str,
    exclude_errors: bool = False,
    kept: list[KeptEpisode] | None = None,
) -> None:
    """A row per episode that ran, then the summary of the whole run: those and the ``kept`` ones of a resume."""
    # borderless, one space between columns, short headers: 80 columns show every field whole
    # (the longest: an id, healthcare-test-0000, #, 0.00, db+out+act, ✓, 1/1, 1.00, interrupted, 30)
    table = Table(
        box=box.SIMPLE_HEAD,
        padding=0,
        show_edge=False,
        caption="id: start of the episode id (taurl show ID)"
        + ("; #: trial" if trials > 1 else "")
        + "; out: expected outputs said; act: gold actions matched",
    )
    table.add_column("id", no_wrap=True, style="dim")
    table.add_column("task", no_wrap=True)
    for header in [*(["#"] if trials > 1 else []), "reward", "basis", "db", "out", "act", "ended", "steps"]:
        table.add_column(header, no_wrap=True)
    for r in results:
        b = r.breakdown
        style = "green" if passed(r.reward) else ("yellow" if r.reward > 0 else "red")
        short_id = episode_id(run_id, r.task.domain, r.task.id, r.trial)[:SHORT_ID]
        cells = [short_id, escape(r.task.id), *([str(r.trial)] if trials > 1 else []), f"[{style}]{r.reward:.2f}[/]"]
        if b is None:  # did not finish: no reward components
            cells += ["-", "-", "-", "-", f"[red]{r.terminated_by}[/]"]
        else:
            outputs = (
                "-"
                if not b.outputs_expected
                else f"{len(b.outputs_expected) - len(b.outputs_missing)}/{len(b.outputs_expected)}"
            )
            basis = str(b.basis).replace("outputs", "out").replace("actions", "act")
            cells += [basis, "✓" if b.db_match else "✗", outputs, f"{b.actions_score:.2f}", str(r.terminated_by)]
        table.add_row(*cells, str(r.steps))
    console.print(table)
    kept = kept or []
    # (task, reward, finished) of every episode of the run: a kept one finished
    episodes = [(r.task.id, r.reward, r.terminated_by.finished) for r in results]
    episodes += [(k.task_id, k.reward, True) for k in kept]
    counted = [e for e in episodes if e[2]] if exclude_errors else episodes
    per_task_trials: dict[str, int] = defaultdict(int)
    successes: dict[str, int] = defaultdict(int)
    for task_id, reward, _ in counted:
        per_task_trials[task_id] += 1
        successes[task_id] += int(passed(reward))
    complete = [successes[t] for t, n in per_task_trials.items() if n == trials]  # pass^k needs every trial
    mean = sum(reward for _, reward, _ in counted) / len(counted) if counted else float("nan")
    title = (
        "summary"
        + (f" of the whole run ({len(kept)} kept, {len(results)} run now)" if kept else "")
        + (" (errored and interrupted episodes left out)" if exclude_errors else "")
    )
    figures = [
        ("episodes", str(len(episodes))),
        ("did not finish", str(sum(1 for e in episodes if not e[2]))),
        ("mean reward", f"{mean:.3f}"),
        *((f"pass^{k}", f"{pass_hat_k(complete, trials, k):.3f}") for k in range(1, trials + 1)),
    ]
    print_summary(title, figures)


def print_summary(title: str, figures: list[tuple[str, str]]) -> None:
    """A row a figure, under its title: a column each would not fit 80 columns past a few trials."""
    console.print(title, markup=False)
    summary = Table(box=box.SIMPLE, show_header=False, show_edge=False, pad_edge=False)
    summary.add_column(no_wrap=True)
    summary.add_column(justify="right", no_wrap=True)
    for figure in figures:
        summary.add_row(*figure)
    console.print(summary)
