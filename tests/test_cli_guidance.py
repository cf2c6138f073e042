"""The CLI guides: preflight before any episode, progress that reports, episode ids to follow up
with `taurl show` (prefix or RUN/TASK/TRIAL, database diff, unfinished episodes), task slices and
"did you mean" for what was mistyped."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from taurl.episodes.config import Endpoint, RunConfig
from taurl.episodes.runner import execute
from taurl.llm.cache import CacheMode
from taurl.llm.client import RetryPolicy
from taurl.llm.preflight import PreflightError, preflight
from taurl.record.store import RecordingStore
from taurl.sim.server import SimServer
from tests.conftest import TAURL
from tests.conftest import taurl as run_taurl


def taurl(*args: str):
    """The CLI in this process (the consoles wrap at 80 columns: compare with :func:`flat`)."""
    from typer.testing import CliRunner

    from taurl.cli import app

    return CliRunner().invoke(app, list(args))


def flat(text: str) -> str:
    """The words of ``text`` on one line, without the panels' borders."""
    return " ".join(text.replace("│", " ").split())


@pytest.fixture(scope="module")
def sim():
    with SimServer() as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def agent_run(base_url: str, model: str = "sim-agent", *extra: str) -> tuple[str, ...]:
    return (
        "run",
        "--domain",
        "retail",
        "--agent",
        "tool-calling",
        "--agent-model",
        model,
        "--agent-base-url",
        base_url,
        *extra,
    )


# ---------------------------------------------------------------- preflight


def test_a_missing_key_fails_at_once_naming_the_variable_and_runs_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    recording = tmp_path / "rec"
    result = taurl("run", "--agent", "tool-calling", "--agent-model", "gpt-4o", "--recording", str(recording))
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert "the agent model 'gpt-4o' on api.openai.com needs an API key" in message
    assert "OPENAI_API_KEY is not set" in message and "--cache-mode replay" in message
    assert message.count("error:") == 1 and not recording.exists()  # one message, nothing attempted


def test_an_unreachable_endpoint_fails_in_about_a_second(tmp_path, closed_port):
    url = f"http://127.0.0.1:{closed_port}/v1"
    config = RunConfig(agent="tool-calling", agent_endpoint=Endpoint("sim-agent", url))
    start = time.perf_counter()
    with pytest.raises(PreflightError, match=rf"cannot reach {re.escape(url)} \(Connection refused\)"):
        preflight(config)
    assert time.perf_counter() - start < 1.0  # was 16 s of retries per task

    recording = tmp_path / "rec"
    result = taurl(*agent_run(url, "sim-agent", "--recording", str(recording)))
    assert result.exit_code == 2 and "--agent-base-url" in flat(result.stderr) and not recording.exists()


def test_an_unknown_model_is_named_with_the_nearest_served_one(tmp_path, sim):
    result = taurl(*agent_run(sim.base_url, "sim-agnt", "--recording", str(tmp_path / "rec")))
    assert result.exit_code == 2
    message = flat(result.stderr)
    assert f"{sim.base_url} does not serve the agent model 'sim-agnt': did you mean 'sim-agent'?" in message
    assert "Fix --agent-model" in message
    assert sim.stats()["requests"] == 0  # no chat completion was attempted


def test_preflight_passes_for_served_models_and_checks_nothing_in_replay_mode(closed_port, sim):
    served = Endpoint("sim-agent", sim.base_url)
    preflight(
        RunConfig(
            agent="tool-calling", agent_endpoint=served, user="llm", user_endpoint=Endpoint("sim-user", sim.base_url)
        )
    )
    gone = Endpoint("sim-agent", f"http://127.0.0.1:{closed_port}/v1")
    preflight(RunConfig(agent="tool-calling", agent_endpoint=gone, cache_mode=CacheMode.REPLAY))
    preflight(RunConfig(agent="oracle", user="scripted", user_endpoint=gone))  # neither calls a model


# ---------------------------------------------------------------- progress and episode ids


def test_progress_goes_to_a_log_as_plain_lines_and_the_table_shows_episode_ids(tmp_path):
    recording = tmp_path / "rec"
    args = ["run", "--domain", "retail", "--start-index", "0", "--end-index", "10", "--recording", str(recording)]
    result = run_taurl(*args, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("retail/test: ")]
    assert [line.split()[1] for line in lines] == [f"{n}/10" for n in range(1, 11)]  # each tenth
    assert "eta" in lines[0] and "mean reward 1.000, pass 100%" in lines[-1]
    store = RecordingStore(recording)
    _, rows = store.query("SELECT episode_id, task_id FROM episodes")
    store.close()
    assert len(rows) == 10
    for episode_id, task_id in rows:
        assert re.search(rf"^\s*{episode_id[:8]}\s+{task_id}\s", result.stdout, re.MULTILINE), result.stdout


# ---------------------------------------------------------------- show


