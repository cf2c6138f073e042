"""The tau_bench SkyRL environment through skyrl-gym's real registry, as SkyRL's generator drives it."""

import json
import os
import subprocess
import sys

import pytest
import skyrl_gym
from omegaconf import DictConfig

from taurl.agent.parser import format_tool_call
from taurl.core.types import RewardBasis
from taurl.domains import DOMAIN_NAMES
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.skyrl import ENV_ID, register
from taurl.skyrl.dataset import task_row
from taurl.skyrl.env import close_recording_writers, flush_recordings
from tests.conftest import REPO


@pytest.fixture(scope="module", autouse=True)
def registered():
    register()
    register()  # safe to call twice


def make(row, generator_max_turns=30, **config):
    """As SkyRL's generator: extras are the parquet row plus the generator's max_turns."""
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    extras["max_turns"] = generator_max_turns
    return skyrl_gym.make(ENV_ID, env_config=DictConfig(config), extras=extras)


def play(env, row, texts):
    conversation, _ = env.init(list(row["prompt"]))
    assert conversation[-1]["role"] == "user"
    outputs = []
    for text in texts:
        out = env.step(text)
        outputs.append(out)
        if out["done"]:
            break
    return conversation, outputs


def gold_texts(task):
    replies = "; ".join(task.outputs) or "Done."
    return [format_tool_call(a) for a in task.actions if not a.is_respond] + [replies]


def pick_tasks(domain_name):
    tasks = get_domain(domain_name).tasks("test")
    writes = [t for t in tasks if not t.metadata.get("refusal") and len(t.actions) > 1]
    reads = [t for t in tasks if t.outputs]
    return [writes[0], *(reads[:1])]


@pytest.mark.parametrize("domain_name", DOMAIN_NAMES)
def test_oracle_written_as_qwen_tool_calls_scores_one_in_every_domain(domain_name):
    for task in pick_tasks(domain_name):
        row = task_row(task)
        env = make(row)
        _, outputs = play(env, row, gold_texts(task))
        final = outputs[-1]
        assert final["done"] and final["reward"] == 1.0, (task.id, final["metadata"])
        for out in outputs[:-1]:
            (observation,) = out["observations"]
            assert observation["role"] == "tool" and not observation["content"].startswith("Error")
        assert final["metadata"]["reward_breakdown"]["reward"] == 1.0
        metrics = env.get_metrics()
        assert metrics["reward"] == 1.0 and metrics["parse_errors"] == 0
        assert metrics["tool_calls"] == len([a for a in task.actions if not a.is_respond])


@pytest.mark.parametrize("domain_name", DOMAIN_NAMES)
def test_a_silent_agent_scores_what_the_basis_says(domain_name):
    task = pick_tasks(domain_name)[0]
    row = task_row(task)
    for basis, expected in ((RewardBasis.AUTO, 0.0), (RewardBasis.ACTIONS, 0.0)):
        env = make(row, reward_basis=str(basis))
        _, outputs = play(env, row, ["Sorry, I cannot help with that."])
        assert outputs[-1]["done"] and outputs[-1]["reward"] == expected
    env = make(row, reward_basis="db+outputs")
    _, outputs = play(env, row, ["Sorry, I cannot help with that."])
    breakdown = outputs[-1]["metadata"]["reward_breakdown"]
    assert outputs[-1]["reward"] == float(not breakdown["gold_changes_db"] and not task.outputs)


@pytest.mark.parametrize(("generator_max_turns", "env_max_turns"), [(2, 50), (50, 2), (2, None)])
def test_the_smaller_of_the_generators_and_the_env_configs_max_turns_wins(generator_max_turns, env_max_turns):
    task = pick_tasks("retail")[0]
    row = task_row(task)
    env = make(row, generator_max_turns=generator_max_turns, max_turns=env_max_turns)
    _, outputs = play(env, row, gold_texts(task))
    assert len(outputs) == 2 and outputs[-1]["done"]
    assert outputs[-1]["metadata"]["terminated_by"] == "max_steps"
    assert env.get_metrics()["ended_max_steps"] == 1.0


def test_malformed_calls_get_a_parse_error_observation_and_plain_text_reaches_the_user():
    task = pick_tasks("retail")[0]
    row = task_row(task)
    env = make(row)
    conversation, outputs = play(env, row, ['<tool_call>{"name": "get_order_details", "arguments": {"order_id": '])
    (observation,) = outputs[0]["observations"]
    assert observation["role"] == "tool" and observation["content"].startswith("Error: ")
    assert not outputs[0]["done"]
    final = env.step("Thanks, all done.")
    assert final["done"]  # the scripted user stops at the first reply
    assert env.get_metrics()["parse_errors"] == 1


def test_defaults_run_offline_and_unknown_config_keys_are_refused():
    row = task_row(pick_tasks("retail")[0])
    env = make(row)
    assert env.settings["user_strategy"] == "scripted" and env.settings["recording_dir"] is None
    with pytest.raises(ValueError, match="unknown tau_bench env_config key"):
        make(row, user_stratgy="llm")


