"""τ-bench's own tasks and runs, scored by taurl (skipped where ../shared/taubench is absent)."""

import pytest

from taurl.agent.oracle import OracleAgent
from taurl.agent.silent import SilentAgent
from taurl.core.domain import UserSimulator
from taurl.core.env import DomainEnv
from taurl.core.reward import RewardConfig
from taurl.core.types import RewardBasis, TerminatedBy
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.registry import get_domain
from taurl.users.scripted import ScriptedUser
from tests.conftest import TAUBENCH, require

pytestmark = pytest.mark.shared_data

SPLITS = [("airline", "test", 50), ("retail", "test", 115), ("retail", "train", 500), ("retail", "dev", 20)]


def episodes(domain_name, split, agent_class, basis=None):
    data_dir = require(TAUBENCH / domain_name)
    tasks = get_domain(domain_name).tasks(split, data_dir)
    config = RolloutConfig({domain_name: data_dir}, reward=RewardConfig(basis=basis))
    return tasks, [run_episode(EpisodeSpec(t), agent_class(), ScriptedUser(), config) for t in tasks]


@pytest.mark.parametrize("domain_name, split, count", SPLITS)
def test_oracle_scores_one_on_every_tau_bench_task(domain_name, split, count):
    tasks, results = episodes(domain_name, split, OracleAgent)
    assert len(tasks) == count
    failed = [(r.task.id, r.breakdown) for r in results if r.reward != 1.0]
    assert not failed, failed[:3]


@pytest.mark.parametrize(
    "domain_name, full, hash_only",
    [("retail", 7, 11), ("airline", 19, 20)],
)
def test_do_nothing_pass_rate_matches_tau_bench(domain_name, full, hash_only):
    """A silent agent passes where the gold changes nothing (and no output is expected)."""
    _, results = episodes(domain_name, "test", SilentAgent, RewardBasis.DB_OUTPUTS)
    assert sum(r.reward for r in results) == full
    assert sum(r.breakdown.db_match for r in results) == hash_only


def test_historical_gpt4o_runs_reproduce_their_recorded_rewards():
    """Replaying the tool calls τ-bench executed (first call of each assistant message) and scoring the
    final state under db+outputs gives each run's recorded reward."""
    from taurl.importers.taubench import load_results

    data_dir = require(TAUBENCH / "airline")
    runs = load_results(require(TAUBENCH / "airline" / "historical_gpt-4o_sample.json"), "airline")
    assert len(runs) == 40
    domain = get_domain("airline")
    mismatches = []
    for run in runs:
        env = DomainEnv(domain, _RecordedUser(run.user_messages), data_dir, max_steps=10_000)
        env.reset(run.task)
        outcome = None
        for action in run.executed_actions:
            outcome = env.step(action)
            if outcome.done:
                break
        # a run that ended without a stop (τ-bench's step limit) is scored on its final state
        breakdown = outcome.reward if outcome and outcome.done else env.finish(TerminatedBy.MAX_STEPS)
        if breakdown.reward != run.reward:
            mismatches.append((run.task.id, run.trial, run.reward, breakdown.reward, breakdown.db_diff[:1]))
    assert not mismatches, mismatches


def test_tau_bench_gold_hashes_come_from_the_environment_path():
    """The env's gold state for a τ-bench task hashes to the task's gold_data_hash (spot check)."""
    data_dir = require(TAUBENCH / "retail")
    domain = get_domain("retail")
    task = domain.tasks("test", data_dir)[5]
    env = DomainEnv(domain, ScriptedUser(), data_dir)
    env.reset(task)
    for action in task.actions:
        env.step(action)
    assert env.db.state_hash() == task.metadata["gold_data_hash"]


class _RecordedUser(UserSimulator):
    def __init__(self, messages):
        self.messages = list(messages)

    def reset(self, task):
        return self.messages.pop(0) if self.messages else ""

    def step(self, agent_message):
        return self.messages.pop(0) if self.messages else "###STOP###"
