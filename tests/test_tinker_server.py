"""A local Tinker training server on this CPU (taurl.tinker.server): SkyRL 0.4.0's Tinker API and JAX engine in
.venv-tinker, started from here, loaded with a tiny Qwen3 built offline (tools/make_tiny_qwen3.py), driven
through the real tinker SDK (tests/harness/tinker_sdk_run.py in .venv-tinker): LoRA training client, sampling,
importance-sampling steps, new samplers; then stopped with no process left."""

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taurl.tinker.server import LocalTinkerServer, TinkerServerError, group_members
from tests.conftest import REPO

pytestmark = pytest.mark.tinker

TINKER_VENV = REPO / ".venv-tinker"
PYTHON = TINKER_VENV / "bin" / "python"
VOCAB = 151936
# one training client (slot 0 is the base model's); fixed batch shapes, so JAX compiles each step once
BACKEND_CONFIG = {
    "max_lora_adapters": 2,
    "max_lora_rank": 8,
    "train_micro_batch_size": 4,
    "sample_max_num_sequences": 4,
}


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory):
    if not (TINKER_VENV / ".installed").exists():
        pytest.skip(
            f"no Tinker server environment at {TINKER_VENV} (`make tinker-env` builds it: Python 3.12, "
            "skyrl[tinker,jax] 0.4.0, the tinker SDK, torch 2.8.0 lent by .venv-train; a failed install skips this test)"
        )
    out = tmp_path_factory.mktemp("tiny-qwen3") / "model"
    subprocess.run([str(PYTHON), str(REPO / "tools" / "make_tiny_qwen3.py"), str(out)], check=True, cwd=REPO)
    return out


