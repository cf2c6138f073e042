"""What the command groups share: the consoles, errors, the progress bar, --data-dir, rows as table/json/csv."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape

from taurl.review.terminal import printable

if TYPE_CHECKING:
    from rich.progress import Progress

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


QueryTimeoutOption = Annotated[
    float,
    typer.Option(
        "--query-timeout",
        min=0,
        rich_help_panel="Query limits",
        help="Seconds a read of the recordings may take; past it the command stops with an error, never a partial "
        "answer (0: no limit).",
    ),
]
QueryMemoryOption = Annotated[
    str,
    typer.Option(
        "--query-memory",
        rich_help_panel="Query limits",
        help="Memory DuckDB may use for a read, e.g. 2GB or 512MB; a query that needs more spills to disk or fails "
        "with an error, never a partial answer.",
    ),
]


def query_limits(timeout: float, memory: str):
    """The store's limits from --query-timeout and --query-memory (a bad value: one line, exit 2)."""
    from taurl.record.store import QueryLimits, RecordingError

    try:
        return QueryLimits(timeout or None, memory)
    except RecordingError as exc:
        raise fail(str(exc)) from exc


def output_directory(out: Path) -> Path:
    """Before the work that fills it: one line (exit 2) unless ``out`` is, or could be made, a directory
    that takes new files. Creates nothing."""
    from taurl.paths import OutputPathError, writable_directory

    try:
        return writable_directory(out, create=False)
    except OutputPathError as exc:
        raise fail(str(exc)) from exc


@contextlib.contextmanager
def writing_into(out: Path) -> Iterator[Path]:
    """A staging directory for a command's files, moved into ``out`` together once the block is done; a
    failure (a full disk ...) leaves ``out`` as it was and ends the command with one line (exit 1)."""
    from taurl.paths import OutputPathError, staged_directory

    try:
        with staged_directory(out) as staging:
            yield staging
    except OutputPathError as exc:
        raise fail(str(exc), 1) from exc


def writable_recording(recording: str) -> None:
    """Before the work whose results a command stores in a recording: one line if a local recording
    cannot take a new file (read-only, a part of its path a file, a symbolic link loop ...). Creates
    nothing: a recording that does not exist yet is made by its first write."""
    from taurl.paths import writable_directory
    from taurl.record.location import resolve

    location = resolve(recording)
    if location.is_local:
        writable_directory(Path(location.root), create=False)


def recordings(positional: list[str] | None, option: list[str] | None) -> list[str]:
    """The recordings a command reads, given positionally, with --recording, or both."""
    given = [*(positional or []), *(option or [])]
    if not given:
        raise fail("name a recording: a directory or object-store URI, positionally or with --recording")
    return list(dict.fromkeys(given))


def single_recording(positional: list[str] | None, option: list[str] | None, why: str = "") -> str:
    """The one recording a command writes to or maintains."""
    given = recordings(positional, option)
    if len(given) > 1:
        raise fail(f"one recording at a time{why} (got {', '.join(given)})")
    return given[0]


class UntypedHelpGroup(typer.core.TyperGroup):
    """The root command group. typer prints each parameter's Python type in help (``<str>``,
    ``<list[str]>``, ``<bool>``); taurl's help says what a value is instead, so every command's help
    leaves the type out (a number's range, ``[x>=1]``, stays). Errors that already say, in one line,
    which recording or file and what went wrong end any command with that line (exit 1), never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except user_facing_errors() as exc:  # evaluated only when something was raised
            raise fail(str(exc), 1) from exc

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return _untyped(super().get_params(ctx))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _untype_tree(command, ctx)
        return command


def user_facing_errors() -> tuple[type[Exception], ...]:
    """Error types whose message is a whole one-line explanation naming the path (imported late: the CLI
    starts without loading the recording modules)."""
    from taurl.paths import OutputPathError
    from taurl.record.location import RecordingLocationError
    from taurl.record.lock import RecordingLockedError
    from taurl.record.store import RecordingError
    from taurl.record.writer import RecordingWriteError

    return (OutputPathError, RecordingError, RecordingLocationError, RecordingLockedError, RecordingWriteError)


def _untyped(params: list[click.Parameter]) -> list[click.Parameter]:
    for param in params:
        param.display_type_rich = _no_type  # read by typer's help rendering, per parameter
    return params


def _no_type(ctx: click.Context) -> None:
    return None


def _untype_tree(command: click.Command, ctx: click.Context) -> None:
    help_option = command.get_help_option(ctx)  # made once and kept: the one its help will show
    _untyped([*command.params, *([help_option] if help_option else [])])
    for sub in getattr(command, "commands", {}).values():
        _untype_tree(sub, ctx)


def parse_data_dirs(values: list[str] | None) -> dict[str, Path]:
    from taurl.domains import DOMAIN_NAMES  # the domains load only for commands that take --data-dir
    from taurl.registry import known_domain

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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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


SHORT_ID = 10  # characters of a hash-like id (episode ids, request keys) a table shows
LONG_TEXT = 60  # characters of any other text a table shows (the terminal's width may cut it further)
HEX = frozenset("0123456789abcdef")


def table_value(column: str, value: object) -> tuple[str, bool]:
    """A value as a table cell shows it, and whether it was shortened: floats to 4 decimals, hash-like
    ids to their first characters (a prefix is what `taurl show` takes), long text cut; NULL spelled out."""
    if value is None:
        return "[dim]NULL[/]", False
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-4:
            return f"{value:.3g}", False
        return f"{value:.4f}".rstrip("0").rstrip(".") or "0", False
    text = printable(str(value))
    limit = SHORT_ID if len(text) > 12 and set(text) <= HEX else LONG_TEXT
    if len(text) > limit + 1:
        return escape(text[:limit]) + "…", True
    return escape(text), False


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
        from taurl.cli.tables import Col, print_table

        cells = [[table_value(column, value) for column, value in zip(columns, row, strict=True)] for row in rows]
        # numbers and single-word values (ids, names) whole, other text wraps; if still too wide, the
        # rightmost columns are left out (and named)
        layout = [
            Col(
                escape(column),
                whole=all(not text or len(text.split()) == 1 for text in (row[i][0] for row in cells)),
                justify="right" if all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) else "left",
                drop=None if i == 0 else len(columns) - i,
            )
            for i, column in enumerate(columns)
        ]
        print_table(
            console,
            layout,
            [[text for text, _ in row] for row in cells],
            "; --format json prints every column",
            box=None,
            header_style="bold",
            pad_edge=False,
        )
        shortened = any(cut for row in cells for _, cut in row)
        console.print(
            f"{len(rows)} row(s)"
            + ("; long values shortened (…): --format json prints them whole" if shortened else "")
        )
    else:
        raise fail(f"unknown --format {output_format!r}: use table, json or csv")
