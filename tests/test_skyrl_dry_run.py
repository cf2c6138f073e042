"""`taurl train --dry-run` as the README runs it: offline by default (no key: a scripted user, never a
traceback), the path it took said, SkyRL's own generator where the training stack imports."""

import os
import subprocess

import pytest

from tests.conftest import REPO

TRAIN_VENV = REPO / ".venv-train"


def taurl(venv, *args, home):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    return subprocess.run(
        [str(REPO / venv / "bin" / "taurl"), *args],
        capture_output=True,
        text=True,
        env={**env, "HOME": str(home), "COLUMNS": "200", "HF_HUB_OFFLINE": "1"},
        cwd=home,
        timeout=600,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A home where the README's convert line ran (one domain's test split, to keep it short)."""
    home = tmp_path_factory.mktemp("home")
    out = taurl(
        ".venv", "data", "convert", "--domain", "airline", "--split", "test", "--out", "data/tau_bench", home=home
    )
    assert out.returncode == 0, out.stderr
    return home


def test_without_the_training_stack_it_steps_the_envs_and_says_so(home):
    out = taurl(
        ".venv", "train", "--dry-run", "--prompts", "2", "data.train_data=[data/tau_bench/train.parquet]", home=home
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "user: scripted: the config's llm (gpt-4o) user needs OPENAI_API_KEY" in out.stdout
    assert "path: tau_bench envs via skyrl_gym.make" in out.stdout
    assert out.stdout.count(" 1.00 ") == 2 and "Traceback" not in out.stderr


def test_a_bad_choice_or_a_missing_dataset_is_one_message(tmp_path):
    out = taurl(".venv", "train", "--dry-run", "--user", "gpt", home=tmp_path)
    assert out.returncode != 0 and "--user 'gpt': one of auto, config, scripted, serve-sim" in out.stderr
    out = taurl(".venv", "train", "--dry-run", home=tmp_path)  # the config's default: ~/data/tau_bench, not made
    assert out.returncode != 0 and "make it with `taurl data convert --out" in out.stderr
    assert "Traceback" not in out.stderr


def test_with_the_training_stack_it_runs_skyrl_trains_generator(home):
    if not (TRAIN_VENV / ".installed").exists():
        pytest.skip(f"no training stack at {TRAIN_VENV} (`make train-env` builds it; `make test` does this first)")
    out = taurl(
        ".venv-train",
        "train",
        "--dry-run",
        "--prompts",
        "2",
        "--user",
        "serve-sim",
        "data.train_data=[data/tau_bench/train.parquet]",
        "generator.n_samples_per_prompt=2",
        home=home,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "path: skyrl-train 0.3.1's SkyRLGymGenerator and InferenceEngineClient" in out.stdout
    assert "user: llm (sim-user on serve-sim)" in out.stdout
    assert out.stdout.count(" 1.00 ") == 4 and "generate/avg_num_tokens" in out.stdout
