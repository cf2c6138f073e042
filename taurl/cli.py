"""The ``taurl`` command."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taurl.core.reward import InvalidTaskError, RewardConfig
from taurl.core.types import EpisodeResult, RewardBasis
from taurl.domains import DOMAIN_NAMES, DataError, get_domain
from taurl.rollout import EpisodeSpec, RolloutConfig, pass_hat_k, run_episodes

app = typer.Typer(
    help="taurl: record, replay and score τ-bench-style tool-use episodes; train on them with SkyRL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
domains_app = typer.Typer(help="Describe the built-in domains.", no_args_is_help=True)
app.add_typer(domains_app, name="domains")
console = Console()
err = Console(stderr=True)

DataDirOption = Annotated[
    list[str] | None,
    typer.Option(
        "--data-dir",
        help="DOMAIN=DIR: load DOMAIN's database (and tasks_<split>.json) from DIR instead of the built-in "
        "generated data. Repeatable. τ-bench's envs/<domain>/data layout works.",
    ),
]


def parse_data_dirs(values: list[str] | None) -> dict[str, Path]:
    dirs: dict[str, Path] = {}
    for value in values or []:
        domain, sep, directory = value.partition("=")
        if not sep or not directory:
            raise typer.BadParameter(f"expected DOMAIN=DIR, got {value!r}", param_hint="--data-dir")
        if domain not in DOMAIN_NAMES:
            raise typer.BadParameter(
                f"unknown domain {domain!r} (known: {', '.join(DOMAIN_NAMES)})", param_hint="--data-dir"
            )
        dirs[domain] = Path(directory)
    return dirs


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


@domains_app.command("list")
def domains_list() -> None:
    """One line per domain: its tools by kind and its built-in task counts."""
    table = Table("domain", "tools", "read", "write", "think", "terminate", "train", "test")
    for name in DOMAIN_NAMES:
        domain = get_domain(name)
        kinds = defaultdict(int)
        for tool in domain.tools:
            kinds[tool.kind] += 1
        counts = []
        for split in ("train", "test"):
            try:
                counts.append(str(len(domain.tasks(split))))
            except DataError:
                counts.append("-")
        table.add_row(
            name, str(len(domain.tools)), *(str(kinds[k]) for k in ("read", "write", "think", "terminate")), *counts
        )
    console.print(table)


@domains_app.command("show")
def domains_show(name: Annotated[str, typer.Argument(help="Domain name.")]) -> None:
    """A domain's tools (with what each accepts) and its policy."""
    try:
        domain = get_domain(name)
    except DataError as exc:
        raise fail(str(exc)) from exc
    table = Table("tool", "kind", "accepts", "description", title=f"{name} tools")
    for tool in domain.tools:
        table.add_row(tool.name, str(tool.kind), tool.signature_text().removeprefix(tool.name), tool.description)
    console.print(table)
    console.rule("policy")
    console.print(domain.policy)


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
    agent: Annotated[str, typer.Option(help="oracle (plays the gold actions) or silent (does nothing).")] = "oracle",
    user: Annotated[
        str, typer.Option(help="scripted (opens with the instruction, stops at the first reply).")
    ] = "scripted",
    basis: Annotated[
        RewardBasis | None, typer.Option(help="Reward basis for every task (default: each task's own).")
    ] = None,
    max_steps: Annotated[int, typer.Option(min=1, help="Actions per episode before it is cut off.")] = 30,
    zero_on_max_steps: Annotated[
        bool, typer.Option(help="Score episodes cut off at max-steps 0, as τ-bench's runner does.")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Episodes run at once.")] = 4,
    data_dir: DataDirOption = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Run episodes and print each episode's reward and a summary."""
    from taurl.agent.oracle import OracleAgent
    from taurl.agent.silent import SilentAgent
    from taurl.users.scripted import ScriptedUser

    agents = {"oracle": OracleAgent, "silent": SilentAgent}
    users = {"scripted": ScriptedUser}
    if agent not in agents:
        raise fail(f"unknown agent {agent!r}; choose one of {', '.join(agents)}")
    if user not in users:
        raise fail(f"unknown user {user!r}; choose one of {', '.join(users)}")
    dirs = parse_data_dirs(data_dir)
    try:
        tasks = get_domain(domain).tasks(split, dirs.get(domain))
    except DataError as exc:
        raise fail(str(exc)) from exc
    if task_ids:
        wanted = [t.strip() for t in task_ids.split(",") if t.strip()]
        by_id = {t.id: t for t in tasks}
        unknown = [t for t in wanted if t not in by_id]
        if unknown:
            raise fail(f"no task(s) {', '.join(unknown)} in {domain}/{split}; ids look like {tasks[0].id!r}")
        tasks = [by_id[t] for t in wanted]
    specs = [EpisodeSpec(task, trial) for task in tasks for trial in range(trials)]
    config = RolloutConfig(dirs, max_steps, RewardConfig(basis=basis, zero_on_max_steps=zero_on_max_steps))
    results: list[EpisodeResult] = []
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=output_format == "json",
        ) as progress:
            bar = progress.add_task(f"{domain}/{split}", total=len(specs))
            for result in run_episodes(specs, agents[agent], users[user], config, concurrency):
                results.append(result)
                progress.advance(bar)
    except (InvalidTaskError, DataError) as exc:
        raise fail(str(exc)) from exc
    if output_format == "json":
        json.dump([episode_row(r) for r in results], sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    print_results(results, trials)


def episode_row(result: EpisodeResult) -> dict:
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
    table = Table("task", "trial", "reward", "basis", "db", "outputs", "actions", "ended by", "steps")
    for r in results:
        b = r.breakdown
        outputs = (
            "-"
            if not b.outputs_expected
            else f"{len(b.outputs_expected) - len(b.outputs_missing)}/{len(b.outputs_expected)}"
        )
        style = "green" if r.reward == 1 else ("yellow" if r.reward > 0 else "red")
        table.add_row(
            r.task.id,
            str(r.trial),
            f"[{style}]{r.reward:.2f}[/]",
            str(b.basis),
            "✓" if b.db_match else "✗",
            outputs,
            f"{b.actions_score:.2f}",
            str(r.terminated_by),
            str(r.steps),
        )
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
