"""The store: DuckDB views over a recording's segments.

Views: ``episodes`` (one row per episode), ``messages``, ``steps``, ``tool_calls`` (steps that called
a tool), ``model_calls`` (unnested from the episode rows), ``runs`` and ``rescores``. A segment whose footer cannot be read (a file cut
short by a crash, say) is named in a warning and skipped, never read in part; segments that a
compacted segment replaces are skipped too.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from taurl.record.location import Location, resolve
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
)

REPLACES_KEY = b"taurl.replaces"
KINDS = {
    "episodes": (EPISODE_PREFIX, EPISODE_SCHEMA),
    "runs": (RUN_PREFIX, RUN_SCHEMA),
    "rescores": (RESCORE_PREFIX, RESCORE_SCHEMA),
}
ID_COLUMNS = "episode_id, run_id, domain, task_id, trial"


class RecordingError(ValueError):
    """A recording that cannot be read; says which file and what to do."""


class SkippedSegmentWarning(UserWarning):
    pass


@dataclass
class Segments:
    location: Location
    files: dict[str, list[str]] = field(default_factory=dict)  # kind -> readable file paths
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def scan(location: Location) -> Segments:
    """Readable segments by kind, with the unreadable ones and the reason each was skipped."""
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
        try:
            metadata = pq.read_metadata(path, filesystem=location.fs)
        except Exception as exc:  # truncated or corrupt: pyarrow says why
            result.skipped.append((path, f"unreadable Parquet footer ({exc})"))
            continue
        schema_meta = metadata.schema.to_arrow_schema().metadata or {}
        version = int(schema_meta.get(b"taurl.schema_version", SCHEMA_VERSION))
        if version > SCHEMA_VERSION:
            raise RecordingError(
                f"{path} was written with recording schema {version}; this taurl reads up to {SCHEMA_VERSION}: upgrade taurl"
            )
        if REPLACES_KEY in schema_meta:
            replaced.update(json.loads(schema_meta[REPLACES_KEY]))
        found[kind].append(path)
    for kind, paths in found.items():
        result.files[kind] = [p for p in paths if p.rsplit("/", 1)[-1] not in replaced]
    return result


def duckdb_type(dtype: pa.DataType) -> str:
    """DuckDB's name for an Arrow type of the recording schema."""
    if pa.types.is_list(dtype):
        return f"{duckdb_type(dtype.value_type)}[]"
    if pa.types.is_struct(dtype):
        return "STRUCT(" + ", ".join(f"{f.name} {duckdb_type(f.type)}" for f in dtype) + ")"
    names = {
        pa.string(): "VARCHAR",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
    }
    return names[dtype]


class RecordingStore:
    """SQL over one or more recordings. ``locations``: local directories or object-store URIs."""

    def __init__(self, locations: Iterable[str | Path] | str | Path):
        if isinstance(locations, (str, Path)):
            locations = [locations]
        self.locations = [resolve(loc) for loc in locations]
        for loc in self.locations:
            if loc.is_local and not Path(loc.root).is_dir():
                raise RecordingError(f"no recording at {loc.display}: the directory does not exist")
        self.segments = [scan(loc) for loc in self.locations]
        for seg in self.segments:
            for path, reason in seg.skipped:
                warnings.warn(f"skipping segment {path}: {reason}", SkippedSegmentWarning, stacklevel=2)
        self._con: duckdb.DuckDBPyConnection | None = None

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [s for seg in self.segments for s in seg.skipped]

    def files(self, kind: str) -> list[tuple[Location, str]]:
        return [(seg.location, path) for seg in self.segments for path in seg.files[kind]]

    def connect(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            con = duckdb.connect()
            for kind, (_, schema) in KINDS.items():
                self._register_raw(con, f"{kind}_raw", kind, schema)
            scalars = ", ".join(name for name, _ in SCALARS)
            con.execute(f"CREATE VIEW episodes AS SELECT {scalars} FROM episodes_raw")
            for column, view in NESTED_VIEWS.items():
                con.execute(
                    f"CREATE VIEW {view} AS SELECT {ID_COLUMNS}, UNNEST({column}, recursive := true) FROM episodes_raw"
                )
            con.execute(
                "CREATE VIEW tool_calls AS SELECT * FROM steps WHERE name NOT IN ('respond', '__parse_error__')"
            )
            con.execute("CREATE VIEW runs AS SELECT * FROM runs_raw")
            con.execute("CREATE VIEW rescores AS SELECT * FROM rescores_raw")
            self._con = con
        return self._con

    def _register_raw(self, con: duckdb.DuckDBPyConnection, view: str, kind: str, schema: pa.Schema) -> None:
        files = self.files(kind)
        local = [path for loc, path in files if loc.is_local]
        remote = [(loc, path) for loc, path in files if not loc.is_local]
        parts = []
        if local:
            listing = ", ".join("'" + p.replace("'", "''") + "'" for p in local)
            parts.append(f"SELECT * FROM read_parquet([{listing}], union_by_name = true)")
        for index, (loc, path) in enumerate(remote):
            import pyarrow.dataset as pads  # only object stores need it, and it costs ~0.4 s to import

            dataset = pads.dataset([path], filesystem=loc.fs, format="parquet", schema=schema)
            con.register(f"_{view}_remote_{index}", dataset)
            parts.append(f"SELECT * FROM _{view}_remote_{index}")
        if not parts:  # typed and empty, in SQL: registering an Arrow table would import pandas (~0.3 s)
            columns = ", ".join(f"NULL::{duckdb_type(f.type)} AS {f.name}" for f in schema)
            parts.append(f"SELECT {columns} WHERE FALSE")
        con.execute(f"CREATE VIEW {view} AS " + " UNION ALL BY NAME ".join(parts))

    def query(self, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        try:
            cursor = self.connect().execute(sql, params or [])
        except duckdb.Error as exc:
            raise RecordingError(f"query failed: {exc}") from exc
        columns = [d[0] for d in cursor.description] if cursor.description else []
        return columns, cursor.fetchall()

    def arrow(self, sql: str) -> pa.Table:
        return self.connect().sql(sql).to_arrow_table()

    def episode_rows(self, where: str = "TRUE") -> list[dict[str, Any]]:
        """Whole episode rows (nested lists included) as Python dicts."""
        sql = f"SELECT * FROM episodes_raw WHERE {where} ORDER BY domain, task_id, trial, run_id"
        try:
            return self.connect().sql(sql).to_arrow_table().to_pylist()
        except duckdb.Error as exc:
            raise RecordingError(f"cannot read episodes ({where}): {exc}") from exc

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None
