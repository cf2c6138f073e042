"""The ``tau_bench:<env>`` backend against a stand-in package with τ-bench's interface (tests/fake_tau_bench),
and, where the real τ-bench is installed, against its airline environment."""

import json
import shutil
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import skyrl_gym
import typer
from omegaconf import DictConfig
from typer.testing import CliRunner

from taurl.agent.parser import format_tool_call
from taurl.backends.tau_bench import PackageUser, UserSimulatorError, forget_package, package_reward
from taurl.cli import app
from taurl.cli.common import parse_data_dirs
from taurl.core.env import DomainEnv
from taurl.core.types import Action, ModelCall, Task, ToolKind
from taurl.domains import DataError
from taurl.episodes.config import Endpoint, RunConfig
from taurl.episodes.runner import execute
from taurl.llm.cache import CacheMode
from taurl.llm.client import Completion, RetryPolicy
from taurl.record.store import RecordingStore
from taurl.registry import get_domain, is_backend, known_domain
from taurl.review.replay import Replayer
from taurl.sim.server import SimServer
from taurl.skyrl import ENV_ID, register
from taurl.skyrl.dataset import task_row
from taurl.skyrl.env import flush_recordings
from taurl.users.scripted import ScriptedUser
from tests.test_live_path import block_network

FAKE = Path(__file__).parent / "fake_tau_bench"
SHOP = "tau_bench:shop"
INSTALL = "pip install git+https://github.com/sierra-research/tau-bench"
FAST_RETRY = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.05, timeout=5.0)


def drop_package() -> None:
    """Forget every imported tau_bench module and everything the backend built from one."""
    for name in [m for m in sys.modules if m == "tau_bench" or m.startswith("tau_bench.")]:
        del sys.modules[name]
    forget_package()


@pytest.fixture
def fake_package(monkeypatch):
    drop_package()
    monkeypatch.syspath_prepend(str(FAKE))
    yield
    drop_package()


@pytest.fixture
def shop(fake_package):
    return get_domain(SHOP)


# ---------------------------------------------------------------- names, errors, the domain


def test_without_the_package_a_backend_name_says_how_to_install_it(monkeypatch):
    drop_package()
    monkeypatch.setitem(sys.modules, "tau_bench", None)  # not importable, even where it is installed
    assert known_domain("tau_bench:airline") and is_backend("tau_bench:airline")
    assert not known_domain("tau_bench:") and not known_domain("nowhere")
    with pytest.raises(DataError) as info:
        get_domain("tau_bench:airline")
    assert INSTALL in str(info.value) and "nothing else" in str(info.value)
    result = CliRunner().invoke(app, ["run", "--domain", "tau_bench:airline"])
    assert result.exit_code == 2 and INSTALL in " ".join(result.output.split())


def test_unknown_environment_and_split_are_data_errors(fake_package):
    with pytest.raises(DataError, match="Unknown environment"):
        get_domain("tau_bench:nope")
    with pytest.raises(DataError, match="Unknown task split"):
        get_domain(SHOP).tasks("train")


def test_the_domain_is_the_packages_tools_policy_and_tasks(shop):
    from tau_bench.envs.shop.env import WIKI
    from tau_bench.envs.shop.tasks import TASKS
    from tau_bench.envs.shop.tools import ALL_TOOLS

    assert get_domain(SHOP) is shop and shop.policy == WIKI
    assert [t.openai_schema() for t in shop.tools] == [cls.get_info() for cls in ALL_TOOLS]
    assert {t.name: t.kind for t in shop.tools} == {
        "get_user_details": ToolKind.READ,
        "buy_item": ToolKind.WRITE,
        "transfer_to_human_agents": ToolKind.TERMINATE,
    }
    tasks = shop.tasks("test")
    assert [t.id for t in tasks] == ["0", "1", "2"]
    assert [(t.user_id, t.instruction, [a.to_dict() for a in t.actions], list(t.outputs)) for t in tasks] == [
        (p.user_id, p.instruction, [a.model_dump() for a in p.actions], p.outputs) for p in TASKS
    ]
    assert all(t.domain == SHOP and str(t.reward_basis) == "db+outputs" for t in tasks)


def test_calls_are_checked_against_the_packages_schema(shop):
    db = shop.database().fork()
    refused = shop.tools.invoke(db, Action("buy_item", {"user_id": "ada_lovelace_1815", "item_id": "sofa"}))
    assert refused.error == "bad_arguments" and "quantity" in refused.observation
    raised = shop.tools.invoke(db, Action("buy_item", {"user_id": "nobody", "item_id": "lamp", "quantity": 1}))
    assert (raised.observation, raised.error) == ("Error: 'nobody'", "tool_exception")
    assert db.diff(shop.database()) == []


