"""taurl sql and taurl compact: query and maintain recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from taurl.cli.common import (
    QueryMemoryOption,
    QueryTimeoutOption,
    RecordingArgument,
    RecordingOption,
    console,
    err,
    fail,
    print_rows,
    query_limits,
    recordings,
    single_recording,
)
from taurl.paths import OutputPathError
from taurl.record.location import RecordingLocationError
from taurl.record.lock import RecordingLockedError
from taurl.record.store import DEFAULT_QUERY_MEMORY, DEFAULT_QUERY_TIMEOUT, RecordingError
from taurl.record.writer import RecordingWriteError
from taurl.review.terminal import printable

app = typer.Typer()


def split_sql_arguments(args: list[str], option: list[str] | None) -> tuple[list[str], str | None]:
    """The recordings and the query among `taurl sql`'s arguments, by position alone, never by what the
    text looks like: the last argument is the query and the ones before it name recordings, except that a
    single argument without --recording is the recording (no query: the interactive shell)."""
    if option or len(args) >= 2:
        return args[:-1], (args[-1] if args else None)
    return args, None


@app.command("sql")
def sql_command(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="RECORDING... QUERY: recordings (directories or URIs), then the SQL as one quoted argument, over the "
            "views episodes, attempts, messages, steps, tool_calls, model_calls, runs, rescores, train_steps, "
            "trajectories. The last argument is always the query (with --recording it may be the only one); a "
            "recording alone opens an interactive shell.",
            show_default=False,
        ),
    ] = None,
    recording: RecordingOption = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table (values shortened to fit), json (whole values) or csv.")
    ] = "table",
    timeout: QueryTimeoutOption = DEFAULT_QUERY_TIMEOUT,
    memory: QueryMemoryOption = DEFAULT_QUERY_MEMORY,
) -> None:
    """Query recordings with DuckDB SQL: `taurl sql RECORDING "SELECT ..."`."""
    from taurl.record.store import RecordingStore

    args = args or []
    positional, query = split_sql_arguments(args, recording)
    limits = query_limits(timeout, memory)
    try:
        store = RecordingStore(recordings(positional, recording), limits)
    except (RecordingError, RecordingLockedError) as exc:
        hint = ""
        if query is None and len(args) == 1 and " " in args[0]:
            hint = ' (to query, name the recording first: taurl sql RECORDING "SELECT ...")'
        raise fail(f"{exc}{hint}") from exc
    if query is None:
        _sql_shell(store, output_format)
        return
    try:
        columns, rows = store.query(query)
    except (RecordingError, RecordingLockedError) as exc:
        raise fail(str(exc)) from exc
    print_rows(columns, rows, output_format)


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
                err.print(f"[red]{escape(printable(str(exc)))}[/]")
            buffer = ""


@app.command("compact")
def compact_command(
    recording_arg: RecordingArgument = None,
    recording_option: RecordingOption = None,
    duckdb_file: Annotated[
        Path | None, typer.Option("--duckdb", help="Also write one DuckDB database file with the same tables.")
    ] = None,
    unlocked: Annotated[
        bool,
        typer.Option(
            help="Object-store recordings only: compact without a lock (object stores have none); you make sure "
            "no other compaction runs."
        ),
    ] = False,
) -> None:
    """Merge a recording's small segments into one (and optionally export a single DuckDB file)."""
    from taurl.paths import writable_file
    from taurl.record.compact import compact, export_duckdb

    recording = single_recording(recording_arg, recording_option)
    try:
        if duckdb_file is not None:
            writable_file(duckdb_file)  # before the compaction, not after it
        result = compact(recording, unlocked)
        console.print(
            f"{result.segments_before} segment(s), {result.episodes} episode(s)"
            + (f" -> {result.merged}" if result.merged else ": nothing to merge"),
            markup=False,
        )
        if duckdb_file is not None:
            counts = export_duckdb(recording, duckdb_file)
            console.print(f"wrote {duckdb_file}: " + ", ".join(f"{t} {n}" for t, n in counts.items()), markup=False)
    except (RecordingError, RecordingLockedError, RecordingLocationError, RecordingWriteError, OutputPathError) as exc:
        raise fail(str(exc)) from exc
