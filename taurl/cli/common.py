"""What the command groups share: the consoles, errors, the progress bar, the option bundles (--data-dir,
the recordings read, the judge model, the model calls' key, cache and spend limits), rows as table/json/csv."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from copy import copy
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_type_hints

import click
import typer
from rich.console import Console
from rich.markup import escape

from taurl.review.terminal import printable

if TYPE_CHECKING:
    from rich.progress import Progress

    from taurl.llm.client import ClientLimits, Endpoint
    from taurl.record.store import QueryLimits, RecordingStore

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

WhereOption = Annotated[str, typer.Option(help="SQL filter on the episodes view, e.g. \"domain = 'retail'\".")]


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


def option_bundles(command: Callable[..., Any] | None = None, *, panel: str | None = None) -> Any:
    """Lets a command take option bundles: each parameter annotated with a bundle (a dataclass whose fields are
    typer options) stands for the bundle's options, in its place in the help (under ``panel`` if given, else
    each option's own), and the command is called with the bundle built from them. The parameter's default,
    a bundle, holds the command's defaults (none: the bundle's own)."""
    if command is None:
        return functools.partial(option_bundles, panel=panel)
    parameters, bundles = [], {}
    for parameter in inspect.signature(command, eval_str=True).parameters.values():
        bundle = parameter.annotation
        if not (isinstance(bundle, type) and dataclasses.is_dataclass(bundle)):
            parameters.append(parameter)
            continue
        default = bundle() if parameter.default is inspect.Parameter.empty else parameter.default
        bundles[parameter.name] = default
        hints = get_type_hints(bundle, include_extras=True)
        for field in dataclasses.fields(default):
            base, option = get_args(hints[field.name])  # Annotated[type, typer.Option(...)]
            if panel is not None:
                option = copy(option)
                option.rich_help_panel = panel
            value = getattr(default, field.name)
            parameters.append(parameter.replace(name=field.name, annotation=Annotated[base, option], default=value))

    @functools.wraps(command)
    def with_bundles(**values: Any) -> Any:
        for name, default in bundles.items():
            fields = {field.name: values.pop(field.name) for field in dataclasses.fields(default)}
            values[name] = dataclasses.replace(default, **fields)
        return command(**values)

    with_bundles.__signature__ = inspect.Signature(parameters, __validate_parameters__=False)  # type: ignore[attr-defined]
    return with_bundles


def _default_query_timeout() -> float:
    from taurl.record.store import DEFAULT_QUERY_TIMEOUT  # only where a command reads recordings

    return DEFAULT_QUERY_TIMEOUT


def _default_query_memory() -> str:
    from taurl.record.store import DEFAULT_QUERY_MEMORY

    return DEFAULT_QUERY_MEMORY


@dataclasses.dataclass(frozen=True)
class ReadRecordings:
    """The recordings a command reads (positionally, with --recording, or both) and the limits of a read."""

    recording: RecordingArgument = None
    recording_option: RecordingOption = None
    timeout: QueryTimeoutOption = dataclasses.field(default_factory=_default_query_timeout)
    memory: QueryMemoryOption = dataclasses.field(default_factory=_default_query_memory)

    @property
    def names(self) -> list[str]:
        return recordings(self.recording, self.recording_option)

    def single(self, why: str = "") -> str:
        """The one recording a command writes to or maintains."""
        return single_recording(self.recording, self.recording_option, why)

    @property
    def limits(self) -> QueryLimits:
        return query_limits(self.timeout, self.memory)

    def store(self, recording: str | None = None) -> RecordingStore:
        """The store over the recordings (or ``recording`` alone)."""
        from taurl.record.store import RecordingStore

        return RecordingStore(recording or self.names, self.limits)


MODEL_CALLS = "Model calls"  # the help panel of the options on how models are called


@dataclasses.dataclass(frozen=True)
class JudgeModel:
    """The model that judges, and where it is served."""

    judge_model: Annotated[
        str | None,
        typer.Option(rich_help_panel="Judge model", help="The judge model (any OpenAI-compatible chat model)."),
    ] = None
    judge_base_url: Annotated[
        str | None,
        typer.Option(
            rich_help_panel="Judge model", help="OpenAI-compatible endpoint of the judge model (default: OpenAI)."
        ),
    ] = None

    def endpoint(self, api_key_env: str | None = None) -> Endpoint | None:
        """The judge at temperature 0, None without --judge-model."""
        from taurl.llm.client import Endpoint

        if self.judge_model is None:
            return None
        return Endpoint(self.judge_model, self.judge_base_url, api_key_env or Endpoint.api_key_env, 0.0)


def _default_cache_dir() -> Path:
    from taurl.episodes.config import DEFAULT_CACHE_DIR  # the run settings: only where a command calls models

    return DEFAULT_CACHE_DIR


@dataclasses.dataclass(frozen=True)
class ModelCalls:
    """How a command's model calls are made and bounded: the key's variable, the response cache, spend limits."""

    api_key_env: Annotated[
        str,
        typer.Option(
            rich_help_panel=MODEL_CALLS, help="Environment variable holding the API key (never written anywhere)."
        ),
    ] = "OPENAI_API_KEY"
    cache_dir: Annotated[Path, typer.Option(rich_help_panel=MODEL_CALLS, help="Response cache directory.")] = (
        dataclasses.field(default_factory=_default_cache_dir)
    )
    max_cost_usd: Annotated[
        float | None,
        typer.Option(rich_help_panel=MODEL_CALLS, help="Stop calling models once they have cost this many dollars."),
    ] = None
    max_tokens_budget: Annotated[
        int | None,
        typer.Option(rich_help_panel=MODEL_CALLS, help="Stop calling models once they have spent this many tokens."),
    ] = None

    def limits(self, **rates: Any) -> ClientLimits:
        """The spend limits (and ``rates``: ClientLimits' max_concurrency, calls_per_minute)."""
        from taurl.llm.client import ClientLimits

        return ClientLimits(max_total_tokens=self.max_tokens_budget, max_cost_usd=self.max_cost_usd, **rates)


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


def parse_data_dirs(values: list[str] | None) -> dict[str, str]:
    """--data-dir's DOMAIN=DIR values as {domain: directory} (a bad one: a usage error naming it)."""
    from taurl.domains import DOMAIN_NAMES  # the domains load only for commands that take --data-dir
    from taurl.registry import known_domain

    dirs: dict[str, str] = {}
    for value in values or []:
        domain, sep, directory = value.partition("=")
        if not sep or not directory:
            raise typer.BadParameter(f"expected DOMAIN=DIR, got {value!r}", param_hint="--data-dir")
        if not known_domain(domain):
            raise typer.BadParameter(
                f"unknown domain {domain!r} (known: {', '.join(DOMAIN_NAMES)}, or tau_bench:<env>)",
                param_hint="--data-dir",
            )
        dirs[domain] = directory
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


def on_interrupt(first: str, again: str) -> Callable[[int], None]:
    """What a long command says on stderr at each Ctrl-C (``interruptible``'s callback): ``first`` at the
    first, ``again`` at the next."""

    def say(count: int) -> None:
        err.print(f"[yellow]stopping:[/] {first}" if count == 1 else f"[yellow]stopping now:[/] {again}")

    return say


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