@pytest.fixture(scope="module")
def mixed_recording(tmp_path_factory, sim):
    """One run with a finished episode whose database differs from gold, and one that errored."""
    recording = tmp_path_factory.mktemp("mixed") / "rec"
    fast = RetryPolicy(attempts=1, initial_delay=0.01, max_delay=0.01, timeout=2.0)
    config = RunConfig(domain="retail", task_ids=["retail-test-004"], agent="silent", cache_mode=CacheMode.OFF)
    execute(config, recording, "silent-run")
    broken = RunConfig(
        domain="retail",
        task_ids=["retail-test-001"],
        agent="tool-calling",
        agent_endpoint=Endpoint("sim-no-such-model", sim.base_url),
        cache_mode=CacheMode.OFF,
        retry=fast,
    )
    execute(broken, recording, "broken-run")
    return recording


def test_show_by_run_task_trial_names_each_differing_field(mixed_recording):
    result = taurl("show", "silent-run/retail-test-004/0", "--recording", str(mixed_recording))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "silent-run" in out and "db match  no" in out
    assert "where the final state differs from the gold one" in out
    assert re.search(r"^\W*(orders|users)\s+\S+\s+[\w.\[\]]+\s+\S", out, re.MULTILINE), out  # table, record, field


def test_show_of_an_errored_episode_says_how_it_ended_and_why(mixed_recording):
    result = taurl("show", "broken-run/retail-test-001", "--recording", str(mixed_recording))
    assert result.exit_code == 0, result.stderr
    out = flat(result.stdout)
    assert "error after 0 step(s)" in out and "did not finish: no reward components" in out
    assert "sim-no-such-model" in out  # the recorded error


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("silent-rn/retail-test-004", "no run 'silent-rn' in the recording (did you mean 'silent-run'?)"),
        (
            "silent-run/retail-test-04",
            "run 'silent-run' has no task 'retail-test-04' (did you mean 'retail-test-004'?)",
        ),
        ("silent-run/retail-test-004/3", "run 'silent-run' has no trial 3 of task 'retail-test-004'"),
    ],
)
def test_show_says_what_is_wrong_with_a_run_task_trial(mixed_recording, given, expected):
    result = taurl("show", given, "--recording", str(mixed_recording))
    assert result.exit_code == 2 and expected in flat(result.stderr)


# ---------------------------------------------------------------- task selection


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--split", "dev"], "no 'dev' split for airline built in; splits: test, train"),
        (["--domain", "airlin"], "unknown domain 'airlin' (did you mean 'airline'?)"),
        (["--task-ids", "airline-test-0001"], "no task 'airline-test-0001' (did you mean 'airline-test-001'?)"),
        (["--end-index", "100"], "--end-index 100 is past the end of airline/test, which has 82 task(s)"),
        (["--start-index", "5", "--end-index", "5"], "--end-index 5 must be greater than --start-index 5"),
        (["--start-index", "1", "--task-ids", "airline-test-001"], "give task ids or --start-index/--end-index"),
    ],
)
def test_a_bad_task_selection_says_what_would_work(args, expected):
    result = taurl("run", *args)
    assert result.exit_code == 2 and expected in flat(result.stderr), result.stderr


def test_start_and_end_index_run_that_slice_of_the_split():
    result = taurl("run", "--domain", "retail", "--start-index", "3", "--end-index", "5", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert [e["task_id"] for e in json.loads(result.stdout)] == ["retail-test-003", "retail-test-004"]


# ---------------------------------------------------------------- what to do next, serve-sim


@pytest.mark.slow
def test_a_recorded_run_ends_with_next_commands_that_run_as_printed(tmp_path):
    program = str(Path(sys.executable).parent / "taurl")
    args = [program, "run", "--end-index", "3", "--recording", "runs/demo", "--run-id", "demo-1"]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    commands = result.stdout.split("next:\n", 1)[1].splitlines()
    assert [c.split()[1] for c in commands] == ["sql", "show", "replay", "report"]
    for command in commands:
        ran = subprocess.run(command.strip(), shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, (command, ran.stderr)
    assert (tmp_path / "report.html").exists()


@pytest.mark.parametrize("access_log", [False, True])
def test_serve_sim_is_quiet_unless_asked_for_an_access_log(closed_port, access_log):
    args = [*TAURL, "serve-sim", "--port", str(closed_port), *(["--access-log"] if access_log else [])]
    server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{closed_port}/v1"
        deadline = time.monotonic() + 30
        while True:
            try:
                models = openai.OpenAI(base_url=url, api_key="x", max_retries=0).models.list()
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline, "serve-sim did not start"
                time.sleep(0.1)
        for _ in range(3):
            openai.OpenAI(base_url=url, api_key="x").models.list()
    finally:
        server.terminate()
        output = server.communicate(timeout=30)[0]
    assert "sim-agent" in [m.id for m in models]
    assert output.startswith(f"serve-sim on {url}")
    assert output.count("GET /v1/models") == (4 if access_log else 0), output


def test_progress_off_a_terminal_also_prints_a_line_every_interval():
    import io

    from rich.console import Console

    from taurl.cli.progress import RunProgress

    log = io.StringIO()
    with RunProgress("retail/test", Console(file=log, force_terminal=False), interval=0.05) as progress:
        progress.start(1000)
        time.sleep(0.3)  # no episode ends: the log still hears that the run is alive
    lines = log.getvalue().splitlines()
    assert len(lines) >= 3 and all(line.startswith("retail/test: 0/1000 (0%), elapsed ") for line in lines)
