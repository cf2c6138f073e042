"""tau_bench through SkyRL's real generator, one test body for both versions: skyrl-train 0.3.1 (in .venv-train:
Hydra config + validate_cfg, PromptDataset, SkyRLGymGenerator and InferenceEngineClient) and SkyRL 0.4.0 (in
.venv-skyrl04-gen, the unified ``skyrl`` package: taurl's typed config, its PromptDataset and SkyRLGymGenerator),
each through its adapter (taurl.skyrl.skyrl031, skyrl040) with only the vLLM engine replaced by a scripted
policy (tests/harness/skyrl_generator_run.py). Checks what a GPU run depends on: rewards, endings, token ids
equal to Qwen2.5's template over the recorded conversation, loss masks, per-token rewards, every trajectory
recorded once, and a clean replay of the recording. Where τ² is in the version's venv (`make train-tau2-env`
and `make skyrl04-gen-tau2-env` add it), the same on a few τ² telecom rows (dual control: the user's device calls). SkyRL's
own evaluation pass (``RayPPOTrainer.eval``) over an eval parquet: its metrics per data source against the
recording's pass rates."""

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skyrl

NEWLINE = 198  # the "\n" Qwen2.5's template puts after each <|im_end|>
EOS = 151645
DOMAINS = {"airline", "retail", "telecom", "healthcare", "doordash"}
TAU2_SCENARIOS = ("tau2_oracle", "tau2_do_nothing")


@dataclass(frozen=True)
class Version:
    name: str  # the distribution and version result.json reports
    venv: Path
    args: tuple[str, ...]  # the harness's
    missing: str  # why the test skips when the venv is not built

    @property
    def stamp(self) -> Path:
        return self.venv / ".installed"


VERSIONS = {
    "skyrl-train-0.3.1": Version(
        "0.3.1",
        REPO / ".venv-train",
        (),
        "`make train-env` builds it: Python 3.12, torch 2.8.0 and skyrl-train 0.3.1's CPU-side dependencies; "
        "`make test` does this first",
    ),
    "skyrl-0.4.0": Version(
        "0.4.0",
        REPO / ".venv-skyrl04-gen",
        ("--skyrl04",),
        "`make skyrl04-gen-env` builds it: Python 3.12, skyrl 0.4.0 and its generator's CPU-side dependencies, "
        "torch 2.8.0 lent by .venv-train; `make test` does this first, and a failed install skips this test",
    ),
}


