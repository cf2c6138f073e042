import pytest

from taurl.agent.oracle import OracleAgent
from taurl.agent.silent import SilentAgent
from taurl.core.env import DomainEnv, EpisodeStateError
from taurl.core.reward import InvalidTaskError, RewardConfig, output_found
from taurl.core.types import Action, RewardBasis, Task, TerminatedBy
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, pass_hat_k, run_episode
from taurl.users.scripted import ScriptedUser


def task(actions, outputs=(), basis=RewardBasis.AUTO, tid="t"):
    return Task(
        id=tid,
        domain="counter",
        instruction="Please help.",
        actions=tuple(actions),
        outputs=tuple(outputs),
        reward_basis=basis,
    )


WRITE = task([Action("get_counter", {"counter_id": "a"}), Action("add", {"counter_id": "a", "amount": 2})])
READ = task([Action("get_counter", {"counter_id": "b"}), Action("think", {"thought": "x"})], outputs=["5"])
NOTHING = task([])


def play(domain, t, agent, **config):
    return run_episode(EpisodeSpec(t), agent, ScriptedUser(), RolloutConfig(**config), domain=domain)


def test_oracle_scores_one_and_silent_scores_zero_on_a_write_task(counter_domain):
    good = play(counter_domain, WRITE, OracleAgent())
    assert good.reward == 1.0 and good.breakdown.basis is RewardBasis.DB_OUTPUTS and good.breakdown.gold_changes_db
    assert good.terminated_by is TerminatedBy.USER_STOP
    silent = play(counter_domain, WRITE, SilentAgent())
    assert silent.reward == 0.0 and not silent.breakdown.db_match
    (diff,) = silent.breakdown.db_diff
    assert (diff.table, diff.key, diff.actual, diff.expected) == (
        "counters",
        "a",
        {"id": "a", "value": 1},
        {"id": "a", "value": 3},
    )


def test_auto_basis_uses_action_matching_where_gold_changes_nothing(counter_domain):
    good = play(counter_domain, READ, OracleAgent())
    assert good.breakdown.basis is RewardBasis.DB_OUTPUTS_ACTIONS and good.reward == 1.0
    assert good.breakdown.actions_matched == (0,)  # the think action is not scored
    silent = play(counter_domain, READ, SilentAgent())
    assert silent.reward == 0.0 and silent.breakdown.outputs_missing == ("5",)
    under_tau_bench = play(counter_domain, READ, SilentAgent(), reward=RewardConfig(basis=RewardBasis.DB_OUTPUTS))
    assert under_tau_bench.breakdown.db_match and under_tau_bench.reward == 0.0  # outputs still gate


def test_auto_basis_on_a_read_only_task_fails_an_agent_that_changes_the_database(counter_domain):
    """A refusal task: the right answer looks up and changes nothing; making the change scores 0."""
    from taurl.agent.base import Agent, native_turn
    from taurl.core import messages as msg

    class Overreacher(Agent):
        def __init__(self):
            self.turns = [Action("get_counter", {"counter_id": "b"}), Action("add", {"counter_id": "b", "amount": 1})]

        def start(self, task, tools, policy):
            return msg.system(policy)

        def next_turn(self, messages):
            if self.turns:
                return native_turn(msg.assistant_tool_call(self.turns.pop(0), f"c{len(self.turns)}"))
            return native_turn(msg.assistant_text("Done, and the counter is 5."))

    result = play(counter_domain, READ, Overreacher())
    assert result.breakdown.actions_score == 1.0 and not result.breakdown.db_match and result.reward == 0.0


def test_no_gold_actions_is_flagged_trivially_passable(counter_domain):
    result = play(counter_domain, NOTHING, SilentAgent())
    assert result.reward == 1.0 and result.breakdown.trivially_passable


def test_partial_action_match_is_a_fraction_and_order_insensitive(counter_domain):
    gold = task(
        [Action("get_counter", {"counter_id": "a"}), Action("get_counter", {"counter_id": "b"})],
        basis=RewardBasis.ACTIONS,
    )
    env = DomainEnv(counter_domain, ScriptedUser(), reward=RewardConfig())
    env.reset(gold)
    env.step(Action("get_counter", {"counter_id": "b"}))
    env.step(Action("get_counter", {"counter_id": "b"}))  # a second identical call matches nothing more
    outcome = env.step(Action.respond("done"))
    assert outcome.done and outcome.reward.actions_score == 0.5
    assert outcome.reward.actions_matched == (1,) and outcome.reward.actions_missing == (0,)


