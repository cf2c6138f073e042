"""A training run's record: every trajectory SkyRL runs through ``TauBenchEnv`` is recorded once, however
it ended, under a run record that lets ``taurl replay`` rebuild it with the env_config it ran with."""

import json
import shutil

import pytest
import skyrl_gym
from omegaconf import DictConfig
from skyrl_gym.metrics import default_aggregate_metrics

from taurl.agent.parser import format_tool_call
from taurl.core.types import Action, TerminatedBy
from taurl.llm.client import BudgetExceededError
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.review.replay import Replayer
from taurl.sim.server import SimServer
from taurl.skyrl import ENV_ID, register
from taurl.skyrl.dataset import task_row
from taurl.skyrl.env import flush_recordings
from tests.test_live_path import block_network

MARKER = "1 Custom Data Way"
FAST_RETRY = {"attempts": 2, "initial_delay": 0.01, "max_delay": 0.02, "timeout": 5.0}


@pytest.fixture(scope="module", autouse=True)
def registered():
    register()


def make(task, env_config, generator_max_turns=30):
    """As SkyRL's generator: extras are the parquet row (less prompt and env_class) plus its max_turns."""
    row = task_row(task)
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    extras["max_turns"] = generator_max_turns
    return skyrl_gym.make(ENV_ID, env_config=DictConfig(env_config), extras=extras), row


def trajectory(env, row, texts):
    """SkyRL's agent loop: init, step until done or the texts run out (its length cut), get_metrics, close."""
    env.init(list(row["prompt"]))
    outputs = []
    for text in texts:
        outputs.append(env.step(text))
        if outputs[-1]["done"]:
            break
    metrics = env.get_metrics()
    env.close()
    return outputs, metrics


def oracle_texts(task):
    """The gold calls as Qwen2.5 <tool_call> text; the first written after a bogus call, so only
    ``pick: last`` runs it; then a reply that gives the outputs and tells the customer it is done."""
    calls = [format_tool_call(a) for a in task.actions if not a.is_respond]
    calls[0] = format_tool_call(Action("no_such_tool", {})) + "\n" + calls[0]
    return [*calls, f"{'; '.join(task.outputs)}. All done, anything else?"]


def custom_retail_data(directory):
    """The built-in retail tables with every address changed, so an observation shows which data ran."""
    source = get_domain("retail").builtin_data_dir
    shutil.copytree(source, directory)
    for table in ("users.json", "orders.json"):
        records = json.loads((directory / table).read_text())
        for record in records.values():
            record["address"]["address1"] = MARKER
        (directory / table).write_text(json.dumps(records))
    return directory


