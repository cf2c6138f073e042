"""Every command that reads or writes a path, through the real CLI, given a path it cannot use: under a
regular file, on a read-only file system, on a full disk, through a symbolic link loop, or with rich
markup (`[/]`) in it. Each ends with one line on stderr naming the path and the cause, exit non-zero,
no traceback, and nothing partial written; a markup-like path that can be written simply works.

The read-only and full file systems are small tmpfs mounts (the tests run as root, for whom permission
bits do not stop a write); where `mount` is refused those cases skip, saying so."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from taurl.registry import get_domain
from tests.conftest import REPO
from tests.conftest import taurl as run_taurl

RETAIL_DATA = str(get_domain("retail").builtin_data_dir)


def taurl(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return run_taurl(*args, cwd=cwd, env={"OPENAI_API_KEY": "not-used"})


def mount_tmpfs(where: Path, size: str) -> str | None:
    where.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return None if made.returncode == 0 else (made.stderr.decode().strip() or "mount failed")


def files(root: Path) -> dict[str, int]:
    """Every file under ``root`` and its size, the recordings' lock files aside (a lock is taken, never
    written as output, and the kernel releases it)."""
    found = {}
    for path in root.rglob("*"):
        if path.is_file() and ".locks" not in path.parts:
            found[str(path.relative_to(root))] = path.stat().st_size
    return found


class World:
    """A recording made by `taurl run`, its τ-bench export, and one directory per kind of bad path."""

    def __init__(self, base: Path):
        self.base = base
        self.mounts: list[Path] = []
        try:
            self._make()
        except BaseException:
            self.close()
            raise

    def _make(self) -> None:
        base = self.base
        self.recording = base / "rec"
        made = taurl("run", "--domain", "retail", "--end-index", "2", "--recording", self.recording)
        assert made.returncode == 0, made.stderr
        self.results = base / "results.json"
        exported = taurl("export", "tau-bench", self.recording, "--out", self.results)
        assert exported.returncode == 0, exported.stderr
        self.episode = taurl("sql", self.recording, "--format", "csv", "SELECT episode_id FROM episodes LIMIT 1")
        self.episode_id = self.episode.stdout.split()[1]
        (base / "afile").write_text("a regular file\n")
        (base / "loop").symlink_to("loop")
        self.skips: dict[str, str] = {}
        self.read_only = base / "ro"
        if problem := mount_tmpfs(self.read_only, "4m"):
            self.skips["read-only"] = f"cannot mount a tmpfs here: {problem}"
        else:
            self.mounts.append(self.read_only)
            shutil.copytree(self.recording, self.read_only / "rec")
            subprocess.run(["mount", "-o", "remount,ro", str(self.read_only)], check=True)
        self.full = base / "full"
        if problem := mount_tmpfs(self.full, "512k"):
            self.skips["full disk"] = f"cannot mount a tmpfs here: {problem}"
        else:
            self.mounts.append(self.full)
            shutil.copytree(self.recording, self.full / "rec")
            filler = os.open(self.full / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(filler, b"\0" * 4096):
                    pass
            except OSError:  # full
                pass
            finally:
                os.close(filler)

    def case_root(self, case: str) -> Path:
        if case in self.skips:
            pytest.skip(self.skips[case])
        return {
            "under a file": self.base / "afile",
            "read-only": self.read_only,
            "full disk": self.full,
            "symlink loop": self.base / "loop",
            "markup": self.base / "a[",
        }[case]

    def close(self) -> None:
        for mount in self.mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    made = World(tmp_path_factory.mktemp("paths"))
    yield made
    made.close()


FAILING = ["under a file", "read-only", "full disk", "symlink loop"]
CAUSES = {
    "under a file": "afile is a file, not a directory",
    "read-only": "Read-only file system",
    "full disk": "No space left on device",
    "symlink loop": "symbolic link loop",
}


def writers(world: World, out: Path) -> dict[str, list[str | Path]]:
    """Commands that write something new at ``out``."""
    return {
        "run": ["run", "--domain", "retail", "--end-index", "1", "--recording", out / "rec"],
        "report": ["report", world.recording, "--out", out / "report.html"],
        "export tau-bench": ["export", "tau-bench", world.recording, "--out", out / "results.json"],
        "compact --duckdb": ["compact", world.recording, "--duckdb", out / "rec.duckdb"],
        "data convert": ["data", "convert", "--domain", "retail", "--split", "test", "--out", out / "data"],
        "import tau-bench": [
            "import",
            "tau-bench",
            world.results,
            "--domain",
            "retail",
            "--data-dir",
            RETAIL_DATA,
            "--recording",
            out / "rec",
        ],  # fmt: skip
        "import tau2": ["import", "tau2", world.results, "--recording", out / "rec"],
    }


def maintainers(recording: Path) -> dict[str, list[str | Path]]:
    """Commands that store their results in an existing recording."""
    return {
        "compact": ["compact", recording],
        "rescore": ["rescore", recording, "--basis", "actions"],
        "judge": ["judge", recording, "--judge-model", "m", "--judge-base-url", "http://127.0.0.1:9/v1"],
    }


def readers(world: World, recording: Path, scratch: Path) -> dict[str, list[str | Path]]:
    return {
        "sql": ["sql", recording, "SELECT count(*) AS n FROM episodes"],
        "replay": ["replay", recording],
        "report": ["report", recording, "--out", scratch / "report.html"],
        "show": ["show", world.episode_id, recording],
        "export tau-bench": ["export", "tau-bench", recording, "--out", scratch / "results.json"],
    }


def assert_one_line_error(done: subprocess.CompletedProcess, *expected: str) -> None:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    for text in expected:
        assert text in lines[0], (text, lines[0])


WRITERS = ["run", "report", "export tau-bench", "compact --duckdb", "data convert", "import tau-bench", "import tau2"]


@pytest.mark.slow
@pytest.mark.parametrize("case", FAILING)
@pytest.mark.parametrize("command", WRITERS)
def test_a_new_output_at_a_path_that_cannot_be_written(world, case, command):
    root = world.case_root(case)
    if (case, command) == ("full disk", "import tau2"):
        pytest.skip("past the path checks it reads a τ² results file, which needs τ² installed (.venv-tau2)")
    out = root / "out"
    watched = world.base if case in ("under a file", "symlink loop") else root
    before = files(watched)
    done = taurl(*writers(world, out)[command])
    assert_one_line_error(done, CAUSES[case])
    assert str(out.relative_to(world.base)).split("/")[0] in done.stderr  # names the path
    assert files(watched) == before  # nothing partial, no temporary file left
    if case == "full disk":
        assert not (out / "data").exists()


@pytest.mark.parametrize("case", ["read-only", "full disk"])
@pytest.mark.parametrize("command", ["compact", "rescore", "judge"])
def test_storing_into_a_recording_that_cannot_take_it(world, case, command):
    root = world.case_root(case)
    before = files(root)
    done = taurl(*maintainers(root / "rec")[command])
    if (case, command) == ("full disk", "judge"):  # an all-passing recording gives the judge nothing to store
        assert done.returncode == 0, done.stderr
    else:
        assert_one_line_error(done, str(root / "rec"), CAUSES[case])
    assert files(root) == before


@pytest.mark.parametrize("case", ["under a file", "symlink loop"])
@pytest.mark.parametrize("command", ["compact", "rescore", "judge", "sql", "replay", "report", "show", "export"])
def test_a_recording_path_that_cannot_be_a_directory(world, case, command, tmp_path):
    recording = world.case_root(case) / "rec"
    every = {**maintainers(recording), **readers(world, recording, tmp_path)}
    args = every[command if command != "export" else "export tau-bench"]
    before = files(world.base)
    done = taurl(*args)
    assert_one_line_error(done, CAUSES[case])
    assert files(world.base) == before and not list(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["sql", "replay", "report", "show", "export tau-bench"])
def test_a_read_only_recording_still_reads(world, command, tmp_path):
    root = world.case_root("read-only")
    done = taurl(*readers(world, root / "rec", tmp_path)[command])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [c for c in WRITERS if c != "import tau2"])
def test_a_markup_like_path_is_just_a_path(world, command):
    """`[/]` is rich's closing tag: it must reach the file system, and the terminal, as written."""
    out = world.case_root("markup") / "]out"  # the path holds `a[/]out`
    done = taurl(*writers(world, out)[command])
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    written = writers(world, out)[command][-1]
    assert Path(written).exists(), written
    if command != "import tau-bench":
        assert "a[/]out" in done.stdout.replace("\n", "")


