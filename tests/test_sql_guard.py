"""`taurl sql` cannot write: every write path DuckDB has is tried through the real CLI and every byte
of the recording (and of the working directory's ./.tmp) is checked afterwards."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from taurl.cli import app
from taurl.record.segments import SkippedSegmentWarning
from tests.conftest import TAURL


def invoke(*args: str):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, list(args))


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links not followed) and its content's hash."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "link"
        for p in sorted(root.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    rec = tmp_path_factory.mktemp("guard") / "rec"
    result = invoke("run", "--domain", "airline", "--split", "test", "--end-index", "6", "--recording", str(rec))
    assert result.exit_code == 0, result.output
    return rec


def attacks(segment: str, outside: str) -> list[str]:
    return [
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{segment}' (FORMAT csv, USE_TMP_FILE false)",
        f"explain analyze copy (select 1 as x) to '{segment}' (format parquet)",
        f"/* hidden */ EXPLAIN /* again */ ANALYZE COPY (SELECT 1) TO '{segment}'",
        f"EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{segment}'",
        f"EXPLAIN (FORMAT json) COPY (SELECT 1) TO '{segment}'",
        f"EXPLAIN COPY (SELECT 1) TO '{segment}'",
        f"COPY (SELECT 1 AS x) TO '{segment}' (FORMAT csv, USE_TMP_FILE false)",
        f"COPY episodes TO '{outside}' (FORMAT parquet)",
        f"SELECT 1; COPY (SELECT 1) TO '{segment}'",
        f"WITH t AS (SELECT 1) COPY t TO '{segment}'",
        f"EXPORT DATABASE '{outside}'",
        f"ATTACH '{outside}.db' AS other",
        f"ATTACH '{segment}' AS other (TYPE sqlite)",
        "INSTALL httpfs",
        "LOAD httpfs",
        f"SET allowed_paths = ['{outside}']",
        "SET enable_external_access = true",
        f"SET temp_directory = '{outside}'",
        f"SET profiling_output = '{segment}'",
        "PRAGMA enable_profiling = 'json'; SELECT 1",
        f"PRAGMA profiling_output = '{segment}'",
        "CALL checkpoint()",
        "CHECKPOINT",
        "VACUUM",
        "CREATE TABLE t AS SELECT 1",
        "CREATE OR REPLACE VIEW episodes AS SELECT 1 AS reward",
        "INSERT INTO episodes SELECT * FROM episodes",
        "DELETE FROM episodes",
        "DROP VIEW episodes",
        "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 'v')",
        f"SELECT * FROM query('COPY (SELECT 1) TO ''{segment}''')",
        "SELECT * FROM query_table('episodes')",
        f"SELECT * FROM read_csv('{segment}')",
        f"SELECT * FROM read_text('{outside}')",
        f"SELECT * FROM read_parquet('{segment}')",
        "SELECT * FROM glob('*')",
        f"SELECT (SELECT count(*) FROM read_blob('{segment}'))",
        "SELECT * FROM checkpoint()",
        "SELECT * FROM duckdb_secrets()",
        "PIVOT episodes ON domain USING count(*)",
        "USE memory",
        "DETACH memory",
    ]


@pytest.mark.slow
def test_no_query_writes_anything(recording: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()  # DuckDB's default spill directory, where a write once landed
    segment = str(next(recording.glob("episodes-*.parquet")))
    outside = str(tmp_path / ".tmp" / "written")
    before = snapshot(recording)
    for sql in attacks(segment, outside):
        result = invoke("sql", "--recording", str(recording), sql)
        assert result.exit_code != 0, (sql, result.output)
        assert "Traceback" not in result.output, sql
        assert snapshot(recording) == before, sql
        assert list((tmp_path / ".tmp").iterdir()) == [], sql
        assert not Path(outside + ".db").exists(), sql
    # the store still answers, and a plain EXPLAIN is allowed
    assert invoke("sql", "--recording", str(recording), "SELECT count(*) AS n FROM episodes").exit_code == 0
    assert invoke("sql", "--recording", str(recording), "EXPLAIN SELECT count(*) FROM episodes").exit_code == 0
    assert invoke("replay", str(recording)).exit_code == 0


def test_the_reported_attack_through_the_real_cli(recording: Path, tmp_path: Path):
    segment = str(next(recording.glob("episodes-*.parquet")))
    before = snapshot(recording)
    sql = f"EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{segment}' (FORMAT csv, USE_TMP_FILE false)"
    done = subprocess.run([*TAURL, "sql", "--recording", str(recording), sql], capture_output=True, text=True)
    assert done.returncode == 2
    assert "ANALYZE" in done.stderr and "Traceback" not in done.stderr
    assert snapshot(recording) == before


def test_where_clauses_are_checked_too(recording: Path):
    before = snapshot(recording)
    segment = str(next(recording.glob("episodes-*.parquet")))
    for where in (
        f"task_id IN (SELECT content FROM read_text('{segment}'))",
        "TRUE) UNION ALL (SELECT * FROM episodes_full",
        f"TRUE; COPY (SELECT 1) TO '{segment}'",
    ):
        result = invoke("replay", str(recording), "--where", where)
        assert result.exit_code != 0, (where, result.output)
    assert snapshot(recording) == before


def test_a_symlinked_segment_is_not_read(recording: Path, tmp_path: Path):
    other = tmp_path / "other"
    done = invoke("run", "--domain", "retail", "--split", "test", "--end-index", "2", "--recording", str(other))
    assert done.exit_code == 0, done.output
    rec = tmp_path / "rec"
    rec.mkdir()
    for segment in recording.glob("*.parquet"):
        (rec / segment.name).write_bytes(segment.read_bytes())
    foreign = next(other.glob("episodes-*.parquet"))
    (rec / "episodes-planted-000000.parquet").symlink_to(foreign)
    with pytest.warns(SkippedSegmentWarning, match="symbolic link"):
        result = invoke("sql", "--recording", str(rec), "SELECT DISTINCT domain FROM episodes")
    assert result.exit_code == 0, result.output
    assert "retail" not in result.stdout and "airline" in result.stdout


def test_replay_of_an_empty_recording_fails(tmp_path: Path, recording: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = invoke("replay", str(empty))
    assert result.exit_code == 1
    assert "nothing to replay" in result.output
    result = invoke("replay", str(recording), "--where", "domain = 'nowhere'")
    assert result.exit_code == 1
    assert "nothing to replay" in result.output
