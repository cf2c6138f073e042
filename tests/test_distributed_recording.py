"""Recording from several processes: Ray worker processes, and an S3-compatible object store."""

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from taurl.record.store import RecordingStore

pytestmark = pytest.mark.slow


def _episode_rows(task_slice, trial_base, run_id):
    from taurl.agent.oracle import OracleAgent
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.record.schema import episode_row
    from taurl.registry import get_domain
    from taurl.users.scripted import ScriptedUser

    tasks = get_domain("retail").tasks("train")[task_slice]
    for i, task in enumerate(tasks):
        result = run_episode(EpisodeSpec(task, trial_base + i), OracleAgent(), ScriptedUser(), RolloutConfig())
        yield episode_row(result, run_id, "oracle", "scripted")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        ignore_reinit_error=True,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.getcwd()}},
    )
    yield ray
    ray.shutdown()


def test_ray_workers_record_into_one_directory_exactly_once(tmp_path, ray_local):
    ray = ray_local
    rec = str(tmp_path / "rec")

    @ray.remote
    def worker(index: int) -> tuple[int, int]:
        from taurl.record.writer import RecordingWriter

        writer = RecordingWriter(rec, flush_every=3)
        count = 0
        for row in _episode_rows(slice(index * 10, index * 10 + 10), index * 100, "ray-run"):
            writer.add(row)
            count += 1
        writer.close()
        return os.getpid(), count

    results = ray.get([worker.remote(i) for i in range(4)])
    assert sum(count for _, count in results) == 40
    assert len({pid for pid, _ in results}) >= 2, "episodes must come from several worker processes"
    _, rows = RecordingStore(rec).query("SELECT count(*), count(DISTINCT episode_id) FROM episodes")
    assert rows == [(40, 40)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_server(monkeypatch):
    """moto's S3-compatible server on 127.0.0.1, started and stopped by the test."""
    pytest.importorskip("moto")
    if shutil.which("moto_server") is None and not os.path.exists(
        os.path.join(os.path.dirname(sys.executable), "moto_server")
    ):
        pytest.skip("moto_server is not installed")
    port = _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    process = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    import boto3

    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").create_bucket(Bucket="recs")
    yield f"s3://recs/run1?endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    process.terminate()
    process.wait(10)


def test_recording_to_an_object_store_and_querying_it(s3_server):
    from taurl.record.compact import compact
    from taurl.record.lock import RecordingLockedError
    from taurl.record.writer import RecordingWriter

    with RecordingWriter(s3_server) as writer:
        writer.write_run("s3-run", {"where": "object store"})
        for row in _episode_rows(slice(0, 5), 0, "s3-run"):
            writer.add(row)
    store = RecordingStore(s3_server)
    assert store.query("SELECT count(*), count(DISTINCT episode_id), min(reward) FROM episodes")[1] == [(5, 5, 1.0)]
    assert store.query("SELECT count(*) > 0 FROM messages")[1] == [(True,)]
    assert store.query("SELECT run_id FROM runs")[1] == [("s3-run",)]
    with pytest.raises(RecordingLockedError, match="object stores offer taurl no atomic lock.*--unlocked"):
        compact(s3_server)
    result = compact(s3_server, unlocked=True)
    assert (result.segments_before, result.episodes) == (5, 5)
    assert RecordingStore(s3_server).query("SELECT count(*) FROM episodes")[1] == [(5,)]


def test_credentials_in_an_object_store_uri_are_refused():
    from taurl.record.location import RecordingLocationError, resolve

    with pytest.raises(RecordingLocationError, match="environment"):
        resolve("s3://bucket/x?access_key=AKIA&secret_key=shh")


def test_a_spend_budget_is_shared_by_ray_workers(ray_local):
    """Two worker processes share one token budget through a named Ray actor."""
    from taurl.sim.server import SimServer

    ray = ray_local
    with SimServer() as server:

        @ray.remote
        def spend(base_url: str, worker: int) -> int:
            from taurl.llm.cache import CacheMode
            from taurl.llm.client import BudgetExceededError, ChatClient, ClientLimits, RetryPolicy, reservation

            limits = ClientLimits(max_total_tokens=400, ledger="ray:test-shared-budget")
            client = ChatClient(
                "sim-user",
                base_url,
                mode=CacheMode.OFF,
                limits=limits,
                retry=RetryPolicy(attempts=1),
                params={"max_tokens": 16},
            )
            for sent in range(200):
                messages = [{"role": "user", "content": f"worker {worker} message {sent} " + "x" * 80}]
                try:
                    client.complete(messages)
                except BudgetExceededError:
                    return sent, reservation(client.request(messages))[0]
            raise AssertionError("the budget never ran out")

        results = ray.get([spend.remote(server.base_url, w) for w in range(2)])
        served = server.stats()["requests"]
    assert all(sent > 0 for sent, _ in results) and sum(sent for sent, _ in results) == served
    ledger = ray.get_actor("test-shared-budget", namespace="taurl")
    tokens, _ = ray.get(ledger.spent.remote())
    assert ray.get(ledger.reserved.remote()) == (0, 0.0)
    # reservations (max_tokens, prompt bytes / 3) are upper bounds, so the budget is never passed; each
    # worker stopped only when its next call could not fit even with nothing in flight
    assert 400 - min(refused for _, refused in results) < tokens <= 400
