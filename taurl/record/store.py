"""The store: read-only DuckDB views over a recording's segments.

Views: ``episodes`` (one row per episode: the latest attempt of each (run, domain, task, trial),
with ``passed`` and the models), ``attempts`` (every attempt, for the history of resumed episodes),
``messages``, ``steps``, ``tool_calls`` (steps that called a tool), ``model_calls`` (unnested from
the latest attempts), ``runs`` (one row per run: its config, models, episodes and extent in time),
``rescores``, and a training run's ``train_steps`` and ``trajectories`` (its episodes' tokens). A
segment that cannot be read (a footer cut short by a crash, corrupt pages) is named in a warning and
skipped, never read in part; segments that a compacted segment replaces are skipped too.

Queries can read the recording and nothing else. A query is checked on DuckDB's own parse tree
before it runs: one SELECT statement (or EXPLAIN of one, never EXPLAIN ANALYZE, which runs its
statement), calling no table function but a few that compute (``range``, ``unnest`` ...), so no
COPY, EXPORT, ATTACH, SET or file function in any wrapper. The connection it runs on reads only the
recording's regular segment files (symbolic links are skipped), spills to a private temporary
directory removed on close, and has its configuration locked.

A query answers whole or fails: past its time limit or its memory limit (:class:`QueryLimits`) it
stops with one message, and a resource error (out of memory, a thread that cannot start, a file the
system will not open) is never taken for a damaged segment.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from taurl.paths import blocked
from taurl.record.location import Location, RecordingLocationError, resolve
from taurl.record.predicates import passed_sql
from taurl.record.schema import (
    EPISODE_PREFIX,
    EPISODE_SCHEMA,
    NESTED_VIEWS,
    RESCORE_PREFIX,
    RESCORE_SCHEMA,
    RUN_PREFIX,
    RUN_SCHEMA,
    SCALARS,
    SCHEMA_VERSION,
    TOKENS,
    TRAIN_STEP_PREFIX,
    TRAIN_STEP_SCHEMA,
)
from taurl.record.segments import REPLACES_KEY, RUN_IDS_KEY, SkippedSegmentWarning, is_damage

KINDS = {
    "episodes": (EPISODE_PREFIX, EPISODE_SCHEMA),
    "runs": (RUN_PREFIX, RUN_SCHEMA),
    "rescores": (RESCORE_PREFIX, RESCORE_SCHEMA),
    "train_steps": (TRAIN_STEP_PREFIX, TRAIN_STEP_SCHEMA),
}
ID_COLUMNS = "episode_id, run_id, domain, task_id, trial"
# an attempt's rank among those of its episode: 1 for the latest
ATTEMPT_RANK = (
    "row_number() OVER (PARTITION BY run_id, domain, task_id, trial ORDER BY attempt DESC, breakdown_json, "
    "episode_id, _segment, _row)"
)
# the places of the attempts a later one (or an identical copy) supersedes: ranked only among the episodes
# recorded more than once, so that finding these few holds little more than one key per episode
SUPERSEDED_ATTEMPTS = (
    "SELECT _segment, _row FROM attempts_raw a SEMI JOIN (SELECT run_id, domain, task_id, trial FROM attempts_raw "
    "GROUP BY ALL HAVING count(*) > 1) d ON a.run_id IS NOT DISTINCT FROM d.run_id AND a.domain IS NOT DISTINCT "
    "FROM d.domain AND a.task_id IS NOT DISTINCT FROM d.task_id AND a.trial IS NOT DISTINCT FROM d.trial "
    f"QUALIFY {ATTEMPT_RANK} > 1"
)
T = TypeVar("T")
# errors in what a query says, not in what it reads: reading every segment again would not help
QUERY_MISTAKES = (
    duckdb.ParserException,
    duckdb.BinderException,
    duckdb.CatalogException,
    duckdb.ConversionException,
    duckdb.TypeMismatchException,
)
DEFAULT_QUERY_TIMEOUT = 300.0  # seconds
DEFAULT_QUERY_MEMORY = "4GB"
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


class RecordingError(ValueError):
    """A recording that cannot be read; says which file and what to do."""


class QueryLimitError(RecordingError):
    """A read that ran out of time, memory or another resource: it gave no answer rather than part of one."""


@dataclass(frozen=True)
class QueryLimits:
    """What one read of a recording may take: ``timeout`` seconds in all (None: no limit) and ``memory``
    for DuckDB (a size such as ``2GB``; a query that needs more spills to disk where it can, else fails)."""

    timeout: float | None = DEFAULT_QUERY_TIMEOUT
    memory: str = DEFAULT_QUERY_MEMORY

    def __post_init__(self) -> None:
        if self.timeout is not None and not self.timeout > 0:
            raise RecordingError(f"query time limit {self.timeout!r}: give a number of seconds above 0")
        if not MEMORY_SIZE.fullmatch(self.memory.strip()):
            raise RecordingError(f"query memory limit {self.memory!r} is not a size: give e.g. 2GB, 512MB or 1.5GiB")


def check_pages(location: Location, path: str) -> None:
    """Decode every page of a segment, a small batch at a time on this thread, so that checking a
    segment needs little memory whatever its size; raises what pyarrow raises for a bad page."""
    with pq.ParquetFile(path, filesystem=location.fs, pre_buffer=False, buffer_size=1 << 20) as segment:
        for _ in segment.iter_batches(batch_size=256, use_threads=False):
            pass


def first_line(problem: BaseException) -> str:
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__


@dataclass
class Segments:
    location: Location
    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> readable file paths
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    replaced: dict[str, list[str]] = field(default_factory=dict)  # kind -> names of files a compacted one replaces
    # path -> its schema, as text, where it is not its kind's current schema (an older segment)
    layouts: dict[str, str] = field(default_factory=dict)
    run_ids: dict[str, frozenset[str]] = field(default_factory=dict)  # path -> the runs it holds, where it says


def scan(location: Location) -> Segments:
    """Readable segments by kind, with the unreadable ones and the reason each was skipped. One footer
    read per segment tells all the store needs of it: its schema, what it replaces, the runs it holds."""
    result = Segments(location, {kind: [] for kind in KINDS})
    replaced: set[str] = set()
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    for name in location.list_files():
        kind = next(
            (k for k, (prefix, _) in KINDS.items() if name.startswith(prefix) and name.endswith(".parquet")), None
        )
        if kind is None:
            continue
        path = location.path(name)
        if location.is_local and (problem := not_a_regular_file(path)):
            result.skipped.append((path, problem))
            continue
        try:
            metadata = pq.read_metadata(path, filesystem=location.fs)
            schema = metadata.schema.to_arrow_schema()
        except FileNotFoundError:
            continue  # compacted away since the listing
        except Exception as exc:  # truncated or corrupt: pyarrow says why
            if not is_damage(exc):
                raise QueryLimitError(f"cannot read {path}: {first_line(exc)}") from exc
            result.skipped.append((path, f"unreadable Parquet footer ({exc})"))
            continue
        footer = metadata.metadata or {}  # the file's key-value metadata: the schema's, and what a merge adds
        version = int(footer.get(b"taurl.schema_version", SCHEMA_VERSION))
        if version > SCHEMA_VERSION:
            raise RecordingError(
                f"{path} was written with recording schema {version}; this taurl reads up to {SCHEMA_VERSION}: upgrade taurl"
            )
        if REPLACES_KEY.encode() in footer:
            replaced.update(json.loads(footer[REPLACES_KEY.encode()]))
        if RUN_IDS_KEY.encode() in footer:
            result.run_ids[path] = frozenset(json.loads(footer[RUN_IDS_KEY.encode()]))
        if not schema.equals(KINDS[kind][1], check_metadata=False):
            result.layouts[path] = schema.remove_metadata().to_string(show_field_metadata=False)
        found[kind].append(path)
    for kind, paths in found.items():
        result.files[kind] = [p for p in paths if p.rsplit("/", 1)[-1] not in replaced]
        result.replaced[kind] = sorted(p.rsplit("/", 1)[-1] for p in paths if p.rsplit("/", 1)[-1] in replaced)
    return result


def not_a_regular_file(path: str) -> str | None:
    """Why a local segment path is not read (a symbolic link could point anywhere), or None."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISLNK(mode):
        return "a symbolic link: segments are read only as regular files inside the recording"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None


