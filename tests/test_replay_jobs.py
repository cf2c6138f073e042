"""`taurl replay --jobs N` spreads the batches over N processes and says exactly what one process says."""

import json
import shutil
import subprocess
import sys

from taurl.episodes.config import RunConfig
from taurl.episodes.runner import execute
from tests.conftest import REPO


def replay(recording, jobs: int, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "taurl.cli", "replay", str(recording), "--format", "json"]
    return subprocess.run([*command, "--jobs", str(jobs), *extra], capture_output=True, text=True, cwd=REPO)


def test_two_processes_replay_exactly_what_one_does(tmp_path):
    recording = tmp_path / "recording"  # the golden segment and a segment per recorded run: several to stream
    shutil.copytree(REPO / "recordings", recording)
    for domain in ("retail", "healthcare"):
        execute(RunConfig(domain=domain, split="test", trials=2), recording)
    data = tmp_path / "retail"
    shutil.copytree(REPO / "taurl" / "domains" / "retail" / "data", data)
    orders = json.loads((data / "orders.json").read_text())
    for order in orders.values():  # every retail episode that reads an order now sees another status
        order["status"] = "CHANGED-" + order["status"]
    (data / "orders.json").write_text(json.dumps(orders))

    one = replay(recording, 1, "--data-dir", f"retail={data}")
    two = replay(recording, 2, "--data-dir", f"retail={data}")
    assert one.returncode == two.returncode == 1, one.stderr[-2000:] + two.stderr[-2000:]
    assert one.stdout == two.stdout
    results = json.loads(one.stdout)
    assert {r["domain"] for r in results} >= {"airline", "retail", "telecom", "healthcare", "doordash"}
    diverged = {r["domain"] for r in results if r["status"] == "diverged"}
    assert diverged == {"retail"}
    assert sum(r["status"] == "identical" for r in results) > len(results) // 2
