"""Bad input gets an error naming the file, never a traceback; credentials in URLs never reach a recording."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from taurl.domains import DataError
from taurl.episodes.config import Endpoint, RunConfig, redact_url
from taurl.episodes.runner import execute
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.review.replay import Replayer
from taurl.sim.server import SimServer
from tests.conftest import REPO, taurl

BUILTIN = REPO / "taurl" / "domains"


# ---------------------------------------------------------------- credentials in URLs


@pytest.mark.parametrize(
    ("url", "recorded"),
    [
        ("http://u:sk-secret@host:8000/v1", "http://***@host:8000/v1"),
        ("http://sk-secret@host/v1", "http://***@host/v1"),
        ("https://host/v1?api_key=sk-secret&api-version=2024", "https://host/v1?api_key=***&api-version=2024"),
        ("https://host/v1?key=sk-secret", "https://host/v1?key=***"),
        ("https://host/v1?Access_Token=sk-secret#part", "https://host/v1?Access_Token=***#part"),
        ("http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("http://[::1", "***"),
        (None, None),
    ],
)
def test_redact_url_keeps_the_endpoint_and_drops_the_credentials(url, recorded):
    assert redact_url(url) == recorded


def test_a_recording_holds_no_credential_from_a_base_url_and_still_replays(tmp_path):
    """The live client dials the URL as given; the recording (and the cache) keep only the redacted one,
    which replay never dials: a request's key holds no URL."""
    secrets = ("sk-AGENTPASSWORD", "sk-USERQUERYKEY")
    with SimServer() as server:
        host = server.base_url.split("://")[1].removesuffix("/v1")
        config = RunConfig(
            domain="retail",
            task_ids=[get_domain("retail").tasks("test")[0].id],
            cache_dir=tmp_path / "cache",
            agent="tool-calling",
            agent_endpoint=Endpoint("sim-agent", f"http://me:{secrets[0]}@{host}/v1"),
            user="llm",
            user_endpoint=Endpoint("sim-user", f"http://{secrets[1]}@{host}/v1"),
        )
        assert not any(secret in json.dumps(config.to_record()) for secret in secrets)
        recording = tmp_path / "rec"
        (result,) = execute(config, recording).results
        # the episode ended normally on live calls: the client dialled the URL with its credentials
        assert result.breakdown is not None and result.model_calls
        assert not any(call.cache_hit for call in result.model_calls)

    store = RecordingStore(recording)
    recorded = json.loads(store.query("SELECT config_json FROM runs")[1][0][0])
    assert recorded["agent_endpoint"]["base_url"] == f"http://***@{host}/v1"
    assert recorded["user_endpoint"]["base_url"] == f"http://***@{host}/v1"
    assert [r.status for r in Replayer(store).replay_all()] == ["identical"]
    files = [path.read_bytes() for path in tmp_path.rglob("*") if path.is_file()]
    assert any(host.encode() in data for data in files)  # the host is stored as plain bytes...
    assert not any(secret.encode() in data for data in files for secret in secrets)  # ...the secrets are not


# ---------------------------------------------------------------- bad data files


def assert_clear_error(result: subprocess.CompletedProcess, file_name: str, expected: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    flat = " ".join(output.split())  # rich wraps long messages at the terminal width, mid-path if need be
    assert file_name in flat.replace(" ", "") and expected in flat, output


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"a": 1}', 'expected a list of tasks or an object with a "tasks" list, got an object'),
        (b'["x"]', "task 0 is a string, not an object"),
        (b'[{"index": 0, "actions": []}]', 'task 0 has no "instruction" text'),
        (b'[{"instruction": "hi", "actions": ["book"]}]', 'must be a list of objects with a "name"'),
        (b'[{"instruction": "hi", "reward_basis": "vibes"}]', "'vibes' is not a valid RewardBasis"),
        ('[{"instruction": "caf\u00e9"}]'.encode("latin-1"), "is not UTF-8 text"),
    ],
)
def test_a_bad_tasks_file_is_named_in_the_error(tmp_path, content, expected):
    (tmp_path / "tasks_test.json").write_bytes(content)
    with pytest.raises(DataError, match="tasks_test.json") as raised:
        get_domain("airline").tasks("test", tmp_path)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"a": 1}', "got an object with keys 'a'"),
        (b'["x"]', "task 0 is a string, not an object"),
        (b"\xff\xfe[]", "is not UTF-8 text"),
    ],
)
def test_taurl_run_reports_a_bad_tasks_file_without_a_traceback(tmp_path, content, expected):
    (tmp_path / "tasks_test.json").write_bytes(content)
    result = taurl("run", "--domain", "airline", "--data-dir", f"airline={tmp_path}")
    assert_clear_error(result, str(tmp_path / "tasks_test.json"), expected)


def healthcare_dir(tmp_path: Path) -> Path:
    """A copy of healthcare's built-in data and test tasks, to break one file of."""
    data = tmp_path / "healthcare"
    shutil.copytree(BUILTIN / "healthcare" / "data", data)
    shutil.copy(BUILTIN / "healthcare" / "tasks" / "test.json", data / "tasks_test.json")
    return data


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[1, 2]", "record 0 is not an object with a 'patient_id' field"),
        (b'{"P001": "Ada"}', "patients record 'P001' is a string, not an object"),
        (b'"patients"', "expected an object of patients records by id, got a string"),
        (b"{\xc3}", "is not UTF-8 text"),
        (b'{"P001": ', "is not valid JSON"),
    ],
)
def test_a_database_file_of_the_wrong_shape_is_named_in_the_error(tmp_path, content, expected):
    data = healthcare_dir(tmp_path)
    (data / "patients.json").write_bytes(content)
    with pytest.raises(DataError, match="patients.json") as raised:
        get_domain("healthcare").database(data)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"devices": [{"model": "iPhone"}]}', "record 0 is not an object with a 'device_id' field"),
        (b"7", "expected an object of devices by id, or a list of them, got a number"),
    ],
)
def test_a_bad_telecom_devices_file_is_named_in_the_error(tmp_path, content, expected):
    data = tmp_path / "telecom"
    shutil.copytree(BUILTIN / "telecom" / "data", data)
    (data / "devices.json").write_bytes(content)
    with pytest.raises(DataError, match="devices.json") as raised:
        get_domain("telecom").database(data)
    assert expected in str(raised.value)


def test_taurl_run_reports_a_bad_database_file_without_a_traceback(tmp_path):
    data = healthcare_dir(tmp_path)
    (data / "patients.json").write_text("[1, 2]")
    task_id = get_domain("healthcare").tasks("test")[0].id
    result = taurl("run", "--domain", "healthcare", "--data-dir", f"healthcare={data}", "--task-ids", task_id)
    assert_clear_error(result, str(data / "patients.json"), "record 0 is not an object with a 'patient_id' field")
