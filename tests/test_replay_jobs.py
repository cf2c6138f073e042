"""`taurl replay --jobs N` spreads the batches over N processes and says exactly what one process says."""

import dataclasses
import json
import shutil
import subprocess

from taurl.episodes.config import RunConfig
from taurl.episodes.runner import execute
from taurl.record.store import RecordingStore
from taurl.review import replay as replay_module
from taurl.review.replay import Replayer
from tests.conftest import REPO, taurl


def replay(recording, jobs: int, *extra: str) -> subprocess.CompletedProcess:
    return taurl("replay", str(recording), "--format", "json", "--jobs", str(jobs), *extra)


def recorded(tmp_path):
    recording = tmp_path / "recording"  # the golden segment and a segment per recorded run: several to stream
    shutil.copytree(REPO / "recordings", recording)
    for domain in ("retail", "healthcare"):
        execute(RunConfig(domain=domain, split="test", trials=2), recording)
    return recording


def test_two_processes_replay_exactly_what_one_does(tmp_path):
    recording = recorded(tmp_path)
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


def test_workers_started_apart_from_the_reading_process_replay_what_it_would(tmp_path, monkeypatch):
    recording = recorded(tmp_path)
    alone = [r.to_dict() for r in Replayer(RecordingStore(recording)).replay_all(jobs=1)]
    monkeypatch.setattr(replay_module, "BATCH_ROWS", 16)  # many batches
    start_pool = replay_module._start_pool

    def started(jobs, settings):  # the worker is up before the first batch: it gets batches from the start
        pool = start_pool(jobs, settings)
        pool.result()
        return pool

    monkeypatch.setattr(replay_module, "_start_pool", started)
    replay = Replayer.replay
    # what this process replays is marked; a worker forked from it would inherit the mark, one started apart does not
    monkeypatch.setattr(Replayer, "replay", lambda self, row: dataclasses.replace(replay(self, row), run_id="here"))
    spread = [r.to_dict() for r in Replayer(RecordingStore(recording)).replay_all(jobs=2)]
    assert [{**r, "run_id": a["run_id"]} for r, a in zip(spread, alone, strict=True)] == alone
    assert any(r["run_id"] != "here" for r in spread)  # the worker's, at least the first batch
    assert len(alone) > 16 * 4
