"""The README runs as written: every command block, in order, in a fresh clone of the committed tree.

Blocks whose first line is ``# needs: ...`` (a key, a GPU, a network install, data not in the
repository) and the ``make test``, ``make check`` and ``make bench`` lines (this suite; minutes of measurements) are
left out. The clone reuses the built
``.venv`` (its editable install is pointed at the clone by ``PYTHONPATH``; make is told the venv is
up to date, so nothing is installed into it) and sees ``../shared`` where this checkout does. The one
change to the text: serve-sim listens on a free port instead of 8765, which other processes on a
shared machine may hold.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess

import pytest

from tests.conftest import REPO, SHARED

BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)
NEEDS = "# needs:"


def runnable_blocks(readme: str) -> list[tuple[int, str]]:
    """(line number, text) of each block the README says runs here, ``make test``/``check``/``bench`` left out."""
    found = []
    for match in BLOCK.finditer(readme):
        text = match.group(1)
        if text.lstrip().startswith(NEEDS):
            continue
        kept = [line for line in text.splitlines() if not re.match(r"\s*make (test|check|bench)\b", line)]
        found.append((readme.count("\n", 0, match.start()) + 1, "\n".join(kept)))
    return found


def on_free_port(text: str) -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert "taurl serve-sim &" in text and "127.0.0.1:8765" in text
    return text.replace("taurl serve-sim &", f"taurl serve-sim --port {port} &").replace(
        "127.0.0.1:8765", f"127.0.0.1:{port}"
    )


def test_the_readme_marks_what_it_cannot_run_here():
    blocks = BLOCK.findall((REPO / "README.md").read_text())
    marked = [b for b in blocks if b.lstrip().startswith(NEEDS)]
    assert marked and len(marked) < len(blocks)
    for block in marked:  # a mark says why
        assert len(block.lstrip().splitlines()[0]) > len(NEEDS) + 3
    blocks = runnable_blocks((REPO / "README.md").read_text())
    commands = [line.split("#")[0].strip() for _, text in blocks for line in text.splitlines()]
    assert "make demo" in commands and "make test" not in commands and "make bench" not in commands


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout")
def test_every_readme_command_block_runs_in_a_fresh_clone(tmp_path):
    if not (REPO / ".venv" / "bin" / "taurl").exists():
        pytest.skip("no built .venv: make setup first")
    clone = tmp_path / "taurl"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    (clone / ".venv").symlink_to(REPO / ".venv")
    # the clone's pyproject.toml is older than the shared venv's stamp: make never reinstalls taurl into
    # the shared venv (that would point its editable install at this temporary clone)
    os.utime(clone / "pyproject.toml", (0, 0))
    if SHARED.exists():
        (tmp_path / "shared").symlink_to(SHARED)
    blocks = runnable_blocks((clone / "README.md").read_text())
    if not SHARED.exists():
        blocks = [(line, text) for line, text in blocks if "../shared" not in text]
    script = ["set -eo pipefail", "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT"]
    for line, text in blocks:
        script += [f"echo '>>> README.md line {line}' >&2", text]
    env = {
        **os.environ,
        "PYTHONPATH": str(clone),  # the clone's taurl, not the checkout the venv was installed from
        "HOME": str(tmp_path / "home"),  # what a block writes under ~ stays in the test
        "COLUMNS": "120",
    }
    done = subprocess.run(
        ["bash", "-c", on_free_port("\n".join(script))],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert done.returncode == 0, done.stderr[-4000:] + done.stdout[-2000:]
    assert (clone / "report.html").exists() and (clone / "results.json").exists()
    # .gitignore covers what the commands write (runs/, data/, report.html, results.json, .taurl/, locks ...) and
    # no command changes a tracked file; left: the test's link to the shared venv, and recordings/ as
    # tools/make_golden_recordings.py writes it again (new segments, the old ones deleted)
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True)
    changed = [line for line in status.stdout.splitlines() if line != "?? .venv"]
    assert [line for line in changed if not line[3:].startswith("recordings/")] == [], status.stdout
    installed = subprocess.run(
        [str(REPO / ".venv" / "bin" / "python"), "-I", "-c", "import taurl; print(taurl.__file__)"],  # -I: no cwd
        capture_output=True,
        text=True,
    )
    assert installed.stdout.strip() == str(REPO / "taurl" / "__init__.py")  # the shared venv is untouched
