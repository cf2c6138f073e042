"""taurl export: recorded episodes in other tools' formats."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taurl.cli.common import RecordingArgument, RecordingOption, console, fail, recordings
from taurl.record.store import RecordingError

app = typer.Typer(help="Write recorded episodes in other tools' formats.", no_args_is_help=True)


@app.command("tau-bench")
def export_tau_bench(
    recording: RecordingArgument = None,
    recording_option: RecordingOption = None,
    out: Annotated[Path, typer.Option(help="The results JSON file to write.")] = Path("results.json"),
    where: Annotated[
        str, typer.Option(help="SQL filter on the episodes view, e.g. \"run_id = 'sim'\" (one run, one domain).")
    ] = "TRUE",
) -> None:
    """τ-bench's results file ([{task_id, reward, info, traj, trial}]) from one run of one domain;
    `taurl import tau-bench` reads it back with the same rewards."""
    from taurl.export import ExportError, write_tau_bench
    from taurl.record.store import RecordingStore

    try:
        count = write_tau_bench(RecordingStore(recordings(recording, recording_option)), out, where)
    except (RecordingError, ExportError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {count} episode(s) to {out}")