# ---------------------------------------------------------------- the database


def test_episodes_get_private_copies_compared_by_taubench_canonical_form(shop):
    from tau_bench.envs.base import data_hash
    from tau_bench.envs.shop.data import load_data

    initial = shop.database()
    assert initial.state_hash() == data_hash(load_data())
    a, b = initial.fork(), initial.fork()
    a.data["items"]["kettle"]["stock"] = 3.0  # equal to 3 in Python, not in τ-bench's hash
    assert [(d.table, d.key, d.actual, d.expected) for d in a.diff(b)] == [
        ("items", "kettle", {"price": 12, "stock": 3.0}, {"price": 12, "stock": 3})
    ]
    assert a.touched() == {("items", "kettle")} and a.state_hash() != initial.state_hash()
    b.data["users"]["ada_lovelace_1815"] = dict(reversed(list(b["users"]["ada_lovelace_1815"].items())))
    assert b.diff(initial) == []  # key order is not part of the canonical form
    del b.data["users"]["alan_turing_1912"]
    assert [(d.key, d.actual) for d in b.diff(initial)] == [("alan_turing_1912", None)]
    assert type(initial["items"]["kettle"]["stock"]) is int and "alan_turing_1912" in initial["users"]
    with pytest.raises(ValueError, match="same base"):
        a.diff(shop.database(FAKE / "tau_bench/envs/shop/data"))


# ---------------------------------------------------------------- the reward


SCRIPTS = {
    "gold": [Action("buy_item", {"user_id": "alan_turing_1912", "item_id": "kettle", "quantity": 2})],
    "wrong quantity": [Action("buy_item", {"user_id": "alan_turing_1912", "item_id": "kettle", "quantity": 1})],
    "twice": [Action("buy_item", {"user_id": "alan_turing_1912", "item_id": "kettle", "quantity": 1})] * 2,
    "float balance": [Action("buy_item", {"user_id": "alan_turing_1912", "item_id": "lamp", "quantity": 1})],
    "tool error": [Action("buy_item", {"user_id": "alan_turing_1912", "item_id": "kettle", "quantity": 9})],
    "exception": [Action("buy_item", {"user_id": "nobody", "item_id": "kettle", "quantity": 2})],
    "transfer": [Action("transfer_to_human_agents", {"summary": "help"})],
    "nothing": [],
}


@pytest.mark.parametrize("task_id", ["0", "1", "2"])
@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("reply", ["Your balance is 100.", "Done."])
def test_taurl_reward_equals_the_packages_calculate_reward(shop, task_id, script, reply):
    task = next(t for t in shop.tasks() if t.id == task_id)
    env = DomainEnv(shop, ScriptedUser())
    env.reset(task)
    outcome = None
    for action in [*SCRIPTS[script], Action.respond(reply)]:
        outcome = env.step(action)
        if outcome.done:
            break
    assert outcome is not None and outcome.done
    assert outcome.reward.reward == package_reward(SHOP, task, env.actions)