def test_combined_basis_needs_db_outputs_and_actions(counter_domain):
    t = task(WRITE.actions, basis=RewardBasis.DB_OUTPUTS_ACTIONS)
    env = DomainEnv(counter_domain, ScriptedUser())
    env.reset(t)
    env.step(Action("add", {"counter_id": "a", "amount": 2}))  # right state, lookup skipped
    outcome = env.step(Action.respond("ok"))
    assert outcome.reward.db_match and outcome.reward.reward == 0.5


def test_transfer_ends_the_episode_and_reward_is_computed(counter_domain):
    env = DomainEnv(counter_domain, ScriptedUser())
    env.reset(WRITE)
    env.step(Action("add", {"counter_id": "a", "amount": 2}))
    outcome = env.step(Action("transfer_to_human_agents", {"summary": "help"}))
    assert outcome.done and outcome.terminated_by is TerminatedBy.TRANSFER and outcome.reward.reward == 1.0
    with pytest.raises(EpisodeStateError):
        env.step(Action.respond("hello?"))


def test_max_steps_ends_the_episode_and_can_score_zero(counter_domain):
    for zero, expected in ((False, 1.0), (True, 0.0)):
        env = DomainEnv(counter_domain, ScriptedUser(), max_steps=2, reward=RewardConfig(zero_on_max_steps=zero))
        env.reset(WRITE)
        assert not env.step(Action("add", {"counter_id": "a", "amount": 2})).done
        outcome = env.step(Action("get_counter", {"counter_id": "a"}))
        assert outcome.terminated_by is TerminatedBy.MAX_STEPS and outcome.reward.reward == expected


def test_invalid_gold_actions_make_the_task_invalid(counter_domain):
    env = DomainEnv(counter_domain, ScriptedUser())
    for bad, words in (
        (Action("no_such_tool", {}), "gold action 0 (no_such_tool) is invalid: unknown tool"),
        (Action("add", {"counter_id": "a"}), "gold action 0 (add) is invalid: missing required argument(s) amount"),
    ):
        env.reset(task([bad], tid=words))
        with pytest.raises(
            InvalidTaskError, match=r"task counter/.*" + words.split(":")[0].replace("(", r"\(").replace(")", r"\)")
        ):
            env.step(Action.respond("hi"))


def test_gold_actions_that_answer_an_error_are_valid(counter_domain):
    t = task([Action("get_counter", {"counter_id": "missing"})], basis=RewardBasis.DB_OUTPUTS)
    result = play(counter_domain, t, OracleAgent())
    assert result.reward == 1.0


def test_bad_agent_calls_do_not_end_the_episode_or_change_state(counter_domain):
    env = DomainEnv(counter_domain, ScriptedUser())
    env.reset(WRITE)
    outcome = env.step(Action("add", {"counter_id": "a", "amount": "two"}))
    assert not outcome.done and outcome.observation.startswith("Error: amount must be integer")
    assert env.db.touched() == set()


def test_outputs_rule_is_tau_benchs_substring_check():
    assert output_found("1,000", ["It costs 1,000"]) is False  # τ-bench removes commas from the reply only
    assert output_found("1000", ["It costs 1,000"]) is True
    assert output_found("Refund", ["your refund is on its way"]) is True


def test_pass_hat_k():
    assert pass_hat_k([2, 0], trials=2, k=1) == 0.5
    assert pass_hat_k([2, 1], trials=2, k=2) == 0.5


def test_episode_messages_follow_the_openai_schema(counter_domain):
    result = play(counter_domain, WRITE, OracleAgent())
    roles = [m["role"] for m in result.messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant", "tool", "assistant", "user"]
    assert result.messages[3]["tool_call_id"] == result.messages[2]["tool_calls"][0]["id"]
    assert result.messages[-1]["content"] == "###STOP###"


def test_native_call_arguments_that_are_not_a_json_object_are_a_parse_error():
    from taurl.core.messages import action_of

    def message(arguments):
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "add", "arguments": arguments}}],
        }

    broken = action_of(message('{"counter_id": "a", '))
    assert (
        broken.is_parse_error
        and "not valid JSON" in broken.kwargs["error"]
        and broken.kwargs["raw"] == '{"counter_id": "a", '
    )
    listed = action_of(message("[1, 2]"))
    assert listed.is_parse_error and "must be a JSON object" in listed.kwargs["error"]
    assert action_of(message('{"counter_id": "a", "amount": 1}')) == Action("add", {"counter_id": "a", "amount": 1})