def run_generator(tmp_path_factory, version):
    """tests/harness/skyrl_generator_run.py in the version's venv: its work dir and result.json."""
    work = tmp_path_factory.mktemp("skyrl-generator")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    out = subprocess.run(
        [
            str(version.venv / "bin" / "python"),
            str(REPO / "tests" / "harness" / "skyrl_generator_run.py"),
            str(work),
            *version.args,
        ],
        capture_output=True,
        text=True,
        env={**env, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"},
        cwd=REPO,
        timeout=1200,
    )
    assert out.returncode == 0, out.stderr[-5000:]
    return work, json.loads((work / "result.json").read_text())


@pytest.fixture(scope="module", params=list(VERSIONS), ids=list(VERSIONS))
def run(request, tmp_path_factory):
    """(version, work dir, result.json) of one harness run per SkyRL version."""
    version = VERSIONS[request.param]
    if not version.stamp.exists():
        pytest.skip(f"no SkyRL {version.name} generator environment at {version.venv} ({version.missing})")
    work, result = run_generator(tmp_path_factory, version)
    assert result["skyrl"] == version.name
    return version, work, result


def trajectories(scenario):
    keys = ("prompt_token_ids", "response_ids", "loss_masks", "rewards", "stop_reasons")
    return [dict(zip(keys, values, strict=True)) for values in zip(*(scenario[k] for k in keys), strict=True)]


def episodes(result, run_id):
    return [e for e in result["episodes"] if e["run_id"].startswith(f"{run_id}-")]


def paired(result, name):
    """Each trajectory with the recorded episode whose templated conversation is its token ids."""
    by_ids = {}
    for episode in episodes(result, name):
        by_ids.setdefault(tuple(episode["template_ids"]), []).append(episode)
    pairs = []
    for t in trajectories(result["scenarios"][name]):
        ids = tuple(t["prompt_token_ids"] + t["response_ids"] + [NEWLINE])
        assert by_ids.get(ids), f"{name}: a trajectory's token ids are no recorded conversation under the template"
        pairs.append((t, by_ids[ids].pop()))
    return pairs


def assert_matches_the_recording(result, name):
    """Token ids, loss masks and per-token rewards of each trajectory against its recorded episode."""
    for t, episode in paired(result, name):
        mask, response = t["loss_masks"], t["response_ids"]
        assert len(mask) == len(response) == len(t["rewards"])
        runs, start = [], None  # the stretches the loss sees: one per assistant message, each ending in eos
        for i, bit in enumerate([*mask, 0]):
            if bit and start is None:
                start = i
            elif not bit and start is not None:
                runs.append(response[start:i])
                start = None
        assert len(runs) == len(episode["assistant"])
        assert all(r[-1] == EOS for r in runs) and mask[-1] == 1 and response[-1] == EOS
        assert t["rewards"][:-1] == [0.0] * (len(response) - 1)  # the reward sits on the last token
        assert t["rewards"][-1] == episode["reward"]


def assert_replays_clean(work, result, venv, where, tau2):
    """The recording's episodes (``where``) replayed by ``venv``'s taurl: all identical."""
    recorded = [e for e in result["episodes"] if e["domain"].startswith("tau2:") == tau2]
    out = subprocess.run(
        [str(venv / "bin" / "taurl"), "replay", str(work / "recording"), "--where", where, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    replayed = json.loads(out.stdout)
    assert recorded and len(replayed) == len(recorded)
    assert {r["status"] for r in replayed} == {"identical"}
    assert not any(r["first_divergence"] or r["non_failing"] for r in replayed)


def final_rewards(scenario):
    return [t["rewards"][-1] for t in trajectories(scenario)]


def needs_tau2(version, result):
    if "skipped" in result["tau2"]:
        target = {".venv-train": "train-tau2-env", ".venv-skyrl04-gen": "skyrl04-gen-tau2-env"}.get(version.venv.name)
        how = f" (`make {target}` adds it)" if target else ""
        pytest.skip(f"no τ² in {version.venv}{how}: {result['tau2']['skipped']}")


def test_the_tokenizer_is_qwen25s(run):
    _, _, result = run
    assert result["known"] == {"vocab_size": 151665, "im_start_system": [151644, 8948, 198], "eos": EOS, "pad": 151643}


def test_the_oracle_scores_1_on_all_five_domains_and_doing_nothing_0(run):
    _, _, result = run
    oracle = result["scenarios"]["oracle"]
    assert oracle["rows"] == 10 and len(oracle["response_ids"]) == 20  # 2 tasks a domain, 2 samples each
    assert final_rewards(oracle) == [1.0] * 20
    assert {e["domain"] for e in episodes(result, "oracle")} == DOMAINS
    assert set(oracle["stop_reasons"]) == {"stop"}
    assert final_rewards(result["scenarios"]["do_nothing"]) == [0.0] * 20
    assert {e["terminated_by"] for e in episodes(result, "do_nothing")} == {"user_stop"}


def test_tau2_telecom_rows_the_oracle_scores_1_and_doing_nothing_0(run):
    version, _, result = run
    needs_tau2(version, result)
    tasks = result["tau2"]["tasks"]
    oracle = result["scenarios"]["tau2_oracle"]
    assert oracle["rows"] == len(tasks) == 3 and len(oracle["response_ids"]) == 6  # 2 samples each
    assert final_rewards(oracle) == [1.0] * 6 and set(oracle["stop_reasons"]) == {"stop"}
    assert final_rewards(result["scenarios"]["tau2_do_nothing"]) == [0.0] * 6
    for name in TAU2_SCENARIOS:
        recorded = episodes(result, name)
        assert {e["domain"] for e in recorded} == {"tau2:telecom"}
        assert sorted(e["task_id"] for e in recorded) == sorted(tasks * 2)
    assert all(e["n_user_calls"] > 0 for e in episodes(result, "tau2_oracle"))  # the user's device calls
    assert {e["terminated_by"] for e in episodes(result, "tau2_do_nothing")} == {"user_stop"}


def test_an_llm_user_through_serve_sim(run):
    _, _, result = run
    assert final_rewards(result["scenarios"]["llm_user"]) == [1.0] * 20
    assert all(e["call_models"] == ["sim-user"] for e in episodes(result, "llm_user"))  # recorded user calls


def test_a_tool_loop_ends_at_max_turns(run):
    _, _, result = run
    assert result["scenarios"]["tool_loop"]["max_turns"] == 4
    for _, episode in paired(result, "tool_loop"):
        assert episode["terminated_by"] == "max_steps" and len(episode["assistant"]) == 4
        assert episode["reward"] == 0.0


def test_a_malformed_call_gets_a_parse_error_observation(run):
    _, _, result = run
    for _, episode in paired(result, "malformed"):
        assert episode["n_parse_errors"] == 1 and episode["terminated_by"] == "user_stop"
        assert episode["observations"][0].startswith("Error: could not read your tool call")


def test_a_trajectory_cut_at_max_input_length_is_recorded_as_truncated(run):
    _, _, result = run
    cut = result["scenarios"]["cut"]
    assert set(cut["stop_reasons"]) == {"length"}
    for t, episode in paired(result, "cut"):
        assert episode["terminated_by"] == "truncated" and episode["reward"] == 0.0
        assert len(episode["assistant"]) == 1  # one long call, then the conversation was past the limit
        assert len(t["prompt_token_ids"]) + len(t["response_ids"]) > 8192


@pytest.mark.parametrize("name", ["oracle", "do_nothing", "tool_loop", "malformed", "cut", "llm_user", *TAU2_SCENARIOS])
def test_token_ids_masks_and_rewards_match_the_recorded_conversation(run, name):
    version, _, result = run
    if name in TAU2_SCENARIOS:
        needs_tau2(version, result)
    assert_matches_the_recording(result, name)


def sql(work, query):
    """``taurl sql`` over the run's recording, as JSON rows."""
    out = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "taurl"),
            "sql",
            "--recording",
            str(work / "recording"),
            "--format",
            "json",
            query,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_every_trajectory_is_recorded_once(run):
    _, work, result = run
    generated = {name: len(s["response_ids"]) for name, s in result["scenarios"].items()}
    generated["eval"] = result["eval"]["rows"] * result["eval"]["samples"]
    counted = sql(
        work,
        "SELECT split_part(run_id, '-', 1) AS scenario, count(*) AS n, count(DISTINCT episode_id) AS distinct_n "
        "FROM episodes GROUP BY 1 ORDER BY 1",
    )
    assert {r["scenario"]: (r["n"], r["distinct_n"]) for r in counted} == {
        name: (n, n) for name, n in generated.items()
    }


def test_skyrl_evaluate_reports_per_data_source_the_pass_rates_the_recording_gives(run):
    """The trainer's eval pass (oracle on some tasks of each domain, doing nothing on the others, 2
    samples each): its metrics per data source are the recording's mean reward and pass rate per domain,
    its pass_at_2 the share of tasks with a passing episode, its dump the recorded rewards."""
    _, work, result = run
    evaluation = result["eval"]
    metrics, n = evaluation["metrics"], evaluation["samples"]
    where = "WHERE run_id LIKE 'eval-%'"
    recorded = sql(
        work,
        f"SELECT domain, avg(reward) AS mean_reward, avg(passed::DOUBLE) AS pass_rate, count(*) AS episodes, "
        f"list(reward ORDER BY reward) AS rewards FROM episodes {where} GROUP BY domain",
    )
    tasks_passed = sql(
        work,
        "SELECT domain, avg(p) AS share FROM (SELECT domain, task_id, bool_or(passed)::DOUBLE AS p "
        f"FROM episodes {where} GROUP BY domain, task_id) GROUP BY domain",
    )
    by_domain = {r["domain"]: r for r in recorded}
    share = {r["domain"]: r["share"] for r in tasks_passed}
    sources = {key.split("/")[1] for key in metrics if key.startswith("eval/")} - {"all"}  # 0.4.0 adds timing/
    assert sources == set(by_domain) == DOMAINS | ({"tau2:telecom"} if "tasks" in result["tau2"] else set())
    for domain, row in by_domain.items():
        assert row["episodes"] % n == 0 and row["mean_reward"] == row["pass_rate"]  # rewards are 0 or 1 here
        assert metrics[f"eval/{domain}/avg_score"] == pytest.approx(row["pass_rate"], abs=1e-12)
        assert metrics[f"eval/{domain}/pass_at_{n}"] == pytest.approx(share[domain], abs=1e-12)
        assert sorted(evaluation["dumped"][domain]) == row["rewards"]
    # the oracle knew the first n % 3 tasks of the n-th domain: each domain its own pass rate
    expected = {"airline": 0.0, "retail": 0.5, "telecom": 1.0, "healthcare": 0.0, "doordash": 0.5}
    assert {d: metrics[f"eval/{d}/avg_score"] for d in expected} == expected
    everything = [r for row in recorded for r in row["rewards"]]
    assert len(everything) == evaluation["rows"] * n
    assert metrics["eval/all/avg_score"] == pytest.approx(sum(everything) / len(everything), abs=1e-12)


@pytest.mark.parametrize("tau2", [False, True], ids=["builtin", "tau2"])
def test_the_recording_replays_clean(run, tau2):
    version, work, result = run
    if tau2:
        needs_tau2(version, result)  # τ²'s episodes replay where τ² is installed
    venv, where = (version.venv, "domain LIKE 'tau2:%'") if tau2 else (REPO / ".venv", "domain NOT LIKE 'tau2:%'")
    assert_replays_clean(work, result, venv, where, tau2)