def duckdb_type(dtype: pa.DataType) -> str:
    """DuckDB's name for an Arrow type of the recording schema."""
    if pa.types.is_list(dtype):
        return f"{duckdb_type(dtype.value_type)}[]"
    if pa.types.is_struct(dtype):
        return "STRUCT(" + ", ".join(f"{f.name} {duckdb_type(f.type)}" for f in dtype) + ")"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMP"
    names = {
        pa.string(): "VARCHAR",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
    }
    return names[dtype]


class RecordingStore:
    """SQL over one or more recordings. ``locations``: local directories or object-store URIs; ``limits``:
    the time and memory each read may take; ``run_ids``: read only the segments that may hold these runs
    (those whose footer lists one of them, and those that list none, as older segments do), for questions
    about these runs alone, as a resume check asks."""

    def __init__(
        self,
        locations: Iterable[str | Path] | str | Path,
        limits: QueryLimits | None = None,
        run_ids: Iterable[str] | None = None,
    ):
        if isinstance(locations, (str, Path)):
            locations = [locations]
        self.limits = limits or QueryLimits()
        self.run_ids = None if run_ids is None else frozenset(run_ids)
        try:
            self.locations = [resolve(loc) for loc in locations]
        except RecordingLocationError as exc:
            raise RecordingError(str(exc)) from exc
        for loc in self.locations:
            if loc.is_local:
                check_recording_directory(loc)
        self._con: duckdb.DuckDBPyConnection | None = None
        self._spill: str | None = None
        self._unreadable: dict[str, str] = {}  # path -> reason, found while querying
        self._warned: set[str] = set()
        self._one_thread = False  # DuckDB reads on one thread (not one per core) once the store streams
        self._scan()

    def _scan(self) -> None:
        self.segments = [scan(loc) for loc in self.locations]
        for seg in self.segments:
            for kind, paths in seg.files.items():
                bad = [p for p in paths if p in self._unreadable]
                seg.files[kind] = [p for p in paths if p not in self._unreadable and self._may_hold(seg, p)]
                seg.skipped.extend((p, self._unreadable[p]) for p in bad)
            for path, reason in seg.skipped:
                if path not in self._warned:
                    self._warned.add(path)
                    warnings.warn(f"skipping segment {path}: {reason}", SkippedSegmentWarning, stacklevel=3)

    def _may_hold(self, seg: Segments, path: str) -> bool:
        """Whether a segment may hold one of the runs this store is for."""
        held = seg.run_ids.get(path)
        return self.run_ids is None or held is None or not held.isdisjoint(self.run_ids)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [s for seg in self.segments for s in seg.skipped]

    def files(self, kind: str) -> list[tuple[Location, str]]:
        return [(seg.location, path) for seg in self.segments for path in seg.files[kind]]

    def connect(self) -> duckdb.DuckDBPyConnection:
        """The store's read-only connection (made once)."""
        if self._con is None:
            con = self.views_connection()
            if self._one_thread:
                con.execute("SET threads = 1")
            self._lock_down(con)
            self._con = con
        return self._con

    def views_connection(self) -> duckdb.DuckDBPyConnection:
        """A new connection with the views and nothing locked: only for taurl's own exports."""
        con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
        con.execute("SET memory_limit = ?", [self.limits.memory.strip()])
        # a footer is parsed once, not again by every view that binds the segments and every query that reads them
        con.execute("SET parquet_metadata_cache = true")
        for kind, (_, schema) in KINDS.items():
            self._register_raw(con, f"{kind}_raw", kind, schema)
        scalars = ", ".join(name for name, _ in SCALARS)
        con.execute("CREATE VIEW attempts_raw AS SELECT * REPLACE (coalesce(attempt, 1) AS attempt) FROM episodes_raw")
        # the latest attempt of each episode, picked on scalar columns alone and named by where its row is;
        # ties (copies of one attempt) broken by content, then by place, deterministically
        con.execute(
            f"CREATE VIEW latest_attempts AS SELECT _segment, _row FROM attempts_raw QUALIFY {ATTEMPT_RANK} = 1"
        )
        # their whole rows, by a semi join on that place: no nested column is ever sorted or partitioned
        con.execute(
            "CREATE VIEW episodes_full AS SELECT * EXCLUDE (_segment, _row) FROM attempts_raw "
            "SEMI JOIN latest_attempts USING (_segment, _row)"
        )
        # one row per run: the newest run record (a resumed run writes one each time), with what people
        # look for named (domain, models) and its extent from its episodes
        con.execute(
            "CREATE VIEW run_configs AS SELECT * FROM runs_raw "
            "QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY schema_version DESC, config_json) = 1"
        )
        for view, source in (("episodes", "episodes_full"), ("attempts", "attempts_raw")):
            # model names of older segments come from their run record; passed is τ-bench's success
            con.execute(
                f"CREATE VIEW {view} AS SELECT e.* REPLACE ("
                "coalesce(e.agent_model, CASE WHEN e.agent NOT IN ('oracle', 'silent') "
                "THEN json_extract_string(r.config_json, '$.agent_endpoint.model') END) AS agent_model, "
                "coalesce(e.user_model, CASE WHEN e.user_strategy <> 'scripted' "
                "THEN json_extract_string(r.config_json, '$.user_endpoint.model') END) AS user_model), "
                f"{passed_sql('e.reward')} AS passed "
                f"FROM (SELECT {scalars} FROM {source}) e LEFT JOIN run_configs r USING (run_id)"
            )
        for column, view in NESTED_VIEWS.items():
            con.execute(
                f"CREATE VIEW {view} AS SELECT {ID_COLUMNS}, UNNEST({column}, recursive := true) FROM episodes_full"
            )
        con.execute("CREATE VIEW tool_calls AS SELECT * FROM steps WHERE name NOT IN ('respond', '__parse_error__')")
        con.execute(
            "CREATE VIEW runs AS SELECT r.run_id, r.schema_version, r.taurl_version, "
            "json_extract_string(r.config_json, '$.domain') AS domain, "
            "json_extract_string(r.config_json, '$.split') AS split, "
            "json_extract_string(r.config_json, '$.agent') AS agent, "
            "json_extract_string(r.config_json, '$.agent_endpoint.model') AS agent_model, "
            "json_extract_string(r.config_json, '$.user') AS user_strategy, "
            "CASE WHEN json_extract_string(r.config_json, '$.user') <> 'scripted' "
            "THEN json_extract_string(r.config_json, '$.user_endpoint.model') END AS user_model, "
            "e.episodes, e.started_at, e.finished_at, date_diff('millisecond', e.started_at, e.finished_at) AS duration_ms, "
            "r.config_json FROM run_configs r LEFT JOIN (SELECT run_id, count(*) AS episodes, min(started_at) AS started_at, "
            "max(finished_at) AS finished_at FROM episodes_full GROUP BY run_id) e USING (run_id)"
        )
        con.execute("CREATE VIEW rescores AS SELECT * FROM rescores_raw")
        # a training run (taurl train --backend tinker): each step's latest attempt, and each trajectory's tokens
        con.execute(
            "CREATE VIEW train_steps AS SELECT * FROM train_steps_raw "
            "QUALIFY row_number() OVER (PARTITION BY run_id, step ORDER BY attempt DESC, finished_at DESC) = 1"
        )
        tokens = ", ".join(name for name, _ in TOKENS)
        con.execute(
            f"CREATE VIEW trajectories AS SELECT {ID_COLUMNS}, attempt, train_step, train_group, sampler_version, "
            f"advantage, reward, terminated_by, {tokens} FROM episodes_full WHERE token_ids IS NOT NULL"
        )
        return con

    def _lock_down(self, con: duckdb.DuckDBPyConnection) -> None:
        """From here on the connection reads the recording's segment files and nothing else. The views
        read their files at query time, so those files (and only those) stay allowed."""
        local = [path for kind in KINDS for loc, path in self.files(kind) if loc.is_local]
        # a query that outgrows memory spills here, not into ./.tmp of whatever directory taurl runs in
        self._spill = tempfile.mkdtemp(prefix="taurl-query-")
        # removed on close, or when the store is collected or the process exits without closing it
        self._spill_removal = weakref.finalize(self, shutil.rmtree, self._spill, True)
        con.execute("SET temp_directory = ?", [self._spill])
        con.execute("SET python_enable_replacements = false")  # no Python variable read as a table
        con.execute("SET allowed_paths = ?", [local])
        con.execute("SET allowed_directories = []")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

    def _register_raw(self, con: duckdb.DuckDBPyConnection, view: str, kind: str, schema: pa.Schema) -> None:
        """One relation over every segment of a kind. Segments are read in groups of one schema each (the
        current one, or an older one), so binding reads one footer a group, not every file's: cheap at
        any segment count, however many views read the relation. Episode rows carry their place (``_segment``,
        ``_row``), by which the views pick the latest attempts."""
        files = self.files(kind)
        layouts = {path: layout for seg in self.segments for path, layout in seg.layouts.items()}
        groups: dict[str, list[str]] = {}
        for loc, path in files:
            if loc.is_local:
                groups.setdefault(layouts.get(path, ""), []).append(path)
        remote = [(loc, path) for loc, path in files if not loc.is_local]
        placed = kind == "episodes"
        parts = []
        if "" not in groups and not remote:
            # typed and empty, in SQL: every column exists even when no segment has it (an older schema)
            columns = [f"NULL::{duckdb_type(f.type)} AS {f.name}" for f in schema]
            columns += ["NULL::BIGINT AS _segment", "NULL::BIGINT AS _row"] if placed else []
            parts.append(f"SELECT {', '.join(columns)} WHERE FALSE")
        for number, paths in enumerate(paths for _, paths in sorted(groups.items())):  # the current schema first
            listing = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            place = f", ({number} * {1 << 32} + file_index)::BIGINT AS _segment, file_row_number AS _row"
            parts.append(f"SELECT *{place if placed else ''} FROM read_parquet([{listing}])")
        for index, (loc, path) in enumerate(remote):
            import pyarrow.dataset as pads  # only object stores need it, and it costs ~0.4 s to import

            dataset = pads.dataset([path], filesystem=loc.fs, format="parquet", schema=schema)
            con.register(f"_{view}_remote_{index}", dataset)
            place = f", {(len(groups) + index) << 32}::BIGINT AS _segment, row_number() OVER () AS _row"
            parts.append(f"SELECT *{place if placed else ''} FROM _{view}_remote_{index}")
        con.execute(f"CREATE VIEW {view} AS " + " UNION ALL BY NAME ".join(parts))

    def _reading(self, run: Callable[[duckdb.DuckDBPyConnection], T], what: str) -> T:
        """Run a read within the limits; if a segment turns out unreadable (corrupt pages behind a valid
        footer) or gone (compacted meanwhile), name it, leave it out and try again. Out of time, memory
        or another resource, the read fails whole."""
        timeout = self.limits.timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        for _ in range(3):
            stopped = threading.Event()
            try:
                con = self.connect()
                with _time_limit(con, deadline, stopped):
                    return run(con)
            except QUERY_MISTAKES as exc:  # the query's own fault: no segment needs checking
                raise RecordingError(f"{what} failed: {exc}") from exc
            except (duckdb.Error, MemoryError) as exc:
                if stopped.is_set() or isinstance(exc, duckdb.InterruptException):
                    self.close()  # an interrupt may still be pending on it: a later read gets a new connection
                    raise QueryLimitError(
                        f"{what} stopped at its time limit of {timeout:g} s: narrow it (WHERE, LIMIT), or raise "
                        "the limit (--query-timeout SECONDS, 0 for none)"
                    ) from exc
                if isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)):
                    self.close()
                    raise QueryLimitError(
                        f"{what} ran out of memory (limit {self.limits.memory}): {first_line(exc)}; narrow it, "
                        "or raise the limit (--query-memory SIZE)"
                    ) from exc
                if not self._recover(what, exc):
                    raise RecordingError(f"{what} failed: {exc}") from exc
            finally:
                if stopped.is_set():
                    self.close()
        raise RecordingError(f"{what} failed: the recording kept changing while it was read; try again")

    def _recover(self, what: str, cause: BaseException) -> bool:
        """After a read error: rescan (segments may have been compacted away) and check every segment's
        pages; True when something changed, so the read is worth trying again. A segment is marked
        unreadable only for damage; a check the machine cannot finish fails the read instead."""
        before = {p for kind in KINDS for _, p in self.files(kind)}
        for loc, path in [(loc, p) for kind in KINDS for loc, p in self.files(kind)]:
            try:
                check_pages(loc, path)
            except FileNotFoundError:
                continue
            except Exception as problem:  # pyarrow names what is wrong with the file
                if not is_damage(problem):
                    raise QueryLimitError(
                        f"{what} failed ({first_line(cause)}), and checking {path} for damage could not finish "
                        f"({first_line(problem)}): no segment was skipped; try again with more memory"
                    ) from problem
                self._unreadable[path] = f"unreadable Parquet data ({problem})"
        self.close()
        self._scan()
        after = {p for kind in KINDS for _, p in self.files(kind)}
        return after != before

    def query(self, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """One read-only statement; anything else is refused with :class:`QueryRefusedError`."""
        check_read_only(sql)

        def run(con: duckdb.DuckDBPyConnection) -> tuple[list[str], list[tuple[Any, ...]]]:
            cursor = con.execute(sql, params or [])
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()

        return self._reading(run, "query")

    def arrow(self, sql: str) -> pa.Table:
        check_read_only(sql)
        return self._reading(lambda con: con.sql(sql).to_arrow_table(), "query")

    def episode_rows(self, where: str = "TRUE") -> list[dict[str, Any]]:
        """Whole episode rows (nested lists included, latest attempts) as Python dicts; ``where`` is
        an SQL expression over the ``episodes`` columns."""
        sql = _episodes_query(where)
        return self._reading(lambda con: con.sql(sql).to_arrow_table().to_pylist(), f"reading episodes ({where})")

    def episode_batches(self, where: str = "TRUE", rows: int = 256) -> Iterator[pa.Table]:
        """:meth:`episode_rows` streamed, as tables of exactly ``rows`` rows (the last one fewer), so a reader
        holds a batch rather than the recording. They come in the recording's order (segment by segment, as
        written), the same every time: a plain scan of the attempts, leaving out by its place each one a later
        attempt supersedes; neither a sort nor a join, which would hold every row or reorder them. The time
        limit applies to the query until its first batch, then to each batch read."""
        _episodes_query(where)  # checked as episode_rows checks it; the scan below runs the same condition
        if not self._one_thread:
            # streamed on one DuckDB thread: each further thread would read ahead a chunk of its own (2,048
            # episodes, tens of MB decoded) that the ordered stream buffers, more the longer the recording
            self.close()
            self._one_thread = True
        sql, what = f"SELECT * FROM attempts_raw WHERE ({where}\n)", f"reading episodes ({where})"

        def start(con: duckdb.DuckDBPyConnection) -> tuple[set, pa.RecordBatchReader, pa.RecordBatch | None]:
            superseded = set(con.sql(SUPERSEDED_ATTEMPTS).fetchall())
            reader = con.sql(sql).to_arrow_reader(rows)
            return superseded, reader, next(reader, None)

        superseded, reader, batch = self._reading(start, what)
        pending: list[pa.RecordBatch] = []
        while batch is not None:
            if superseded:
                places = zip(batch.column("_segment").to_pylist(), batch.column("_row").to_pylist(), strict=True)
                batch = batch.filter(pa.array([p not in superseded for p in places]))
            pending.append(batch.drop_columns(["_segment", "_row"]))
            while sum(b.num_rows for b in pending) >= rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, rows).combine_chunks()
                pending = table.slice(rows).combine_chunks().to_batches()
            batch = self._next_batch(reader, what)
        if sum(b.num_rows for b in pending):
            yield pa.Table.from_batches(pending).combine_chunks()

    def _next_batch(self, reader: pa.RecordBatchReader, what: str) -> pa.RecordBatch | None:
        timeout, stopped = self.limits.timeout, threading.Event()
        try:
            assert self._con is not None  # the reader's connection, open since the query started
            with _time_limit(self._con, None if timeout is None else time.monotonic() + timeout, stopped):
                return next(reader, None)
        except (duckdb.Error, pa.ArrowException, MemoryError) as exc:
            self.close()
            if stopped.is_set():
                raise QueryLimitError(f"{what} stopped at its time limit of {timeout:g} s for one batch") from exc
            raise RecordingError(f"{what} failed: {first_line(exc)}") from exc

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
        if self._spill is not None:
            self._spill_removal()
            self._spill = None


