"""taurl import tau2 (in the ``import`` group beside ``tau-bench``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from taurl.cli.common import console, fail, writable_recording
from taurl.cli.data import import_app
from taurl.domains import DataError
from taurl.episodes.config import DEFAULT_CACHE_DIR, Endpoint, RunConfig
from taurl.llm.cache import CacheMode


@import_app.command("tau2")
def import_tau2(
    results: Annotated[Path, typer.Argument(help="A τ² simulation results file (what `tau2 run` saves).")],
    recording: Annotated[str, typer.Option(help="Recording directory (or object-store URI) to write.")],
    run_id: Annotated[str | None, typer.Option(help="The run's id (default: tau2-DOMAIN-FILE).")] = None,
) -> None:
    """Import τ²'s simulations into a recording, re-scored by taurl, replayable offline.

    Each simulation is played again through taurl on tau2:DOMAIN (its agent turns; its user answers
    through τ²'s own user simulator), scored by taurl's τ² evaluation beside τ²'s reward, and its
    simulated-user requests are recorded so that `taurl replay` replays it offline."""
    from taurl.importers.tau2 import IMPORT_AGENT, import_simulations, load_results
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter, check_run_id

    try:
        if run_id is not None:
            check_run_id(run_id)
        writable_recording(recording)  # before the simulations are played again, not after
    except ValueError as exc:  # a refused run id, an unwritable or impossible recording path
        raise fail(str(exc)) from exc
    try:
        loaded = load_results(results)
    except (OSError, ValueError, KeyError, DataError) as exc:
        raise fail(f"cannot read {results}: {exc}") from exc
    domain = f"tau2:{loaded.domain}"
    config = RunConfig(
        domain=domain,
        split="base",
        agent=IMPORT_AGENT,
        user="llm",
        user_endpoint=Endpoint(loaded.user_model or "tau2-user"),
        independent_user_samples=True,  # τ² trials are independent user samples
        cache_mode=CacheMode.REPLAY,
        cache_dir=DEFAULT_CACHE_DIR,
        seed=None,
    )
    try:
        imported = import_simulations(loaded, config)
    except DataError as exc:
        raise fail(str(exc)) from exc
    run_id = run_id or f"tau2-{loaded.domain}-{results.stem}"
    written = [i for i in imported if i.result is not None]
    with RecordingWriter(recording, flush_every=len(written) or 1) as writer:
        writer.write_run(run_id, {**config.to_record(), "imported_from": str(results)})
        for item in written:
            writer.add(episode_row(item.result, run_id, IMPORT_AGENT, "llm", source_reward=item.simulation.reward))
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
