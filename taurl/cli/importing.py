"""taurl import tau-bench and taurl import tau2: other systems' runs into a recording, re-scored by taurl.

Both take the results file, then --recording (and --run-id), then what the importer needs besides."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from taurl.cli.common import console, err, fail, parse_data_dirs, writable_recording
from taurl.domains import DataError

import_app = typer.Typer(help="Bring other systems' runs into a taurl recording.", no_args_is_help=True)

ImportRecordingOption = Annotated[
    str | None,
    typer.Option(
        "--recording", help="Recording directory (or object-store URI) to write (required).", show_default=False
    ),
]


def recording_to_write(recording: str | None, run_id: str | None, out: str | None = None) -> str:
    """The recording an import writes (--recording, or the deprecated --out), checked with --run-id before
    anything is read or played again: a refused run id or an unwritable path is one line, exit 2."""
    from taurl.record.writer import check_run_id

    if out is not None:
        if recording is not None:
            raise fail("--out is the old name of --recording: give --recording alone")
        err.print("[yellow]warning:[/] --out is deprecated: use --recording", soft_wrap=True)
        recording = out
    if recording is None:
        raise fail("name the recording to write: --recording DIR (or an object-store URI)")
    try:
        if run_id is not None:
            check_run_id(run_id)
        writable_recording(recording)
    except ValueError as exc:  # a refused run id, an unwritable or impossible recording path
        raise fail(str(exc)) from exc
    return recording


@import_app.command("tau-bench")
def import_tau_bench(
    results: Annotated[
        Path, typer.Argument(help="A τ-bench results file: a list of {task_id, trial, reward, info, traj}.")
    ],
    recording: ImportRecordingOption = None,
    run_id: Annotated[str | None, typer.Option(help="The run's id (default: tau-bench-DOMAIN-FILE).")] = None,
    domain: Annotated[
        str, typer.Option(help="The τ-bench environment the runs used (airline or retail).", show_default=False)
    ] = ...,
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
    out: Annotated[str | None, typer.Option(hidden=True, help="Deprecated: the old name of --recording.")] = None,
) -> None:
    """Import τ-bench's runs into a recording, re-scored by taurl, replayable offline.

    Each run is played again through taurl (its executed calls, its user messages through taurl's llm user)
    and scored by taurl (db+outputs) beside τ-bench's own reward; its simulated-user requests are recorded
    (and with --cache-dir written as cache entries) so that the conversations replay through taurl."""
    from taurl.importers.recording import record_import
    from taurl.importers.taubench import cache_user_requests, import_config, import_runs, load_results

    dirs = parse_data_dirs([v if "=" in v else f"{domain}={v}" for v in data_dir or []])
    if domain not in dirs:
        raise fail(f"give τ-bench's {domain} data directory with --data-dir (the runs' tools are re-executed on it)")
    recording = recording_to_write(recording, run_id, out)  # before the runs are played again, not after
    try:
        runs = load_results(results, domain, split)
    except (OSError, ValueError, KeyError) as exc:
        raise fail(f"cannot read {results}: {exc}") from exc
    config = import_config(domain, split, dirs[domain], user_model, cache_dir)
    episodes, entries = import_runs(runs, dirs[domain], config)
    run_id = run_id or f"tau-bench-{domain}-{results.stem}"
    record_import(
        recording, run_id, config, results, [(e.result, e.run.reward) for e in episodes if e.result is not None]
    )
    if cache_dir is not None:
        cache_user_requests(entries, cache_dir)
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
        f"{agreeing}/{len(episodes)} rewards agree with τ-bench's; {len(entries)} user request(s) recorded; "
        f"run {run_id} in {recording}",
        markup=False,
    )
    if agreeing != len(episodes):
        raise typer.Exit(1)


@import_app.command("tau2")
def import_tau2(
    results: Annotated[Path, typer.Argument(help="A τ² simulation results file (what `tau2 run` saves).")],
    recording: ImportRecordingOption = None,
    run_id: Annotated[str | None, typer.Option(help="The run's id (default: tau2-DOMAIN-FILE).")] = None,
) -> None:
    """Import τ²'s simulations into a recording, re-scored by taurl, replayable offline.

    Each simulation is played again through taurl on tau2:DOMAIN (its agent turns; its user answers
    through τ²'s own user simulator), scored by taurl's τ² evaluation beside τ²'s reward, and its
    simulated-user requests are recorded so that `taurl replay` replays it offline."""
    from taurl.importers.recording import record_import
    from taurl.importers.tau2 import import_config, import_simulations, load_results

    recording = recording_to_write(recording, run_id)  # before the simulations are played again, not after
    try:
        loaded = load_results(results)
    except (OSError, ValueError, KeyError, DataError) as exc:
        raise fail(f"cannot read {results}: {exc}") from exc
    config = import_config(loaded)
    try:
        imported = import_simulations(loaded, config)
    except DataError as exc:
        raise fail(str(exc)) from exc
    run_id = run_id or f"tau2-{loaded.domain}-{results.stem}"
    written = [(i.result, i.simulation.reward) for i in imported if i.result is not None]
    record_import(recording, run_id, config, results, written)
    table = Table(
        "task", "trial", "τ² ended", "τ² reward", "taurl reward", "agree", title=f"{len(imported)} τ² simulation(s)"
    )
    for item in imported:
        sim = item.simulation
        ours = "-" if item.result is None else f"{item.result.reward:.1f}"
        note = item.error or (f"{item.outputs_differing} tool output(s) differ" if item.outputs_differing else "")
        table.add_row(
            sim.task.id,
            str(sim.trial),
            sim.termination,
            "-" if sim.reward is None else f"{sim.reward:.1f}",
            ours,
            "[green]yes[/]" if item.agrees else ("-" if sim.skipped else "[red]no[/]") + f" {note}",
        )
    console.print(table)
    agreeing = sum(i.agrees for i in imported)
    skipped = sum(i.simulation.skipped for i in imported)
    console.print(
        f"{agreeing}/{len(imported) - skipped} rewards agree with τ²'s"
        + (f" ({skipped} simulation(s) τ² skipped: not imported)" if skipped else "")
        + f"; {len(written)} episode(s) written; run {escape(run_id)} in {escape(recording)}"
    )
    if agreeing != len(imported) - skipped:
        raise typer.Exit(1)