def _episodes_query(where: str) -> str:
    """The episodes (latest attempts) that ``where`` selects, sorted by domain, task, trial and run; ``where``
    must be one condition on the episodes' columns, checked like any query."""
    sql = f"SELECT * FROM episodes_full WHERE ({where}\n) ORDER BY domain, task_id, trial, run_id"
    node = check_read_only(sql, what=f"--where {where!r}")["statements"][0]["node"]
    if node.get("type") != "SELECT_NODE" or (node.get("from_table") or {}).get("table_name") != "episodes_full":
        raise QueryRefusedError(f"--where {where!r} is not one condition on the episodes' columns")
    return sql


@contextlib.contextmanager
def _time_limit(con: duckdb.DuckDBPyConnection, deadline: float | None, stopped: threading.Event) -> Iterator[None]:
    """Interrupt what ``con`` runs once ``deadline`` (time.monotonic) passes; ``stopped`` tells that it did."""
    if deadline is None:
        yield
        return
    running = threading.Lock()

    def stop() -> None:
        with running:
            if not done:
                stopped.set()
                con.interrupt()

    done = False
    timer = threading.Timer(max(0.0, deadline - time.monotonic()), stop)
    timer.daemon = True
    try:
        timer.start()
    except RuntimeError as exc:  # no thread to be had: the machine is out of memory or threads
        raise MemoryError(f"cannot start the timer of the time limit ({exc})") from exc
    try:
        yield
    finally:
        with running:
            done = True
        timer.cancel()