def test_a_training_recording_under_a_non_default_env_config_replays_identically(tmp_path, monkeypatch):
    tasks = [t for t in get_domain("retail").tasks("test") if len(t.actions) > 1 and t.outputs][:5]
    rec = tmp_path / "rec"
    with SimServer() as sim:
        config = {
            "user_strategy": "llm",
            "user_model": "sim-user",
            "user_base_url": sim.base_url,
            "cache_dir": str(tmp_path / "cache"),
            "recording_dir": str(rec),
            "reward_basis": "db+outputs",
            "data_dirs": {"retail": str(custom_retail_data(tmp_path / "retail"))},
            "independent_user_samples": True,
            "pick": "last",
            "run_id": "train",
            "user_retry": FAST_RETRY,
        }
        metrics = []
        for task in tasks[:3]:
            outputs, m = trajectory(*make(task, config), oracle_texts(task))
            assert outputs[-1]["done"] and outputs[-1]["reward"] == 1.0, outputs[-1]["metadata"]
            metrics.append(m)
        # SkyRL cuts this one at max_input_length: closed after two steps, never done
        outputs, m = trajectory(*make(tasks[3], config), oracle_texts(tasks[3])[:2])
        assert not outputs[-1]["done"]
        metrics.append(m)
        # the user simulator fails for good (every retry answered 500) when the policy replies
        env, row = make(tasks[4], config)
        env.init(list(row["prompt"]))
        sim.set_faults(["500"] * FAST_RETRY["attempts"])
        failed = env.step("Could you tell me your order number?")
        assert failed["done"] and failed["reward"] == 0.0 and failed["metadata"]["terminated_by"] == "error"
        metrics.append(env.get_metrics())
        env.close()
    flush_recordings()  # the process's writer batches trajectories: wait for them to be on disk

    store = RecordingStore(rec)
    _, rows = store.query("SELECT task_id, terminated_by, reward, steps, error FROM episodes ORDER BY task_id")
    ended = {task_id: (how, reward, steps) for task_id, how, reward, steps, _ in rows}
    assert len(rows) == 5
    assert [ended[t.id][0] for t in tasks] == ["user_stop"] * 3 + ["truncated", "error"]
    assert ended[tasks[3].id] == ("truncated", 0.0, 2)  # its partial trace
    assert ended[tasks[4].id][1] == 0.0 and "500" in rows[[r[0] for r in rows].index(tasks[4].id)][4]
    _, runs = store.query("SELECT run_id, config_json FROM runs")
    assert len(runs) == 1  # one run record for this process
    recorded = json.loads(runs[0][1])
    assert recorded["user_endpoint"]["model"] == "sim-user" and recorded["basis"] == "db+outputs"
    assert recorded["pick"] == "last" and recorded["env_config"]["data_dirs"] == config["data_dirs"]
    _, observed = store.query("SELECT count(*) FROM steps WHERE observation LIKE ?", [f"%{MARKER}%"])
    assert observed[0][0] > 0  # the custom data ran

    # every ending is 0 or 1 on every trajectory, so SkyRL's per-key mean is a rate
    endings = {f"ended_{how}" for how in TerminatedBy}
    assert all(endings <= set(m) and sum(m[k] for k in endings) == 1.0 for m in metrics)
    rates = default_aggregate_metrics(metrics)
    assert (rates["ended_user_stop"], rates["ended_truncated"], rates["ended_error"]) == (0.6, 0.2, 0.2)
    assert rates["env_errors"] == 0.2 and rates["reward"] == 0.6

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    attempts = block_network(monkeypatch)
    replays = list(Replayer(store).replay_all())
    assert len(replays) == 5
    assert all(r.identical for r in replays), [r.first.describe() for r in replays if r.first]
    assert attempts == []


def test_a_user_failing_in_init_ends_the_trajectory_at_its_first_step(tmp_path):
    task = get_domain("airline").tasks("test")[0]
    with SimServer(faults=["503"] * FAST_RETRY["attempts"]) as sim:
        config = {
            "user_strategy": "llm",
            "user_model": "sim-user",
            "user_base_url": sim.base_url,
            "cache_dir": str(tmp_path / "cache"),
            "recording_dir": str(tmp_path / "rec"),
            "user_retry": FAST_RETRY,
        }
        env, row = make(task, config)
        conversation, info = env.init(list(row["prompt"]))
        assert [m["role"] for m in conversation] == ["system"] and "503" in info["error"]
        out = env.step("Hello, how can I help?")
        assert out["done"] and out["reward"] == 0.0 and out["observations"] == []
        assert env.get_metrics()["env_errors"] == 1.0
        env.close()
    flush_recordings()
    _, rows = RecordingStore(tmp_path / "rec").query("SELECT terminated_by, reward, steps FROM episodes")
    assert rows == [("error", 0.0, 0)]  # recorded once


def test_a_spent_user_budget_is_recorded_then_stops_training(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-never-sent")
    task = get_domain("airline").tasks("test")[0]
    config = {
        "user_strategy": "llm",
        "user_model": "gpt-4o",
        "user_base_url": "http://127.0.0.1:9/v1",  # never reached: the budget refuses the call first
        "cache_dir": str(tmp_path / "cache"),
        "recording_dir": str(tmp_path / "rec"),
        "user_max_cost_usd": 1e-9,
        "run_id": "budget",
    }
    env, row = make(task, config)
    with pytest.raises(BudgetExceededError):
        env.init(list(row["prompt"]))
    env.close()
    flush_recordings()
    _, rows = RecordingStore(tmp_path / "rec").query("SELECT terminated_by, error FROM episodes")
    assert rows[0][0] == "error" and rows[0][1].startswith("BudgetExceededError")
