"""taurl hash and taurl run."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from taurl.cli.common import DataDirOption, console, err, fail, parse_data_dirs, progress_bar
from taurl.config import DEFAULT_CACHE_DIR, ConfigError, Endpoint, RunConfig
from taurl.core.types import EpisodeResult, RewardBasis
from taurl.domains import DOMAIN_NAMES, DataError, get_domain
from taurl.llm.cache import CacheMode
from taurl.llm.client import ClientLimits
from taurl.record.store import RecordingError
from taurl.rollout import pass_hat_k

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
def run_command(
    domain: Annotated[str, typer.Option(help=f"One of: {', '.join(DOMAIN_NAMES)}.")] = "airline",
    split: Annotated[str, typer.Option(help="Task split: train, test or dev.")] = "test",
    task_ids: Annotated[str | None, typer.Option(help="Comma-separated task ids (default: all of the split).")] = None,
    trials: Annotated[int, typer.Option(min=1, help="Trials per task (for pass^k).")] = 1,
    agent: Annotated[
        str,
        typer.Option(
            help="oracle (plays the gold actions), silent (does nothing), tool-calling (a chat model with native tool calls) or text (a chat model whose text is parsed)."
        ),
    ] = "oracle",
    agent_model: Annotated[str | None, typer.Option(help="Model name for the tool-calling/text agent.")] = None,
    agent_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint of the agent model (default: OpenAI).")
    ] = None,
    agent_temperature: Annotated[float | None, typer.Option(help="Agent sampling temperature.")] = None,
    user: Annotated[
        str,
        typer.Option(
            help="User simulator: scripted (opens with the instruction, stops at the first reply), llm, react, verify or reflection."
        ),
    ] = "scripted",
    user_model: Annotated[str, typer.Option(help="Model of the LLM user simulator.")] = "gpt-4o",
    user_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint of the user model (default: OpenAI).")
    ] = None,
    user_temperature: Annotated[float | None, typer.Option(help="User simulator sampling temperature.")] = None,
    independent_user_samples: Annotated[
        bool,
        typer.Option(
            help="Draw the user's replies independently per trial instead of one cached reply per conversation prefix."
        ),
    ] = False,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key (never written anywhere).")
    ] = "OPENAI_API_KEY",
    cache_mode: Annotated[
        CacheMode,
        typer.Option(
            help="live: always call; record: serve hits, call misses; replay: never touch the network; off: no cache."
        ),
    ] = CacheMode.RECORD,
    cache_dir: Annotated[Path, typer.Option(help="Response cache directory.")] = DEFAULT_CACHE_DIR,
    recording: Annotated[
        str | None, typer.Option(help="Record every episode into this directory (or object-store URI).")
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id in the recording (default: derived from the settings).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Skip episodes the recording already has for this run id.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed sent with every model call.")] = 0,
    basis: Annotated[
        RewardBasis | None, typer.Option(help="Reward basis for every task (default: each task's own).")
    ] = None,
    max_steps: Annotated[int, typer.Option(min=1, help="Actions per episode before it is cut off.")] = 30,
    zero_on_max_steps: Annotated[
        bool, typer.Option(help="Score episodes cut off at max-steps 0, as τ-bench's runner does.")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Episodes run at once.")] = 4,
    max_concurrent_calls: Annotated[
        int | None, typer.Option(help="Limit on model calls in flight per endpoint (this process).")
    ] = None,
    calls_per_minute: Annotated[int | None, typer.Option(help="Limit on model calls per minute per endpoint.")] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option(help="Stop calling a model once this many dollars are spent.")
    ] = None,
    max_tokens_budget: Annotated[
        int | None, typer.Option(help="Stop calling a model once this many tokens are spent.")
    ] = None,
    data_dir: DataDirOption = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Run episodes (optionally recording them) and print each episode's reward and a summary."""
    from taurl.runner import execute

    config = RunConfig(
        domain=domain,
        split=split,
        task_ids=[t.strip() for t in task_ids.split(",") if t.strip()] if task_ids else None,
        trials=trials,
        agent=agent,
        agent_endpoint=Endpoint(agent_model, agent_base_url, api_key_env, agent_temperature) if agent_model else None,
        user=user,
        user_endpoint=Endpoint(user_model, user_base_url, api_key_env, user_temperature),
        independent_user_samples=independent_user_samples,
        cache_mode=cache_mode,
        cache_dir=cache_dir,
        seed=seed,
        basis=basis,
        zero_on_max_steps=zero_on_max_steps,
        max_steps=max_steps,
        data_dirs={k: str(v) for k, v in parse_data_dirs(data_dir).items()},
        limits=ClientLimits(max_concurrent_calls, calls_per_minute, max_tokens_budget, max_cost_usd),
    )
    try:
        config.validate()
        with progress_bar(output_format == "json") as progress:
            bar = progress.add_task(f"{domain}/{split}", total=None)
            summary = execute(
                config,
                recording,
                run_id,
                resume,
                concurrency,
                on_episode=lambda _: progress.advance(bar),
                on_start=lambda total: progress.update(bar, total=total),
            )
    except (ConfigError, DataError, RecordingError, ValueError) as exc:
        raise fail(str(exc)) from exc
    results = sorted(summary.results, key=lambda r: (r.task.id, r.trial))
    if output_format == "json":
        json.dump([episode_summary(r) for r in results], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print_results(results, trials)
        if summary.resumed:
            console.print(f"resumed run {summary.run_id}: {summary.resumed} episode(s) already recorded were skipped")
        if recording:
            console.print(f"recorded {len(results)} episode(s) of run {summary.run_id} in {recording}")
    for failure in summary.failures:
        err.print(f"[red]episode {failure.spec.task.id} trial {failure.spec.trial} failed:[/] {failure.error}")
    if summary.failures:
        raise typer.Exit(1)


def episode_summary(result: EpisodeResult) -> dict:
    b = result.breakdown
    return {
        "domain": result.task.domain,
        "task_id": result.task.id,
        "trial": result.trial,
        "reward": result.reward,
        "reward_basis": str(b.basis),
        "db_match": b.db_match,
        "outputs_missing": list(b.outputs_missing),
        "actions_score": b.actions_score,
        "terminated_by": str(result.terminated_by),
        "steps": result.steps,
    }


def print_results(results: list[EpisodeResult], trials: int) -> None:
    # borderless, short headers, no trial column for a single trial: 80 columns show every field whole
    table = Table(
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
        show_edge=False,
        caption="out: expected outputs said; act: gold actions matched",
    )
    table.add_column("task", no_wrap=True)
    for header in [*(["trial"] if trials > 1 else []), "reward", "basis", "db", "out", "act", "ended", "steps"]:
        table.add_column(header, no_wrap=True)
    for r in results:
        b = r.breakdown
        outputs = (
            "-"
            if not b.outputs_expected
            else f"{len(b.outputs_expected) - len(b.outputs_missing)}/{len(b.outputs_expected)}"
        )
        style = "green" if r.reward == 1 else ("yellow" if r.reward > 0 else "red")
        cells = [
            r.task.id,
            *([str(r.trial)] if trials > 1 else []),
            f"[{style}]{r.reward:.2f}[/]",
            str(b.basis).replace("outputs", "out").replace("actions", "act"),
        ]
        cells += ["✓" if b.db_match else "✗", outputs, f"{b.actions_score:.2f}", str(r.terminated_by), str(r.steps)]
        table.add_row(*cells)
    console.print(table)
    successes: dict[str, int] = defaultdict(int)
    for r in results:
        successes[r.task.id] += int(r.reward == 1.0)
    mean = sum(r.reward for r in results) / len(results) if results else 0.0
    summary = Table("episodes", "mean reward", *(f"pass^{k}" for k in range(1, trials + 1)), title="summary")
    summary.add_row(
        str(len(results)),
        f"{mean:.3f}",
        *(f"{pass_hat_k(list(successes.values()), trials, k):.3f}" for k in range(1, trials + 1)),
    )
    console.print(summary)