def check_recording_directory(location: Location) -> None:
    """A local recording to read must be a directory that exists: say what it is otherwise."""
    root = Path(location.root)
    try:
        mode = root.stat().st_mode
    except FileNotFoundError:
        raise RecordingError(f"no recording at {location.display}: the directory does not exist") from None
    except OSError as exc:
        raise RecordingError(f"cannot open the recording {location.display}: {blocked(root, exc)}") from None
    if not stat.S_ISDIR(mode):
        raise RecordingError(f"{location.display} is a file, not a recording: a recording is a directory")


class QueryRefusedError(RecordingError):
    """A statement that would do more than read the recording."""


# table functions a query may call: they compute, they touch no file and no setting
SAFE_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "json_each", "json_tree"})
LEADING_EXPLAIN = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/)\s*)*EXPLAIN\b", re.IGNORECASE | re.DOTALL)
_parser: duckdb.DuckDBPyConnection | None = None
_parser_lock = threading.Lock()


def _parse_tree(sql: str) -> dict[str, Any]:
    """DuckDB's own parse tree of one SELECT statement (its JSON serialisation)."""
    global _parser
    with _parser_lock:
        if _parser is None:
            _parser = duckdb.connect(config={"enable_external_access": False})
        text = _parser.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0]
    return json.loads(text)


