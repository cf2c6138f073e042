"""The Tinker loop's arithmetic, without the tinker SDK: group advantages (GRPO, Dr. GRPO, RLOO), groups
without signal, which tasks a step takes, sampling seeds, and a trajectory's datum (only agent tokens weighted)."""

import math

import pytest

from taurl.core.types import Task
from taurl.tinker.advantages import Estimator, Summary, group_advantages
from taurl.tinker.batches import sample_seed, step_tasks
from taurl.tinker.policy import TokenTrajectory
from taurl.tinker.update import datum_inputs, grad_norm, loss_config


def test_grpo_normalises_by_the_group_mean_and_sample_std():
    found = group_advantages([1.0, 0.0, 0.0, 1.0], Estimator.GRPO)
    a = 0.5 / (math.sqrt(4 * 0.25 / 3) + 1e-6)  # deviation over the sample standard deviation of 1, 0, 0, 1
    assert found.signal
    assert found.advantages == pytest.approx([a, -a, -a, a])


def test_dr_grpo_only_centres_and_rloo_leaves_one_out():
    rewards = [1.0, 0.5, 0.0]
    assert group_advantages(rewards, "dr_grpo").advantages == pytest.approx([0.5, 0.0, -0.5])
    # r_i minus the mean of the other two
    assert group_advantages(rewards, "rloo").advantages == pytest.approx([1.0 - 0.25, 0.5 - 0.5, 0.0 - 0.75])


@pytest.mark.parametrize("estimator", list(Estimator))
def test_a_group_with_equal_rewards_has_no_signal_and_exactly_zero_advantages(estimator):
    for rewards in ([1.0, 1.0, 1.0, 1.0], [0.0, 0.0], [0.3, 0.3 + 1e-12, 0.3]):
        found = group_advantages(rewards, estimator)
        assert not found.signal
        assert found.advantages == [0.0] * len(rewards)
        assert all(type(a) is float for a in found.advantages)


def test_unfinished_samples_are_left_out_of_their_group():
    found = group_advantages([1.0, None, 0.0, None], "dr_grpo")
    assert found.advantages == [0.5, None, -0.5, None]
    # one finished sample alone has nothing to be compared with
    lonely = group_advantages([None, 1.0, None], "grpo")
    assert not lonely.signal and lonely.advantages == [None, 0.0, None]


def test_an_unknown_estimator_is_refused():
    with pytest.raises(ValueError):
        group_advantages([0.0, 1.0], "ppo")


def test_summary_statistics():
    s = Summary.of([1.0, 3.0])
    assert (s.mean, s.std, s.min, s.max) == (2.0, 1.0, 1.0, 3.0)
    assert Summary.of([]) == Summary(None, None, None, None)


def tasks(n: int) -> list[Task]:
    return [Task(id=f"t{i}", domain="airline", split="train", user_id=None, instruction=f"task {i}") for i in range(n)]


def test_each_step_takes_distinct_tasks_and_an_epoch_covers_the_set():
    pool = tasks(7)
    epoch = [step_tasks(pool, step, 2, seed=3) for step in (1, 2, 3)]  # 7 // 2 = 3 steps an epoch
    ids = [t.id for batch in epoch for t in batch]
    assert all(len(batch) == 2 for batch in epoch)
    assert len(set(ids)) == 6  # one task waits for a later epoch
    # a function of the seed alone: a resumed run takes the same tasks
    assert [t.id for t in step_tasks(pool, 2, 2, seed=3)] == [t.id for t in epoch[1]]
    # the next epoch is another shuffle of the whole set
    later = [t.id for s in (4, 5, 6) for t in step_tasks(pool, s, 2, seed=3)]
    assert len(set(later)) == 6 and later != ids
    assert [t.id for s in (1, 2, 3) for t in step_tasks(pool, s, 2, seed=4)] != ids  # another seed, another order


def test_a_batch_larger_than_the_task_set_is_refused():
    with pytest.raises(ValueError, match=r"3 distinct tasks \(--tasks-per-step\), and the task set has 2"):
        step_tasks(tasks(2), 1, 3, seed=0)


def test_sample_seeds_are_stable_and_differ_by_place():
    assert sample_seed(0, "train", 1, 0, 0, 0) == sample_seed(0, "train", 1, 0, 0, 0)
    seeds = {sample_seed(0, "train", 1, g, s, 0) for g in range(4) for s in range(8)}
    assert len(seeds) == 32 and all(0 <= x < 2**31 for x in seeds)
    assert sample_seed(1, "train", 1, 0, 0, 0) != sample_seed(0, "train", 1, 0, 0, 0)


def test_a_datum_weights_only_the_agent_tokens_and_is_shifted_by_one():
    t = TokenTrajectory()
    t.extend([10, 11, 12])  # prompt
    t.extend([20, 21], [-0.5, -1.5])  # sampled
    t.extend([13, 14])  # observation
    t.extend([22], [-2.0])  # sampled
    model_input, inputs = datum_inputs(t, advantage=2.0)
    assert model_input == [10, 11, 12, 20, 21, 13, 14]
    assert inputs["target_tokens"] == [11, 12, 20, 21, 13, 14, 22]
    assert inputs["weights"] == [0, 0, 1, 1, 0, 0, 1]
    assert inputs["logprobs"] == [0, 0, -0.5, -1.5, 0, 0, -2.0]
    assert inputs["advantages"] == [0, 0, 2.0, 2.0, 0, 0, 2.0]
    assert t.agent_tokens == 3 and t.sampled_logprob == -4.0


def test_loss_config_and_grad_norm_metric():
    assert loss_config("importance_sampling", 0.2) is None
    assert loss_config("ppo", 0.2) == pytest.approx({"clip_low_threshold": 0.8, "clip_high_threshold": 1.2})
    with pytest.raises(ValueError):
        loss_config("cross_entropy", 0.2)
    assert grad_norm({"skyrl.ai/grad_norm": 0.5, "skyrl.ai/learning_rate": 1e-3}) == 0.5
    assert grad_norm({"grad_norm:mean": 2.0}) == 2.0
    assert grad_norm({"loss": 1.0}) is None
