"""What the command groups share: the consoles, errors, the progress bar, --data-dir, rows as table/json/csv."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taurl.domains import DOMAIN_NAMES, known_domain
from taurl.terminal import printable

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


RecordingArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Recording directories or object-store URIs (or give them with --recording).", show_default=False
    ),
]
RecordingOption = Annotated[
    list[str] | None,
    typer.Option(
        "--recording",
        help="Recording directory or object-store URI (repeatable; same as positional).",
        show_default=False,
    ),
]


def recordings(positional: list[str] | None, option: list[str] | None) -> list[str]:
    """The recordings a command reads, given positionally, with --recording, or both."""
    given = [*(positional or []), *(option or [])]
    if not given:
        raise fail("name a recording: a directory or object-store URI, positionally or with --recording")
    return list(dict.fromkeys(given))


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


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (a skipped segment, say) as one plain line on stderr, not Python's source excerpt."""
    err.print(f"[yellow]warning:[/] {escape(printable(str(message)))}", soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``message`` (as text: brackets in paths or data are not markup) and the exit to raise."""
    err.print(f"[bold red]error:[/] {escape(printable(message))}", soft_wrap=True)  # paths stay whole
    return typer.Exit(code)


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