@pytest.fixture(scope="module")
def run(tiny_qwen3, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tinker-server")
    server = LocalTinkerServer(str(tiny_qwen3), workdir, backend_config=BACKEND_CONFIG)
    assert server.python == str(PYTHON)
    base_url = server.start()
    try:
        client = subprocess.run(
            [str(PYTHON), str(REPO / "tests" / "harness" / "tinker_sdk_run.py"), base_url, str(tiny_qwen3)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=600,
        )
        assert client.returncode == 0, client.stderr[-3000:]
        group = server._process.pid
        assert group_members(group), "the server's processes were not running"
    finally:
        server.stop()
    return {"result": json.loads(client.stdout), "group": group, "base_url": base_url, "workdir": workdir}


def test_the_server_listens_on_loopback_and_keeps_its_state_in_the_workdir(run, tiny_qwen3):
    assert run["base_url"].startswith("http://127.0.0.1:")
    assert run["result"]["models"] == [str(tiny_qwen3)]
    assert (run["workdir"] / "tinker.db").exists()
    assert any((run["workdir"] / "checkpoints").rglob("*")), "no checkpoint under the workdir"


def test_stop_leaves_no_process(run):
    assert group_members(run["group"]) == []


def test_the_sdk_tokenizer_is_qwen3s_chat_format(run):
    result = run["result"]
    assert result["vocab"] == 151669
    assert result["prompt_text"] == (
        "<|im_start|>user\nBook a flight to Boston.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert result["prompt"][0] == 151644  # <|im_start|>


def test_samples_are_token_ids_with_finite_nonpositive_logprobs(run):
    samples = run["result"]["samples"]
    assert len(samples) == 4
    for sample in samples:
        assert len(sample["tokens"]) == len(sample["logprobs"]) == 6
        assert all(0 <= token < VOCAB for token in sample["tokens"])
        assert all(math.isfinite(lp) and lp <= 0 for lp in sample["logprobs"])


def test_compute_logprobs_gives_one_value_per_predicted_token_matching_the_samplers(run):
    result = run["result"]
    for sample, logprobs in zip(result["samples"], result["logprobs_before"], strict=True):
        assert len(logprobs) == len(result["prompt"]) + len(sample["tokens"]) - 1
        assert all(lp is not None and math.isfinite(lp) and lp <= 0 for lp in logprobs)
        completion = logprobs[-len(sample["tokens"]) :]
        assert completion == pytest.approx(sample["logprobs"], abs=1e-3)


def test_forward_backward_gives_the_importance_sampling_loss_and_the_learners_logprobs(run):
    result = run["result"]
    prompt_positions = len(result["prompt"]) - 1
    for step, advantage in (("zero_step", 0.0), ("plus_step", 1.0)):
        for sample, loss, learner in zip(
            result["samples"], result[step]["elementwise_loss"], result[step]["learner_logprobs"], strict=True
        ):
            assert len(loss) == len(learner) == prompt_positions + len(sample["tokens"])
            assert all(math.isfinite(value) for value in loss + learner) and all(lp <= 0 for lp in learner)
            # -(learner/sampler probability ratio) * advantage * weight: the ratio is 1 before any update
            assert loss[:prompt_positions] == [0.0] * prompt_positions
            assert loss[prompt_positions:] == pytest.approx([-advantage] * len(sample["tokens"]), abs=1e-3)
            assert learner[prompt_positions:] == pytest.approx(sample["logprobs"], abs=1e-3)


def test_a_zero_advantage_step_changes_no_logprob(run):
    result = run["result"]
    assert result["logprobs_after_zero_step"] == result["logprobs_before"]


def test_a_positive_advantage_step_makes_the_sampled_tokens_likelier(run):
    result = run["result"]
    for sample, before, after in zip(
        result["samples"], result["logprobs_after_zero_step"], result["logprobs_after_plus_step"], strict=True
    ):
        completion = len(sample["tokens"])
        assert sum(after[-completion:]) > sum(before[-completion:])


def test_a_server_that_dies_while_starting_fails_start_in_one_line_with_its_log(tmp_path):
    server = LocalTinkerServer("Qwen/Qwen3-0.6B", tmp_path, python=sys.executable)  # .venv: no skyrl
    with pytest.raises(TinkerServerError) as error:
        server.start(timeout=60)
    message = str(error.value)
    assert "\n" not in message
    assert "exited with code 1 while starting" in message and "No module named 'skyrl'" in message
    assert str(tmp_path / "tinker-server.log") in message


def test_a_server_whose_engine_is_not_ready_in_time_is_stopped(tmp_path):
    never_ready = tmp_path / "never-ready"
    # it leaves a child too, as the API leaves its engine
    never_ready.write_text(f"#!/bin/sh\necho $$ > {tmp_path / 'group'}\nsleep 120 &\nexec sleep 120\n")
    never_ready.chmod(0o755)
    server = LocalTinkerServer("Qwen/Qwen3-0.6B", tmp_path, python=str(never_ready))
    with pytest.raises(TinkerServerError, match=r"engine was not ready after 2 s") as error:
        server.start(timeout=2)
    assert "\n" not in str(error.value)
    assert server._process is None
    assert group_members(int((tmp_path / "group").read_text())) == []


def test_a_server_whose_owner_is_killed_stops_too(tiny_qwen3, tmp_path):
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from taurl.tinker.server import LocalTinkerServer; "
            "LocalTinkerServer(sys.argv[1], Path(sys.argv[2])).start()",
            str(tiny_qwen3),
            str(tmp_path),
        ],
        cwd=REPO,
    )
    try:
        api = wait_for(lambda: next(iter(children(owner.pid)), None))
        wait_for(lambda: any(b"engine" in command(pid) for pid in group_members(api)) or None)
    finally:
        owner.kill()
        owner.wait()
    assert wait_for(lambda: group_members(api) == [] or None), f"left running: {group_members(api)}"


def wait_for(probe, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while (value := probe()) is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return value


def children(pid: int) -> list[int]:
    return [int(p) for p in (Path("/proc") / str(pid) / "task" / str(pid) / "children").read_text().split()]


def command(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""
