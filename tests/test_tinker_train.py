"""``taurl train --backend tinker`` on this CPU: the real CLI in .venv-tinker trains a tiny random Qwen3
(tools/make_tiny_qwen3.py) with LoRA on a local SkyRL Tinker server (JAX), 3 steps of 2 tasks x 4 samples
with a scripted user, killed with SIGKILL during step 2 and resumed; the recording is then read from here.

The tasks are SkyRL rows with a short prompt (the CPU test stays short): the reward is whether the reply
contains a letter (taurl's ``outputs`` component), which a random model's reply does about half of the time,
so groups differ; step 1's two tasks ask for text no reply contains, so step 1 has no signal at all and the
fresh client's first update has gradient norm 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from taurl.record.store import RecordingStore
from taurl.review.report import fmt_rate, fmt_reward
from taurl.tinker.batches import step_tasks
from tests.conftest import REPO
from tools.make_tinker_cpu_rows import says, write_rows

pytestmark = pytest.mark.tinker

TINKER_VENV = REPO / ".venv-tinker"
RUN_ID = "cpu"
TASKS, PER_STEP, GROUP, STEPS = 6, 2, 4, 3
REACHABLE = ["f", "g", "v", "k"]  # in about half of the tiny model's 12-token replies; not in a refusal
UNREACHABLE = "never said"


def rows_file(path) -> None:
    """tools/make_tinker_cpu_rows.py's kind of rows, step 1's two tasks asking for text no reply contains."""
    tasks = [says(f"say-{i}", UNREACHABLE) for i in range(TASKS)]
    first = {t.id for t in step_tasks(tasks, 1, PER_STEP, seed=0)}
    letters = iter(REACHABLE)
    write_rows(path, [t if t.id in first else says(t.id, next(letters)) for t in tasks])


def query(recording, sql, params=None) -> list[dict]:
    store = RecordingStore(recording)
    try:
        columns, rows = store.query(sql, params or [])
    finally:
        store.close()
    return [dict(zip(columns, row, strict=True)) for row in rows]


def stale_servers(workdir) -> list[int]:
    from taurl.cli.train_tinker import servers_on

    return servers_on(workdir)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    if not (TINKER_VENV / ".installed").exists():
        pytest.skip(
            f"no Tinker environment at {TINKER_VENV} (`make tinker-env` builds it: Python 3.12, skyrl[tinker,jax] 0.4.0, "
            "the tinker SDK; a failed install skips this test)"
        )
    began = time.monotonic()
    work = tmp_path_factory.mktemp("tinker-train")
    model, rows, recording, workdir = work / "model", work / "rows.parquet", work / "rec", work / "server"
    subprocess.run([str(TINKER_VENV / "bin" / "python"), "tools/make_tiny_qwen3.py", str(model)], cwd=REPO, check=True)
    rows_file(rows)
    write_rows(work / "held-out.parquet", [says("held-out", "d")])
    command = [
        str(TINKER_VENV / "bin" / "taurl"), "train", "--backend", "tinker", "--base-model", str(model),
        "--serve-local", "--workdir", str(workdir), "--data", str(rows), "--tasks-per-step", str(PER_STEP),
        "--group-size", str(GROUP), "--steps", str(STEPS), "--learning-rate", "1e-3", "--lora-rank", "8",
        "--max-tokens", "12", "--max-turns", "2", "--measure-update", "--eval-data", str(work / "held-out.parquet"),
        "--eval-every", "2", "--eval-trials", "2", "--recording", str(recording), "--run-id", RUN_ID,
    ]  # fmt: skip
    # XLA's cheapest compilation: compiling is most of the test's time, running the tiny model nothing; and the
    # two servers (the killed run's and the resumed one's) share their compiled programs
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
        "JAX_COMPILATION_CACHE_DIR": str(work / "jax-cache"),
    }
    with open(work / "first.log", "w") as log:
        first = subprocess.Popen(
            command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 600
        while True:  # kill once step 2's trajectories are recorded and its update is not done
            assert first.poll() is None, f"the run ended before step 2: {(work / 'first.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "step 2 did not start in time"
            if recording.exists() and (
                query(recording, "SELECT count(*) AS n FROM trajectories WHERE train_step = 2")[0]["n"] == 8
            ):
                assert not query(recording, "SELECT step FROM train_steps WHERE step = 2")
                break
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
    finally:
        first.wait()
    orphans = stale_servers(workdir)  # the server runs in its own process group: it outlives the run
    for group in orphans:
        os.killpg(group, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while stale_servers(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)
    second = subprocess.run([*command, "--resume"], cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return {
        "recording": recording,
        "workdir": workdir,
        "first": (work / "first.log").read_text(),
        "second": second.stdout,
        "orphans": orphans,
        "seconds": time.monotonic() - began,
        "command": command,
        "env": env,
    }


def test_every_trajectory_is_recorded_once_with_its_tokens_and_logprobs(trained):
    rec = trained["recording"]
    trajectories = query(rec, "SELECT * FROM trajectories WHERE run_id = ? ORDER BY trial", [RUN_ID])
    assert len(trajectories) == STEPS * PER_STEP * GROUP
    assert [t["trial"] for t in trajectories] == list(range(STEPS * PER_STEP * GROUP))
    attempts = query(rec, "SELECT episode_id, count(*) AS n FROM attempts WHERE run_id = ? GROUP BY 1", [RUN_ID])
    assert len(attempts) == len(trajectories) and all(a["n"] == 1 for a in attempts)  # step 2's too: none sampled twice
    for t in trajectories:
        assert t["sampler_version"] == t["train_step"] - 1
        assert len(t["token_ids"]) == len(t["token_mask"]) == len(t["token_logprobs"])
        assert 0 < sum(t["token_mask"]) <= 12 * 2
        assert all((lp is not None) == m for lp, m in zip(t["token_logprobs"], t["token_mask"], strict=True))
        assert all(lp <= 0 for lp in t["token_logprobs"] if lp is not None)
        assert t["advantage"] is not None and t["terminated_by"] == "user_stop"


@pytest.fixture(scope="module")
def token_checks(trained):
    """tests/harness/tinker_tokens_run.py in .venv-tinker: a scripted multi-turn episode, and the run's trajectories."""
    out = subprocess.run(
        [str(TINKER_VENV / "bin" / "python"), "tests/harness/tinker_tokens_run.py", str(trained["recording"]), RUN_ID],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_the_tokens_are_the_chat_template_over_each_recorded_conversation(token_checks):
    trajectories = token_checks["recording"]["trajectories"]
    assert len(trajectories) == STEPS * PER_STEP * GROUP
    for t in trajectories:
        assert t["mismatch"] is None, t
        assert t["given_tokens_are_the_tokenizers"] and t["logprobs_where_sampled"], t


def test_token_bookkeeping_over_a_multi_turn_episode(token_checks):
    """Tool call, observation, a turn cut at the token limit, the user's turn, a reply: one sequence that is
    the template's own tokenisation of the conversation, the agent's tokens (and only they) marked sampled."""
    r = token_checks["scripted"]
    assert r["actions"][0] == r["expected_call"] and r["actions"][1]["name"] == "respond"
    assert [m["role"] for m in r["messages"][1:]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert r["template_ids"] == r["ids"] + r["newline"]  # the last assistant turn's "\n" is never given to the model
    assert r["mismatch"] is None
    sampled = [i for i, s in enumerate(r["sampled"]) if s]
    turns = r["turns"]
    # each turn's content is sampled; a stopped turn's end-of-turn token is sampled too, a cut turn's is not
    assert sampled == [*range(turns[0][0], turns[0][1] + 1), *range(*turns[1]), *range(turns[2][0], turns[2][1] + 1)]
    assert r["ids"][turns[1][1]] == r["end_id"] and not r["sampled"][turns[1][1]] and r["cut_turns"] == 1
    assert all(lp == -0.25 for lp, s in zip(r["logprobs"], r["sampled"], strict=True) if s)
    assert r["seeds"] == [100, 101, 102]


def test_three_steps_each_a_row_of_train_steps(trained):
    steps = query(trained["recording"], "SELECT * FROM train_steps WHERE run_id = ? ORDER BY step", [RUN_ID])
    assert [s["step"] for s in steps] == [1, 2, 3]
    for s in steps:
        rewards = query(
            trained["recording"],
            "SELECT train_group, list(reward) AS r FROM trajectories WHERE run_id = ? AND train_step = ? GROUP BY 1",
            [RUN_ID, s["step"]],
        )
        flat = [x for g in rewards for x in g["r"]]
        assert s["trajectories"] == len(flat) == PER_STEP * GROUP and s["groups"] == PER_STEP
        assert s["reward_mean"] == pytest.approx(sum(flat) / len(flat))
        assert s["pass_rate"] == pytest.approx(sum(1 for x in flat if x == 1.0) / len(flat))
        assert s["groups_zero_signal"] == sum(1 for g in rewards if len(set(g["r"])) == 1)  # counted, not hidden
        assert s["checkpoint"].startswith("tinker://") and s["learning_rate"] == 1e-3
        assert s["tokens"] > s["agent_tokens"] > 0 and s["errored"] == 0
        assert s["seconds_forward_backward"] > 0 and s["seconds_optim"] > 0 and s["seconds_sampler"] > 0
    first = steps[0]
    assert first["reward_mean"] == 0.0 and first["groups_zero_signal"] == 2
    assert first["grad_norm"] == 0.0  # all-equal groups: no gradient on the fresh client
    assert first["advantage_min"] == first["advantage_max"] == 0.0
    assert any(s["grad_norm"] > 0 for s in steps[1:])


def test_the_update_raises_positively_advantaged_trajectories_and_lowers_the_others(trained):
    checks = query(
        trained["recording"],
        "SELECT step, unnest(update_check, recursive := true) FROM train_steps WHERE run_id = ? ORDER BY step",
        [RUN_ID],
    )
    assert len(checks) == STEPS * PER_STEP * GROUP
    moved = [(c["advantage"], c["logprob_after"] - c["logprob_before"]) for c in checks if c["advantage"]]
    assert any(a > 0 for a, _ in moved) and any(a < 0 for a, _ in moved)
    for advantage, delta in moved:  # the new sampler's summed logprob of the trajectory's agent tokens
        assert (delta > 0) == (advantage > 0), (advantage, delta)
    assert all(c["logprob_after"] == c["logprob_before"] for c in checks if c["step"] == 1)  # no signal, no change


def test_the_killed_run_resumed_from_its_last_checkpoint_and_trained_on_what_it_had_recorded(trained):
    assert "step 1:" in trained["first"] and "step 2:" not in trained["first"]
    assert "resuming after step 1 from tinker://" in trained["second"]
    assert "step 2: training on its 8 recorded trajectories" in trained["second"]
    assert trained["orphans"], "the killed run's server should have outlived it (its own process group)"
    assert not stale_servers(trained["workdir"]), "the resumed run's server is still running"


def test_sql_reads_train_steps_and_replay_is_identical_offline(trained):
    rec = str(trained["recording"])
    sql = subprocess.run(
        [str(REPO / ".venv" / "bin" / "taurl"), "sql", "--recording", rec, "--format", "json",
         "SELECT step, grad_norm FROM train_steps ORDER BY step"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert [r["step"] for r in json.loads(sql.stdout)] == [1, 2, 3]
    replay = subprocess.run(
        [str(REPO / ".venv" / "bin" / "taurl"), "replay", rec], capture_output=True, text=True, cwd=REPO
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    episodes = STEPS * PER_STEP * GROUP + 1 + 2  # and the evaluations after steps 2 and 3
    assert f"{episodes} episode(s) replayed offline" in " ".join(replay.stdout.split()), replay.stdout
    assert f"{episodes} identical" in " ".join(replay.stdout.split()), replay.stdout


def test_the_held_out_task_is_evaluated_every_2_steps_and_after_the_last_with_2_trials(trained):
    rec = trained["recording"]
    steps = {s["step"]: s for s in query(rec, "SELECT * FROM train_steps WHERE run_id = ?", [RUN_ID])}
    assert steps[1]["eval_run_id"] is None
    for step, trials in ((2, 1), (3, 2)):
        s = steps[step]
        assert (s["eval_run_id"], s["eval_trials"]) == (f"{RUN_ID}-eval-{step:04d}", trials)
        episodes = query(
            rec, "SELECT trial, reward, train_step, sampler_version, advantage FROM episodes WHERE run_id = ?",
            [s["eval_run_id"]],
        )  # fmt: skip
        assert sorted(e["trial"] for e in episodes) == list(range(trials))
        assert all(e["train_step"] == e["sampler_version"] == step and e["advantage"] is None for e in episodes)
        passed = sum(1 for e in episodes if e["reward"] == 1.0)
        assert s["eval_pass_1"] == pytest.approx(passed / trials)
        assert s["eval_pass_k"] == pytest.approx(1.0 if passed == trials else 0.0)


def test_the_report_plots_reward_and_pass_rate_per_step(trained, tmp_path):
    out = tmp_path / "report.html"
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "taurl"), "report", str(trained["recording"]), "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    page = out.read_text()
    section = page[page.index('<section id="training">') :]
    section = section[: section.index("</section>")]
    assert section.count("<img") == 1  # one chart: the one training run
    steps = query(trained["recording"], "SELECT step, reward_mean, pass_rate FROM train_steps ORDER BY step")
    for s in steps:
        for name, shown in (
            ("train_reward", fmt_reward(s["reward_mean"])),
            ("train_pass_rate", fmt_rate(s["pass_rate"])),
        ):
            assert f'data-metric="{name}" data-run="{RUN_ID}" data-step="{s["step"]}">{shown}<' in section


def test_a_resume_with_other_settings_is_refused_before_any_server_starts(trained):
    command = [*trained["command"], "--resume"]
    command[command.index("--learning-rate") + 1] = "2e-3"
    refused = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=trained["env"], timeout=300)
    assert refused.returncode == 2
    assert "was recorded with other learning rate" in " ".join(refused.stderr.split())
    assert "starting a local Tinker server" not in refused.stdout
