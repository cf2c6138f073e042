"""The ``taurl`` command."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taurl.config import DEFAULT_CACHE_DIR, ConfigError, Endpoint, RunConfig
from taurl.core.types import EpisodeResult, RewardBasis
from taurl.domains import DOMAIN_NAMES, DataError, get_domain, known_domain
from taurl.llm.cache import CacheMode
from taurl.llm.client import ClientLimits
from taurl.record.store import RecordingError
from taurl.rollout import pass_hat_k

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
        if not known_domain(domain):
            raise typer.BadParameter(
                f"unknown domain {domain!r} (known: {', '.join(DOMAIN_NAMES)}, or tau_bench:<env>)",
                param_hint="--data-dir",
            )
        dirs[domain] = Path(directory)
    return dirs


def progress_bar(quiet: bool = False) -> Progress:
    """The progress bar every long command shows on stderr (none in machine-readable output)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=quiet,
    )


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


@domains_app.command("validate")
def domains_validate(
    domain: Annotated[list[str] | None, typer.Option(help="Validate only these domains (repeatable).")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json (one object per domain).")] = "table",
) -> None:
    """Check each domain's built-in tasks: gold replays cleanly, the oracle scores 1.0, a do-nothing agent
    passes ≤ 5%, every state-changing tool and policy rule is covered. Exits non-zero on any failure."""
    from taurl.validate import validate_domain

    names = domain or list(DOMAIN_NAMES)
    results = []
    with progress_bar(output_format == "json") as progress:
        bar = progress.add_task("validating", total=len(names))
        for name in names:
            try:
                results.append(validate_domain(name))
            except DataError as exc:
                raise fail(str(exc)) from exc
            progress.advance(bar)
    if output_format == "json":
        json.dump([r.to_dict() for r in results], sys.stdout)
        sys.stdout.write("\n")
    else:
        table = Table("", *(r.domain for r in results), title="domain validation")

        def mark(ok: bool, text: str) -> str:
            return f"[green]{text}[/]" if ok else f"[red]{text}[/]"

        rows = [
            ("tasks (train / test)", lambda r: mark(r.train >= 200 and r.test >= 50, f"{r.train} / {r.test}")),
            ("gold replay errors", lambda r: mark(r.gold_errors == 0, str(r.gold_errors))),
            ("oracle mean reward", lambda r: mark(r.oracle_mean == 1.0, f"{r.oracle_mean:.3f}")),
            ("do-nothing pass rate", lambda r: mark(r.do_nothing_pass_rate <= 0.05, f"{r.do_nothing_pass_rate:.1%}")),
            (
                "state-changing tools exercised",
                lambda r: mark(
                    r.write_tools == r.write_tools_exercised, f"{len(r.write_tools_exercised)}/{len(r.write_tools)}"
                ),
            ),
            (
                "policy rules covered",
                lambda r: mark(bool(r.rules) and r.rules == r.rules_covered, f"{len(r.rules_covered)}/{len(r.rules)}"),
            ),
            ("tasks changing the database", lambda r: mark(r.db_changing_share >= 0.5, f"{r.db_changing_share:.0%}")),
            ("refusal tasks", lambda r: mark(r.refusals > 0, str(r.refusals))),
        ]
        for label, cell in rows:
            table.add_row(label, *(cell(r) for r in results))
        console.print(table)
        for r in results:
            for failure in r.failures:
                err.print(f"[red]{r.domain}:[/] {failure}")
    if any(not r.ok for r in results):
        raise typer.Exit(1)


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


@app.command("sql")
def sql_command(
    query: Annotated[
        str | None,
        typer.Argument(
            help="SQL over the views episodes, messages, steps, tool_calls, model_calls, runs, rescores. Omit for an interactive shell."
        ),
    ] = None,
    recording: Annotated[list[str], typer.Option(help="Recording directory or object-store URI (repeatable).")] = ...,
    output_format: Annotated[
        str, typer.Option("--format", help="table, json (one array of row objects) or csv.")
    ] = "table",
) -> None:
    """Query recordings with DuckDB SQL."""
    from taurl.record.store import RecordingStore

    try:
        store = RecordingStore(recording)
    except RecordingError as exc:
        raise fail(str(exc)) from exc
    if query is None:
        _sql_shell(store, output_format)
        return
    try:
        columns, rows = store.query(query)
    except RecordingError as exc:
        raise fail(str(exc)) from exc
    print_rows(columns, rows, output_format)


def print_rows(columns: list[str], rows: list[tuple], output_format: str) -> None:
    if output_format == "json":
        json.dump([dict(zip(columns, row, strict=True)) for row in rows], sys.stdout, default=str, ensure_ascii=False)
        sys.stdout.write("\n")
    elif output_format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
    elif output_format == "table":
        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
        console.print(f"{len(rows)} row(s)")
    else:
        raise fail(f"unknown --format {output_format!r}: use table, json or csv")


def _sql_shell(store, output_format: str) -> None:
    """A small DuckDB shell over the recording's views: statements end with ';', .quit leaves."""
    try:
        import readline  # noqa: F401  (line editing and history where available)
    except ImportError:
        pass
    console.print(
        "taurl sql: views episodes, messages, steps, tool_calls, model_calls, runs, rescores. End statements with ';', .quit to leave."
    )
    buffer = ""
    while True:
        try:
            line = input("taurl> " if not buffer else "   ...> ")
        except EOFError:
            break
        if not buffer and line.strip() in (".quit", ".exit", "\\q"):
            break
        buffer += line + "\n"
        if buffer.strip().endswith(";"):
            try:
                columns, rows = store.query(buffer)
                print_rows(columns, rows, output_format)
            except RecordingError as exc:
                err.print(f"[red]{exc}[/]")
            buffer = ""


@app.command("compact")
def compact_command(
    recording: Annotated[str, typer.Option(help="Recording directory or object-store URI.")],
    duckdb_file: Annotated[
        Path | None, typer.Option("--duckdb", help="Also write one DuckDB database file with the same tables.")
    ] = None,
) -> None:
    """Merge a recording's small segments into one (and optionally export a single DuckDB file)."""
    from taurl.record.compact import compact, export_duckdb

    try:
        result = compact(recording)
        console.print(
            f"{result.segments_before} segment(s), {result.episodes} episode(s)"
            + (f" -> {result.merged}" if result.merged else ": nothing to merge")
        )
        if duckdb_file is not None:
            counts = export_duckdb(recording, duckdb_file)
            console.print(f"wrote {duckdb_file}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    except RecordingError as exc:
        raise fail(str(exc)) from exc


@app.command("serve-sim")
def serve_sim_command(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    faults: Annotated[
        str,
        typer.Option(
            help="Comma-separated faults for the first requests: 429, 500, 503, timeout, malformed, truncated, ok."
        ),
    ] = "",
    timeout_delay: Annotated[float, typer.Option(help="Seconds a 'timeout' fault waits before answering.")] = 5.0,
) -> None:
    """A local OpenAI-compatible server with deterministic user and agent models (sim-user, sim-agent, ...)."""
    from taurl.sim.server import serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise fail("serve-sim listens on loopback only (127.0.0.1, localhost or ::1)")
    fault_list = [f.strip() for f in faults.split(",") if f.strip()]
    console.print(f"serve-sim on http://{host}:{port}/v1 (models: sim-user, sim-agent, sim-agent-text, ...)")
    try:
        serve(host, port, fault_list, timeout_delay)
    except ValueError as exc:
        raise fail(str(exc)) from exc


data_app = typer.Typer(
    help="Convert task sets to SkyRL's parquet format and measure their quality.", no_args_is_help=True
)
app.add_typer(data_app, name="data")


@data_app.command("convert")
def data_convert(
    source: Annotated[
        Path | None,
        typer.Argument(help="The seed system's novel_sft_dataset.json (omit to convert taurl's own task sets)."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Output directory: train.parquet, validation.parquet, rejects.jsonl, quality.json.")
    ] = Path("data/tau_bench"),
    domain: Annotated[
        list[str] | None, typer.Option(help="taurl task sets: domains to convert (repeatable; default all).")
    ] = None,
    split: Annotated[
        list[str] | None, typer.Option(help="taurl task sets: splits (repeatable; default train and test).")
    ] = None,
    basis: Annotated[RewardBasis, typer.Option(help="Reward basis written into every row.")] = RewardBasis.AUTO,
    validation_fraction: Annotated[
        float, typer.Option(help="Share of a single-split input held out for validation.")
    ] = 0.1,
    seed: Annotated[int, typer.Option(help="Seed of the deterministic train/validation split.")] = 0,
    normalize: Annotated[
        bool, typer.Option(help="Apply the evidence-based alias table for invented argument names.")
    ] = True,
    data_dir: DataDirOption = None,
) -> None:
    """Write SkyRL parquet (and a quality report) from taurl's task sets or the seed system's file."""
    import dataclasses

    from taurl.quality import assess
    from taurl.skyrl.dataset import Conversion, split_tasks, write_conversion

    dirs = {k: str(v) for k, v in parse_data_dirs(data_dir).items()}
    try:
        if source is not None:
            from taurl.importers.ctu import load_seed_tasks

            tasks = load_seed_tasks(source, basis)
        else:
            tasks = []
            for name in domain or DOMAIN_NAMES:
                for split_name in split or ["train", "test"]:
                    try:
                        found = get_domain(name).tasks(split_name, dirs.get(name))
                    except DataError:
                        if split:  # asked for by name: its absence is an error
                            raise
                        err.print(f"{name} has no {split_name} split: skipped")
                        continue
                    tasks += [dataclasses.replace(t, reward_basis=basis) for t in found]
        assessment = assess(tasks, dirs, use_aliases=normalize and source is not None)
    except (DataError, OSError, ValueError, KeyError) as exc:
        raise fail(f"cannot convert: {exc}") from exc
    train, validation = split_tasks(assessment.accepted, validation_fraction, seed)
    conversion = Conversion(train, validation, assessment.rejects, assessment.report)
    write_conversion(conversion, out)
    print_quality(assessment.report)
    console.print(
        f"{len(tasks)} task(s): {len(train)} train, {len(validation)} validation, {len(assessment.rejects)} rejected "
        f"-> {out}/ (train.parquet, validation.parquet, rejects.jsonl, quality.json)"
    )
    if conversion.total != len(tasks):
        raise fail(f"internal error: {len(tasks)} tasks in, {conversion.total} accounted for")


def print_quality(report: dict) -> None:
    """One column per domain (and the total), one row per measure: fits a terminal with five domains."""
    columns = [*report["domains"].items(), ("total", report["total"])]
    table = Table("", *(name for name, _ in columns), title="task quality")

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    measures = [
        ("tasks", lambda r: r["tasks"]),
        ("fully valid (seed rule)", lambda r: r["fully_valid_tasks"]),
        ("fully valid after aliases", lambda r: r["fully_valid_tasks_normalized"]),
        ("no state-changing gold action", lambda r: share(r["no_write_tool_share"])),
        ("valid gold actions", lambda r: share(r["valid_action_share"])),
        ("accepted", lambda r: r["accepted"]),
        ("rejected", lambda r: r["rejected"]),
        ("gold runs without error", lambda r: r["executable_tasks"]),
        ("read-only (accepted)", lambda r: share(r["read_only_share"])),
    ]
    for label, value in measures:
        table.add_row(label, *(str(value(row)) for _, row in columns))
    for basis in report["total"]["silent_pass"]:
        table.add_row(f"silent agent passes, {basis}", *(str(row["silent_pass"][basis]) for _, row in columns))
    console.print(table)
    aliases = report["normalization"]["aliases"]
    if aliases:
        grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        evidence: dict[tuple[str, str, str], int] = defaultdict(int)
        for a in aliases:
            key = (a["domain"], a["tool"], a["declared"])
            grouped[key].append(a["invented"])
            evidence[key] += a["evidence"]
        alias_table = Table(
            "domain",
            "tool",
            "invented names",
            "→ declared",
            "calls",
            title="argument aliases applied (unambiguous only; see quality.json for why)",
        )
        for key, names in sorted(grouped.items()):
            alias_table.add_row(key[0], key[1], ", ".join(sorted(names)), key[2], str(evidence[key]))
        console.print(alias_table)


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


@app.command("replay")
def replay_command(
    recordings: Annotated[list[str], typer.Argument(help="Recording directories or object-store URIs.")],
    data_dir: DataDirOption = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Also serve model calls from this cache (the recording's own calls always are).")
    ] = None,
    where: Annotated[str, typer.Option(help="SQL filter on the episodes view, e.g. \"domain = 'retail'\".")] = "TRUE",
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    show_all: Annotated[bool, typer.Option("--all", help="List identical episodes too.")] = False,
) -> None:
    """Re-run recorded episodes offline (no network, no key) and report the first divergence of each."""
    import time

    from taurl.record.store import RecordingStore
    from taurl.replay import Replayer

    try:
        replayer = Replayer(
            RecordingStore(recordings), {k: str(v) for k, v in parse_data_dirs(data_dir).items()}, cache_dir
        )
        rows = replayer.episodes(where)
    except RecordingError as exc:
        raise fail(str(exc)) from exc
    results = []
    start = time.perf_counter()
    with progress_bar(output_format == "json") as progress:
        bar = progress.add_task("replay", total=len(rows))
        for row in rows:
            results.append(replayer.replay(row))
            progress.advance(bar)
    elapsed = time.perf_counter() - start
    diverged = [r for r in results if not r.identical]
    if output_format == "json":
        json.dump([r.to_dict() for r in results], sys.stdout, ensure_ascii=False, default=str)
        sys.stdout.write("\n")
    else:
        table = Table("episode", "status", "first divergence", title="replay")
        for r in results:
            if show_all or not r.identical or r.divergences:
                first = r.first
                detail = (
                    f"turn {first.turn}: {first.kind}"
                    if first and first.turn is not None
                    else (first.kind if first else f"{len(r.divergences)} stale observation(s)")
                )
                style = "red" if not r.identical else "yellow"
                table.add_row(r.name, f"[{style}]{r.status}[/]", detail)
        if table.row_count:
            console.print(table)
        for r in diverged[:5]:
            console.print(f"[bold]{r.name}[/] ({r.episode_id}) first divergence at {r.first.describe()}")
        stale = sum(1 for r in results if r.identical and r.divergences)
        rate = len(results) / elapsed if elapsed else float("inf")
        console.print(
            f"{len(results)} episode(s) replayed offline in {elapsed:.2f}s ({rate:,.0f}/s): "
            f"{len(results) - len(diverged) - stale} identical, {stale} identical but for stale observations, {len(diverged)} diverged"
        )
    if diverged:
        raise typer.Exit(1)


import_app = typer.Typer(help="Bring other systems' runs into a taurl recording.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("tau-bench")
def import_tau_bench(
    results: Annotated[
        Path, typer.Argument(help="A τ-bench results file: a list of {task_id, trial, reward, info, traj}.")
    ],
    domain: Annotated[str, typer.Option(help="The τ-bench environment the runs used (airline or retail).")],
    out: Annotated[str, typer.Option(help="Recording directory (or object-store URI) to write.")],
    data_dir: Annotated[
        list[str] | None,
        typer.Option("--data-dir", help="τ-bench's data directory for the domain (DIR or DOMAIN=DIR)."),
    ] = None,
    split: Annotated[str, typer.Option(help="The task split the runs used.")] = "test",
    cache_dir: Annotated[
        Path | None, typer.Option(help="Also write the simulated-user requests into this response cache.")
    ] = None,
    user_model: Annotated[
        str, typer.Option(help="The user model the runs used (part of the user requests' keys).")
    ] = "gpt-4o",
) -> None:
    """Import τ-bench runs: episodes scored by taurl (db+outputs) beside τ-bench's own reward, and the
    simulated-user requests as cache entries so the conversations replay through taurl's llm user."""
    from taurl.importers.taubench import IMPORT_AGENT, TAU_BENCH_MAX_STEPS, import_runs, load_results
    from taurl.llm.cache import ResponseCache
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter

    dirs = parse_data_dirs([v if "=" in v else f"{domain}={v}" for v in data_dir or []])
    if domain not in dirs:
        raise fail(f"give τ-bench's {domain} data directory with --data-dir (the runs' tools are re-executed on it)")
    try:
        runs = load_results(results, domain, split)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"cannot read {results}: {exc}") from exc
    config = RunConfig(
        domain=domain,
        split=split,
        agent=IMPORT_AGENT,
        user="llm",
        user_endpoint=Endpoint(user_model),
        independent_user_samples=True,  # τ-bench trials are independent user samples
        cache_mode=CacheMode.REPLAY,
        cache_dir=cache_dir or DEFAULT_CACHE_DIR,
        seed=None,
        basis=RewardBasis.DB_OUTPUTS,
        zero_on_max_steps=True,
        max_steps=TAU_BENCH_MAX_STEPS,
        data_dirs={domain: str(dirs[domain])},
    )
    episodes, entries = import_runs(runs, dirs[domain], config)
    run_id = f"tau-bench-{domain}-{Path(results).stem}"
    with RecordingWriter(out, flush_every=len(episodes) or 1) as writer:
        writer.write_run(run_id, {**config.to_record(), "imported_from": str(results)})
        for episode in episodes:
            if episode.result is not None:
                writer.add(episode_row(episode.result, run_id, IMPORT_AGENT, "llm", source_reward=episode.run.reward))
    if cache_dir is not None:
        cache = ResponseCache(cache_dir)
        for key, entry in entries.items():
            cache.set(key, entry)
    table = Table(
        "task", "trial", "τ-bench reward", "taurl reward", "agree", title=f"imported {len(episodes)} τ-bench run(s)"
    )
    for episode in episodes:
        taurl_reward = "-" if episode.result is None else f"{episode.result.reward:.1f}"
        table.add_row(
            episode.run.task.id,
            str(episode.run.trial),
            f"{episode.run.reward:.1f}",
            taurl_reward,
            "[green]yes[/]" if episode.agrees else f"[red]no[/] {episode.error or ''}",
        )
    console.print(table)
    agreeing = sum(e.agrees for e in episodes)
    console.print(
        f"{agreeing}/{len(episodes)} rewards agree with τ-bench's; {len(entries)} user request(s) recorded; run {run_id} in {out}"
    )
    if agreeing != len(episodes):
        raise typer.Exit(1)


@app.command("rescore")
def rescore_command(
    recording: Annotated[str, typer.Argument(help="Recording directory or object-store URI.")],
    basis: Annotated[
        RewardBasis | None, typer.Option(help="Reward basis to score under (default: each task's own).")
    ] = None,
    zero_on_max_steps: Annotated[bool, typer.Option(help="Score episodes cut off at the step limit 0.")] = False,
    match_think_tools: Annotated[bool, typer.Option(help="Count think/calculate calls in action matching.")] = False,
    data_dir: DataDirOption = None,
    where: Annotated[str, typer.Option(help="SQL filter on the episodes view.")] = "TRUE",
) -> None:
    """Recompute rewards under another basis or reward config, without running any model; the new
    scores are stored beside the old ones (view `rescores`) with the config that produced them."""
    from taurl.core.reward import RewardConfig
    from taurl.record.store import RecordingStore
    from taurl.record.writer import RecordingWriter
    from taurl.rescore import rescore, rescore_id

    config = RewardConfig(basis=basis, zero_on_max_steps=zero_on_max_steps, match_think_tools=match_think_tools)
    try:
        results = rescore(
            RecordingStore(recording), config, {k: str(v) for k, v in parse_data_dirs(data_dir).items()}, where
        )
    except (RecordingError, DataError) as exc:
        raise fail(str(exc)) from exc
    identity = rescore_id(config)
    RecordingWriter(recording).write_rescores([r.row for r in results], identity)
    changed = [r for r in results if r.new_reward != r.old_reward]
    old = sum(r.old_reward for r in results) / len(results) if results else 0.0
    new = sum(r.new_reward for r in results) / len(results) if results else 0.0
    table = Table(
        "episodes", "mean reward (recorded)", f"mean reward ({basis or 'task basis'})", "changed", "rescore id"
    )
    table.add_row(str(len(results)), f"{old:.3f}", f"{new:.3f}", str(len(changed)), identity)
    console.print(table)
    console.print(f"stored in {recording}: SELECT * FROM rescores WHERE rescore_id = '{identity}'")


@app.command("report")
def report_command(
    recordings: Annotated[list[str], typer.Argument(help="Recording directories or object-store URIs.")],
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            help="RUN_A RUN_B: the two runs to compare side by side (default: the first two run ids, sorted)."
        ),
    ] = None,
) -> None:
    """A self-contained HTML report: outcomes and pass^k per run and domain, reward/turn/tool-call charts,
    failure causes, simulated-user cost and cache hits, and a comparison of two runs."""
    from rich.markup import escape

    from taurl.report import ReportError, write_report

    try:
        write_report(recordings, out, compare)
    except (RecordingError, ReportError) as exc:
        raise fail(escape(str(exc))) from exc
    console.print(f"wrote {out}")


@app.command("show")
def show_command(
    episode_id: Annotated[str, typer.Argument(help="Episode id, or a unique prefix of at least 6 characters.")],
    recording: Annotated[list[str], typer.Option(help="Recording directory or object-store URI (repeatable).")] = ...,
    full: Annotated[bool, typer.Option(help="Print system prompts and tool observations whole.")] = False,
) -> None:
    """One episode as a readable transcript: reward breakdown, task, gold actions, every message."""
    from rich.markup import escape

    from taurl.show import EpisodeNotFoundError, show

    try:
        show(recording, episode_id, console, full)
    except (RecordingError, EpisodeNotFoundError) as exc:
        raise fail(escape(str(exc))) from exc


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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
