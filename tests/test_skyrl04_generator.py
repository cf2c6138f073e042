"""tau_bench through SkyRL 0.4.0's real generator (the unified ``skyrl`` package): taurl's 0.4.0 config
(config04, validate_cfg), its PromptDataset and SkyRLGymGenerator, with only the vLLM engine replaced by a
scripted policy (taurl.skyrl.stub_engine04, per-token logprobs as 0.4.0 checks them). The scenarios of
tests/test_skyrl_generator.py (tests/harness/skyrl_generator_run.py --skyrl04, in .venv-skyrl04-gen: lent torch 2.8.0,
transformers 5) and the same checks: rewards, endings, token ids equal to Qwen2.5's template over the
recorded conversation, loss masks, every trajectory recorded once, a clean replay in .venv."""

import pytest

import tests.test_skyrl_generator as skyrl031
from tests.conftest import REPO

pytestmark = pytest.mark.skyrl

GEN_VENV = REPO / ".venv-skyrl04-gen"
STAMP = GEN_VENV / ".installed"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if not STAMP.exists():
        pytest.skip(
            f"no SkyRL 0.4.0 generator environment at {GEN_VENV} (`make skyrl04-gen-env` builds it: Python 3.12, "
            "skyrl 0.4.0 and its generator's CPU-side dependencies, torch 2.8.0 lent by .venv-train; `make test` "
            "does this first, and a failed install skips this test)"
        )
    work, result = skyrl031.run_generator(tmp_path_factory, GEN_VENV, "--skyrl04")
    assert result["skyrl"] == "0.4.0"
    return work, result


def test_the_tokenizer_is_qwen25s(run):
    skyrl031.test_the_tokenizer_is_qwen25s(run)


def test_the_oracle_scores_1_on_all_five_domains_and_doing_nothing_0(run):
    skyrl031.test_the_oracle_scores_1_on_all_five_domains_and_doing_nothing_0(run)


def test_an_llm_user_through_serve_sim(run):
    skyrl031.test_an_llm_user_through_serve_sim(run)


def test_a_tool_loop_ends_at_max_turns(run):
    skyrl031.test_a_tool_loop_ends_at_max_turns(run)


def test_a_malformed_call_gets_a_parse_error_observation(run):
    skyrl031.test_a_malformed_call_gets_a_parse_error_observation(run)


def test_a_trajectory_cut_at_max_input_length_is_recorded_as_truncated(run):
    skyrl031.test_a_trajectory_cut_at_max_input_length_is_recorded_as_truncated(run)


@pytest.mark.parametrize("name", ["oracle", "do_nothing", "tool_loop", "malformed", "cut", "llm_user"])
def test_token_ids_masks_and_rewards_match_the_recorded_conversation(run, name):
    _, result = run
    skyrl031.assert_matches_the_recording(result, name)


def test_every_trajectory_is_recorded_once(run):
    skyrl031.test_every_trajectory_is_recorded_once(run)


def test_the_recording_replays_clean(run):
    work, result = run
    assert "skipped" in result["tau2"]  # no τ² in this env: the built-in domains only
    skyrl031.assert_replays_clean(work, result, REPO / ".venv", "domain NOT LIKE 'tau2:%'", tau2=False)