def _table_functions(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        if node.get("type") == "TABLE_FUNCTION":
            yield str((node.get("function") or {}).get("function_name", "?"))
        for value in node.values():
            yield from _table_functions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _table_functions(value)


def check_read_only(sql: str, what: str = "the query") -> dict[str, Any]:
    """Refuse anything but one SELECT statement (or EXPLAIN of one), checked on DuckDB's parse tree
    before DuckDB runs any of it; returns that tree (the SELECT's, for an EXPLAIN)."""
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise QueryRefusedError(f"{what} is not valid Unicode text ({exc.reason} at character {exc.start})") from exc
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefusedError(f"{what} is not valid SQL: {exc}") from exc
    if len(statements) != 1:
        raise QueryRefusedError(
            f"{what} holds {len(statements)} statements: taurl runs one read-only statement (SELECT) at a time"
        )
    kind = statements[0].type
    if kind is duckdb.StatementType.EXPLAIN:
        explain = LEADING_EXPLAIN.match(sql)
        inner = sql[explain.end() :] if explain else ""
        if re.match(r"\s*(?:\(|ANALY[SZ]E\b)", inner, re.IGNORECASE) or not inner.strip():
            raise QueryRefusedError(
                f"{what} is EXPLAIN with options or ANALYZE, which runs its statement: use plain EXPLAIN SELECT ..."
            )
        return check_read_only(inner, what)
    if kind is not duckdb.StatementType.SELECT:
        raise QueryRefusedError(
            f"{what} is a {kind.name} statement: recordings are read-only here; use SELECT "
            "(to export results, use --format csv or json and redirect the output)"
        )
    tree = _parse_tree(sql)
    if tree.get("error"):
        raise QueryRefusedError(
            f"{what} cannot be checked as a plain SELECT ({tree.get('error_message')}): write it as SELECT ... "
            "(PIVOT and UNPIVOT statements: use GROUP BY with FILTER, or the PIVOT clause inside a SELECT)"
        )
    refused = sorted({name for name in _table_functions(tree) if name.lower() not in SAFE_TABLE_FUNCTIONS})
    if refused:
        raise QueryRefusedError(
            f"{what} calls {', '.join(refused)}: queries read the recording's views (episodes, steps, tool_calls, "
            f"messages, model_calls, attempts, runs, rescores, train_steps, trajectories) and no files; allowed "
            f"table functions: {', '.join(sorted(SAFE_TABLE_FUNCTIONS))}"
        )
    return tree
