"""taurl sql and taurl compact: query and maintain recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from taurl.cli.common import (
    RecordingArgument,
    RecordingOption,
    console,
    err,
    fail,
    print_rows,
    recordings,
    single_recording,
)
from taurl.record.lock import RecordingLockedError
from taurl.record.store import RecordingError

app = typer.Typer()


def is_recording(arg: str) -> bool:
    """A positional argument that names a recording: an existing directory or an object-store URI."""
    if "://" in arg:
        return True
    try:
        return Path(arg).is_dir()
    except OSError:  # SQL longer than a file name can be
        return False


@app.command("sql")
def sql_command(
    args: Annotated[
        list[str] | None,
        typer.Argument(
            help="[RECORDING...] QUERY: recordings (directories or URIs; or --recording), then SQL over the views "
            "episodes, attempts, messages, steps, tool_calls, model_calls, runs, rescores. No query: an interactive shell.",
            show_default=False,
        ),
    ] = None,
    recording: RecordingOption = None,
    output_format: Annotated[
        str, typer.Option("--format", help="table (values shortened to fit), json (whole values) or csv.")
    ] = "table",
) -> None:
    """Query recordings with DuckDB SQL."""
    from taurl.record.store import RecordingStore

    positional = [a for a in args or [] if is_recording(a)]
    queries = [a for a in args or [] if not is_recording(a)]
    if len(queries) > 1:
        raise fail(
            f"one query at a time (got {len(queries)} arguments that are not recordings: quote the SQL); a "
            "recording is an existing directory or an object-store URI"
        )
    query = queries[0] if queries else None
    try:
        store = RecordingStore(recordings(positional, recording))
    except (RecordingError, RecordingLockedError) as exc:
        raise fail(str(exc)) from exc
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
                err.print(f"[red]{exc}[/]")
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
    from taurl.record.compact import compact, export_duckdb

    recording = single_recording(recording_arg, recording_option)
    try:
        result = compact(recording, unlocked)
        console.print(
            f"{result.segments_before} segment(s), {result.episodes} episode(s)"
            + (f" -> {result.merged}" if result.merged else ": nothing to merge")
        )
        if duckdb_file is not None:
            counts = export_duckdb(recording, duckdb_file)
            console.print(f"wrote {duckdb_file}: " + ", ".join(f"{t} {n}" for t, n in counts.items()))
    except (RecordingError, RecordingLockedError) as exc:
        raise fail(str(exc)) from exc
