"""taurl export: recorded episodes in other tools' formats."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from taurl.cli.common import ReadRecordings, console, fail, option_bundles
from taurl.paths import OutputPathError
from taurl.record.store import RecordingError

app = typer.Typer(help="Write recorded episodes in other tools' formats.", no_args_is_help=True)


@app.command("tau-bench")
@option_bundles
def export_tau_bench(
    read: ReadRecordings = ReadRecordings(),
    out: Annotated[Path, typer.Option(help="The results JSON file to write.")] = Path("results.json"),
    where: Annotated[
        str, typer.Option(help="SQL filter on the episodes view, e.g. \"run_id = 'sim'\" (one run, one domain).")
    ] = "TRUE",
) -> None:
    """τ-bench's results file ([{task_id, reward, info, traj, trial}]) from one run of one domain;
    `taurl import tau-bench` reads it back with the same rewards (given the run's data directory, which
    this prints). Episodes whose reward the format cannot carry (unfinished, judged, past τ-bench's
    30 steps) are refused, with the --where that leaves them out."""
    from taurl.review.export import ExportError, write_tau_bench

    try:
        exported = write_tau_bench(read.store(), out, where)
    except (RecordingError, ExportError, OutputPathError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {exported.episodes} episode(s) to {out}", markup=False)
    if exported.data_dir:
        read_back = shlex.join(
            ["taurl", "import", "tau-bench", str(out), "--domain", exported.domain, "--data-dir", exported.data_dir]
        )
        console.print(f"read it back with: {read_back} --recording RECORDING", markup=False, soft_wrap=True)
