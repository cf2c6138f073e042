"""`taurl train --dry-run` as the README runs it: offline by default (no key: a scripted user, never a
traceback), the path it took said, SkyRL's own generator where the training stack imports."""

import os
import subprocess

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skyrl

TRAIN_VENV = REPO / ".venv-train"


def venv_taurl(venv, *args, home):
    """The ``taurl`` command another environment installed (SkyRL's), as a user there runs it: at home,
    offline, with no model key."""
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
    out = venv_taurl(
        ".venv", "data", "convert", "--domain", "airline", "--split", "test", "--out", "data/tau_bench", home=home
    )
    assert out.returncode == 0, out.stderr
    return home


def test_without_the_training_stack_it_steps_the_envs_and_says_so(home):
    out = venv_taurl(
        ".venv", "train", "--dry-run", "--prompts", "2", "data.train_data=[data/tau_bench/train.parquet]", home=home
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "user: scripted: the config's llm (gpt-4o) user needs OPENAI_API_KEY" in out.stdout
    assert "path: tau_bench envs via skyrl_gym.make" in out.stdout
    assert out.stdout.count(" 1.00 ") == 2 and "Traceback" not in out.stderr


def test_a_bad_choice_or_a_missing_dataset_is_one_message(tmp_path):
    out = venv_taurl(".venv", "train", "--dry-run", "--user", "gpt", home=tmp_path)
    assert out.returncode != 0 and "--user 'gpt': one of auto, config, scripted, serve-sim" in out.stderr
    out = venv_taurl(".venv", "train", "--dry-run", home=tmp_path)  # the config's default: ~/data/tau_bench, not made
    assert out.returncode != 0 and "make it with `taurl data convert --out" in out.stderr
    assert "Traceback" not in out.stderr


def test_with_the_training_stack_it_runs_skyrl_trains_generator(home):
    if not (TRAIN_VENV / ".installed").exists():
        pytest.skip(f"no training stack at {TRAIN_VENV} (`make train-env` builds it; `make test` does this first)")
    out = venv_taurl(
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


def test_a_misspelled_override_is_refused_naming_the_key_it_resembles(home):
    out = venv_taurl(
        ".venv",
        "train",
        "--dry-run",
        "data.train_data=[data/tau_bench/train.parquet]",
        "generator.max_trns=3",
        home=home,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "generator.max_trns is not a key of the training config" in out.stderr
    assert "did you mean generator.max_turns?" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    # skyrl-train's own keys are known without it installed; + adds a key on purpose
    for override in ("trainer.seed=7", "+generator.my_new_key=1"):
        out = venv_taurl(
            ".venv",
            "train",
            "--dry-run",
            "--prompts",
            "1",
            "data.train_data=[data/tau_bench/train.parquet]",
            override,
            home=home,
        )
        assert out.returncode == 0, out.stderr


def test_the_dry_run_records_in_the_working_directory_and_says_where(home):
    out = venv_taurl(
        ".venv", "train", "--dry-run", "--prompts", "2", "data.train_data=[data/tau_bench/train.parquet]", home=home
    )
    assert out.returncode == 0, out.stderr
    assert "recording: runs/train-dry-run (every trajectory" in out.stdout
    assert list((home / "runs" / "train-dry-run").glob("episodes-*.parquet"))
    assert not (home / "taurl" / "recordings").exists()  # the training config's default, under HOME
    query = venv_taurl(
        ".venv",
        "sql",
        "--recording",
        "runs/train-dry-run",
        "SELECT count(*) AS n FROM episodes",
        "--format",
        "json",
        home=home,
    )
    assert query.returncode == 0 and '"n": ' in query.stdout


def longest_prompt(home) -> int:
    import pyarrow.parquet as pq

    from taurl.skyrl.budget import token_counts

    return max(token_counts(pq.read_table(home / "data/tau_bench/train.parquet").column("prompt").to_pylist()))


def test_a_max_input_length_without_room_for_the_longest_prompt_and_a_turn_is_refused(home):
    need = longest_prompt(home) + 1024  # the config's generator.sampling_params.max_generate_length
    args = [
        "train",
        "--dry-run",
        "--prompts",
        "1",
        "data.train_data=[data/tau_bench/train.parquet]",
        "data.val_data=[]",
    ]
    out = venv_taurl(".venv", *args, f"generator.max_input_length={need - 1}", home=home)
    assert out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert f"generator.max_input_length={need - 1} leaves no room for the longest prompt" in out.stderr
    assert "crash SkyRL's agent_loop before the first turn (response_end_idx is None)" in out.stderr
    assert f"set it to at least {need}" in out.stderr
    out = venv_taurl(".venv", *args, f"generator.max_input_length={need}", home=home)
    assert out.returncode == 0, out.stderr
    assert (
        f"prompt budget: longest prompt {need - 1024} tokens + one turn 1024 <= generator.max_input_length {need}"
        in out.stdout
    )


def test_with_the_training_stack_prompt_tokens_equal_its_tokenizer_and_the_key_list_its_config(home):
    if not (TRAIN_VENV / ".installed").exists():
        pytest.skip(f"no training stack at {TRAIN_VENV} (`make train-env` builds it)")
    script = (
        "import sys, pyarrow.parquet as pq\n"
        "from taurl.skyrl.tokenizer import prompt_tokens, qwen25_tokenizer\n"
        "tokenizer = qwen25_tokenizer()\n"
        "prompts = pq.read_table(sys.argv[1]).column('prompt').to_pylist()\n"
        "prompts.append([{'role': 'user', 'content': 'café e\\u0301 <tool_call> <|im_start|> 12345'}])\n"
        "for p in prompts:\n"
        "    assert prompt_tokens(p) == len(tokenizer.apply_chat_template(p, add_generation_prompt=True)), p\n"
        "print(len(prompts))\n"
    )
    env = {**os.environ, "HOME": str(home), "HF_HUB_OFFLINE": "1"}
    run = [str(TRAIN_VENV / "bin" / "python")]
    out = subprocess.run(
        [*run, "-c", script, str(home / "data/tau_bench/train.parquet")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert out.returncode == 0 and int(out.stdout) > 1, out.stderr[-2000:]
    keys = subprocess.run(
        [*run, str(REPO / "tools" / "skyrl_config_keys.py")], capture_output=True, text=True, env=env, timeout=300
    )
    assert keys.returncode == 0, keys.stderr[-2000:]
    assert keys.stdout == (REPO / "taurl/skyrl/config/skyrl_train_0.3.1_keys.txt").read_text()
    # the generator path refuses the same budget, before SkyRL's generator starts
    need = longest_prompt(home) + 1024
    out = venv_taurl(
        ".venv-train",
        "train",
        "--dry-run",
        "--prompts",
        "1",
        "data.train_data=[data/tau_bench/train.parquet]",
        "data.val_data=[]",
        f"generator.max_input_length={need - 1}",
        home=home,
    )
    assert out.returncode == 2 and "response_end_idx is None" in out.stderr and "Traceback" not in out.stderr
    # and so does the training entrypoint (tools/run_tau_bench.sh, taurl train), on its composed config, before Ray
    entry = subprocess.run(
        [*run, "-m", "taurl.skyrl.train", "data.train_data=[data/tau_bench/train.parquet]", "data.val_data=[]",
         "trainer.max_prompt_length=5000", "generator.max_input_length=5000"],
        capture_output=True, text=True, env=env, cwd=home, timeout=300,
    )  # fmt: skip
    assert entry.returncode == 2 and len(entry.stderr.strip().splitlines()) == 1, entry.stderr[-2000:]
    assert f"set it to at least {need}" in entry.stderr and "generator.max_input_length=5000" in entry.stderr