def test_a_data_directory_replaces_the_packages_data(shop, tmp_path):
    data = tmp_path / "shop"
    shutil.copytree(FAKE / "tau_bench/envs/shop/data", data, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    users = json.loads((data / "users.json").read_text())
    users["alan_turing_1912"]["balance"] = 10  # too little for two kettles
    (data / "users.json").write_text(json.dumps(users))
    assert parse_data_dirs([f"{SHOP}={data}"]) == {SHOP: str(data)}
    with pytest.raises(typer.BadParameter):
        parse_data_dirs([f"nowhere={data}"])
    task = shop.tasks()[1]
    env = DomainEnv(shop, ScriptedUser(), data_dir=data)
    env.reset(task)
    assert env.step(SCRIPTS["gold"][0]).observation == "Error: balance too low"
    outcome = env.step(Action.respond("Done."))
    assert outcome.reward.reward == 1.0  # the gold cannot buy either: both leave the data as it was
    assert package_reward(SHOP, task, env.actions, data_dir=data) == 1.0
    assert shop.tasks("test", data) == shop.tasks("test")  # no tasks_test.json there: the package's


# ---------------------------------------------------------------- runs, recordings, replays


def test_oracle_and_silent_runs_record_replay_and_agree_with_the_package(shop, tmp_path, monkeypatch):
    recording = tmp_path / "rec"
    summaries = [
        execute(RunConfig(domain=SHOP, agent=agent, user="scripted", cache_dir=tmp_path / "cache"), recording)
        for agent in ("oracle", "silent")
    ]
    results = [r for s in summaries for r in s.results]
    assert not any(s.errors for s in summaries) and len(results) == 6
    assert [r.reward for r in results] == [package_reward(SHOP, r.task, r.actions) for r in results]
    assert [r.reward for r in sorted_results(summaries[0].results)] == [1.0, 1.0, 1.0]
    assert [r.reward for r in sorted_results(summaries[1].results)] == [0.0, 0.0, 1.0]  # 2: nothing to do
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    replayed = list(Replayer(RecordingStore(recording)).replay_all())
    assert len(replayed) == 6 and all(r.identical and not r.divergences for r in replayed), [
        r.first.describe() for r in replayed if r.first
    ]


def live_config(server_url, tmp_path, user="llm", mode=CacheMode.RECORD):
    return RunConfig(
        domain=SHOP,
        agent="tool-calling",
        agent_endpoint=Endpoint("sim-agent", server_url),
        user=user,
        user_endpoint=Endpoint("sim-user", server_url),
        cache_mode=mode,
        cache_dir=tmp_path / "cache",
        retry=FAST_RETRY,
    )


def transcript(results):
    return {(r.task.id, r.trial): (r.messages, r.reward, str(r.terminated_by)) for r in sorted_results(results)}


def sorted_results(results):
    return sorted(results, key=lambda r: (r.task.id, r.trial))


@pytest.mark.parametrize("strategy", ["llm", "react"])
def test_the_packages_llm_user_talks_through_the_chat_client_and_replays_offline(shop, tmp_path, monkeypatch, strategy):
    with SimServer() as server:
        base_url = server.base_url
        recorded = execute(live_config(base_url, tmp_path, strategy), tmp_path / "rec", concurrency=3)
    assert not recorded.errors and len(recorded.results) == 3
    for result in recorded.results:
        calls = [c for c in result.model_calls if c.namespace == "user"]
        assert len(calls) >= 2 and not any(c.cache_hit for c in calls)
        opening = calls[0].request["messages"][0]["content"]
        assert f"Instruction: {result.task.instruction}" in opening  # the package's own prompt, never a warm-up
        assert result.reward == package_reward(SHOP, result.task, result.actions)
    assert [r.reward for r in sorted_results(recorded.results)] == [1.0, 0.0, 1.0]

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    attempts = block_network(monkeypatch)
    replayed = list(Replayer(RecordingStore(tmp_path / "rec")).replay_all())
    assert len(replayed) == 3 and all(r.identical for r in replayed), [r.first.describe() for r in replayed if r.first]
    again = execute(live_config(base_url, tmp_path, strategy, CacheMode.REPLAY), concurrency=3)
    assert transcript(again.results) == transcript(recorded.results)
    assert all(c.cache_hit for r in again.results for c in r.model_calls if c.namespace == "user")
    assert attempts == []


# ---------------------------------------------------------------- the user simulator itself


class StubClient:
    """A ChatClient stand-in: answers with ``reply(messages, sample_index)``, remembers every request."""

    model = "stub"

    def __init__(self, reply, barrier=None):
        self.reply = reply
        self.barrier = barrier
        self.requests = []

    def complete(self, messages, tools=None, namespace="default", sample_index=0):
        if self.barrier is not None:
            self.barrier.wait(timeout=5)
        self.requests.append((messages, namespace, sample_index))
        content = self.reply(messages, sample_index)
        call = ModelCall("k", namespace, self.model, sample_index, {}, {}, False, cost_usd=0.25)
        return Completion({"role": "assistant", "content": content}, call)


def stub_task(instruction="You want a kettle."):
    return Task(id="0", domain=SHOP, instruction=instruction)


def test_the_strategy_picks_the_packages_class_and_the_warm_up_asks_no_model(fake_package):
    import tau_bench.envs.user as package_user

    client = StubClient(lambda messages, index: "Thought:\nhmm\nUser Response:\nI want a kettle.")
    user = PackageUser(client, "react")
    assert user.reset(stub_task()) == "I want a kettle."  # the package's ReactUser parsed it
    ((messages, namespace, _),) = client.requests  # the constructor's warm-up asked no model
    system = messages[0]["content"]
    assert "Instruction: You want a kettle." in system and "User Response:" in system
    assert [c.namespace for c in user.calls] == [namespace] == ["user"] and user.cost_usd == 0.25
    with pytest.raises(RuntimeError, match="stand-in litellm"):  # outside an episode: the package's own
        package_user.completion(model="x", messages=[])


def test_a_repeated_request_is_a_new_draw(fake_package):
    client = StubClient(lambda messages, index: "" if index == 10 else f"answer {index}")
    user = PackageUser(client, "verify", sample_index=10)
    assert user.reset(stub_task()) == "answer 11"
    assert [index for _, _, index in client.requests] == [10, 11]
    assert client.requests[0][0] == client.requests[1][0]


def test_a_reply_the_package_cannot_parse_fails_the_episode_not_the_run(fake_package):
    user = PackageUser(StubClient(lambda messages, index: "no format at all"), "react")
    with pytest.raises(UserSimulatorError, match="Invalid response format"):
        user.reset(stub_task())


def test_concurrent_users_each_get_their_own_answers(fake_package):
    barrier = threading.Barrier(2)  # both users are inside the package's completion at once
    users = [
        PackageUser(StubClient(lambda messages, index, name=name: f"I am {name}.", barrier), "llm")
        for name in ("first", "second")
    ]
    openings = {}

    def run(index):
        openings[index] = [users[index].reset(stub_task()), users[index].step("Anything else?")]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert openings == {0: ["I am first."] * 2, 1: ["I am second."] * 2}


# ---------------------------------------------------------------- SkyRL and dataset conversion


def test_the_skyrl_env_runs_a_backend_task(shop, tmp_path):
    register()
    task = shop.tasks()[1]
    row = task_row(task)
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    env = skyrl_gym.make(ENV_ID, env_config=DictConfig({"recording_dir": str(tmp_path / "rec")}), extras=extras)
    conversation, _ = env.init(list(row["prompt"]))
    assert conversation[-1] == {"role": "user", "content": task.instruction}
    for text in [format_tool_call(a) for a in task.actions] + ["Done."]:
        out = env.step(text)
    assert out["done"] and out["reward"] == 1.0
    assert out["reward"] == package_reward(SHOP, task, [s.action for s in env.trace])
    env.close()
    flush_recordings()  # the process's writer batches trajectories: close() does not wait for it
    _, rows = RecordingStore(tmp_path / "rec").query("SELECT domain, reward FROM episodes")
    assert rows == [(SHOP, 1.0)]


def test_the_skyrl_env_uses_the_packages_user_for_an_llm_strategy(shop):
    register()
    row = task_row(shop.tasks()[0])
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    with SimServer() as server:
        config = {"user_strategy": "llm", "user_model": "sim-user", "user_base_url": server.base_url}
        env = skyrl_gym.make(ENV_ID, env_config=DictConfig({**config, "cache_mode": "off"}), extras=extras)
        conversation, _ = env.init(list(row["prompt"]))
    assert isinstance(env.user, PackageUser)
    assert conversation[-1]["content"] == "My user id is ada_lovelace_1815."


def test_data_convert_writes_the_packages_tasks_for_skyrl(fake_package, tmp_path):
    result = CliRunner().invoke(app, ["data", "convert", "--domain", SHOP, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "3 task(s): " in result.output and "0 rejected" in result.output


# ---------------------------------------------------------------- the real package, where installed


def test_real_taubench_airline_gold_scores_one_by_both_rewards():
    drop_package()  # the stand-in may have been imported by an earlier test
    package = pytest.importorskip("tau_bench")
    if FAKE in Path(package.__file__).parents:
        pytest.skip("only the stand-in is importable")
    domain = get_domain("tau_bench:airline")
    assert len(domain.tools) == 14 and domain.tools["transfer_to_human_agents"].kind is ToolKind.TERMINATE
    for task in domain.tasks("test")[:5]:
        env = DomainEnv(domain, ScriptedUser())
        env.reset(task)
        actions = [a for a in task.actions if domain.tools[a.name].kind is not ToolKind.TERMINATE]
        outcome = None
        for action in [*actions, Action.respond("; ".join(task.outputs) or "Done.")]:
            outcome = env.step(action)
        assert outcome.done and outcome.reward.reward == 1.0
        assert package_reward("tau_bench:airline", task, env.actions) == 1.0
        wrong = replace(task, outputs=(*task.outputs, "an output nobody says"))
        assert package_reward("tau_bench:airline", wrong, env.actions) == 0.0