def test_episodes_are_recorded_in_batches_not_a_segment_each(tmp_path):
    rec = tmp_path / "rec"
    task = pick_tasks("retail")[0]
    row = task_row(task)
    for _ in range(5):  # five trajectories of one task: five episodes (trials)
        env = make(row, recording_dir=str(rec), run_id="skyrl-test")
        play(env, row, gold_texts(task))
        env.close()
    flush_recordings()
    _, rows = RecordingStore(rec).query(
        "SELECT count(DISTINCT trial), any_value(task_id), count(DISTINCT task_id), min(reward), any_value(agent) "
        "FROM episodes"
    )
    assert rows == [(5, task.id, 1, 1.0, "skyrl-policy")]
    _, steps = RecordingStore(rec).query("SELECT DISTINCT steps FROM episodes")
    assert steps == [(len(gold_texts(task)),)]
    _, msgs = RecordingStore(rec).query(
        "SELECT role FROM messages WHERE trial = (SELECT min(trial) FROM episodes) ORDER BY idx"
    )
    assert [m[0] for m in msgs][:2] == ["system", "user"]
    # closing a trajectory wrote no segment of its own: batched, or merged when the writer closes
    close_recording_writers()
    assert len(list(rec.glob("episodes-*.parquet"))) < 5
    assert RecordingStore(rec).query("SELECT count(*) FROM episodes")[1] == [(5,)]


def test_a_process_that_exits_without_flushing_keeps_every_trajectory(tmp_path):
    rec = tmp_path / "rec"
    script = (
        "import sys\n"
        "from tests.test_skyrl_env import gold_texts, make, pick_tasks, play\n"
        "from taurl.skyrl import register\n"
        "from taurl.skyrl.dataset import task_row\n"
        "register()\n"
        "task = pick_tasks('retail')[0]\n"
        "row = task_row(task)\n"
        "for _ in range(3):\n"
        "    env = make(row, recording_dir=sys.argv[1], run_id='exits')\n"
        "    play(env, row, gold_texts(task))\n"
        "    env.close()\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(rec)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    _, rows = RecordingStore(rec).query("SELECT count(*), count(DISTINCT trial), min(reward) FROM episodes")
    assert rows == [(3, 3, 1.0)]


@pytest.mark.slow
def test_env_workers_in_ray_processes_record_each_episode_once(tmp_path):
    ray = pytest.importorskip("ray")
    rec = str(tmp_path / "rec")
    tasks = get_domain("retail").tasks("train")[:12]
    rows = [task_row(t) for t in tasks]
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        ignore_reinit_error=True,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": os.getcwd()}},
    )
    try:

        @ray.remote
        def rollout(batch):
            from taurl.skyrl import register
            from taurl.skyrl.env import close_recording_writers, task_from_extras
            from tests.test_skyrl_env import gold_texts, make, play

            register()
            for row in batch:
                env = make(row, recording_dir=rec, run_id="ray")
                play(env, row, gold_texts(task_from_extras(row)))
                env.close()
            close_recording_writers()  # ray.shutdown() ends workers without their exit handlers
            return os.getpid()

        pids = ray.get([rollout.remote(rows[i::4]) for i in range(4)])
    finally:
        ray.shutdown()
    assert len(set(pids)) >= 2
    _, result = RecordingStore(rec).query(
        "SELECT count(*), count(DISTINCT episode_id), count(DISTINCT task_id), min(reward) FROM episodes"
    )
    assert result == [(12, 12, 12, 1.0)]


def test_dataset_rows_keep_ground_truth_as_a_json_string():
    task = pick_tasks("retail")[0]
    row = task_row(task)
    assert isinstance(row["reward_spec"]["ground_truth"], str)
    truth = json.loads(row["reward_spec"]["ground_truth"])
    assert [a["name"] for a in truth["actions"]] == [a.name for a in task.actions]
    assert row["env_class"] == "tau_bench" and row["extra_info"]["task_id"] == task.id
    assert row["data_source"] == "retail"  # SkyRL's eval metrics per data source: eval/retail/...


def test_a_row_keeps_what_its_domain_carries_in_metadata_and_older_rows_still_decode():
    from taurl.skyrl.rows import task_from_extras

    def row(truth):
        info = {"domain": "tau2:telecom", "task_id": "t", "instruction": "hi"}
        return {
            "extra_info": info,
            "reward_spec": {"ground_truth": json.dumps({"actions": [], "outputs": [], **truth})},
        }

    form = {"id": "t", "evaluation_criteria": {"actions": []}}
    assert task_from_extras(row({"metadata": {"tau2_task": form}})).metadata == {"tau2_task": form}
    assert task_from_extras(row({"tau2_task": form})).metadata == {"tau2_task": form}  # converted before `metadata`
    assert task_from_extras(row({})).metadata == {}