@pytest.mark.parametrize("command", ["compact", "rescore", "judge", "sql", "replay", "report", "show", "export"])
def test_a_missing_markup_like_recording_is_named_as_written(world, command, tmp_path):
    recording = world.base / "no[/]such"
    every = {**maintainers(recording), **readers(world, recording, tmp_path)}
    done = taurl(*every[command if command != "export" else "export tau-bench"])
    assert_one_line_error(done, f"no recording at {recording}: the directory does not exist")


def test_a_run_id_is_a_name_not_a_path(tmp_path):
    from taurl.record.writer import RecordingWriter, check_run_id

    for bad in ("../../x", "a/b", "", ".hidden", "a b", "it's", "x" * 201):
        with pytest.raises(ValueError, match="letters .* digits, '.', '_', '-' and ':'"):
            check_run_id(bad)
    for good in ("sim", "retail-oracle-scripted-c3cf1e28", "tau2:airline-1", "a.b_c"):
        assert check_run_id(good) == good
    # whatever id reaches the writer, its segment stays inside the recording
    rec = tmp_path / "deep" / "rec"
    RecordingWriter(rec).write_run("../../x", {"domain": "retail"})
    assert [p.parent for p in tmp_path.rglob("*.parquet")] == [rec]


def test_run_refuses_a_run_id_that_is_a_path_before_anything_runs(tmp_path):
    done = taurl(
        "run", "--domain", "retail", "--end-index", "1", "--recording", tmp_path / "rec", "--run-id", "../../x"
    )
    assert_one_line_error(done, "run id '../../x' is not allowed")
    assert not (tmp_path / "rec").exists()


def test_a_killed_compaction_leaves_no_temporary_file_for_long(tmp_path):
    from taurl.record.compact import compact
    from taurl.record.schema import TEMP_PREFIX
    from tests.test_chaos import write_segments

    rec = tmp_path / "rec"
    write_segments(rec, 3)
    orphan = rec / f"{TEMP_PREFIX}episodes-compacted-0123456789ab.parquet"  # what a SIGKILL mid-write leaves
    orphan.write_bytes(b"PAR1 half a segment")
    writers = rec / f"{TEMP_PREFIX}episodes-{socket.gethostname()}-{os.getpid()}-abcd-000001.parquet"
    writers.write_bytes(b"a live writer's segment in progress")
    result = compact(rec)
    assert result.episodes == 3 and not orphan.exists()
    assert writers.exists()  # a writer's temporary file is its own (this process is alive)
