"""`taurl export tau-bench`: τ-bench's results format, read back by `taurl import tau-bench` with equal rewards."""

from __future__ import annotations

import json

import pytest

from taurl.agent.oracle import OracleAgent
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.record.schema import episode_row
from taurl.record.store import RecordingStore
from taurl.record.writer import RecordingWriter
from taurl.registry import get_domain
from taurl.review.export import ExportError, tau_bench_results
from taurl.users.scripted import ScriptedUser
from tests.conftest import TAUBENCH, require, taurl


def printed(*args: str) -> str:
    """What the real ``taurl`` printed, once it exited 0, on one line."""
    return " ".join(taurl(*args, check=True).stdout.split())


def import_results(results, rec) -> str:
    data = TAUBENCH / "airline"
    return printed(
        "import", "tau-bench", str(results), "--domain", "airline", "--data-dir", str(data), "--recording", str(rec)
    )


def rewards(rec) -> dict[tuple[str, int], float]:
    _, rows = RecordingStore(rec).query("SELECT task_id, trial, reward FROM episodes")
    return {(task, trial): reward for task, trial, reward in rows}


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_40_tau_bench_runs_round_trip_through_export_and_import(tmp_path):
    original = require(TAUBENCH / "airline" / "historical_gpt-4o_sample.json")
    assert "40/40 rewards agree" in import_results(original, tmp_path / "first")
    exported = tmp_path / "results.json"
    assert "wrote 40 episode(s)" in printed("export", "tau-bench", str(tmp_path / "first"), "--out", str(exported))
    assert "40/40 rewards agree" in import_results(exported, tmp_path / "second")
    assert rewards(tmp_path / "second") == rewards(tmp_path / "first")

    source = {(r["task_id"], r["trial"]): r for r in json.loads(original.read_text())}
    written = {(r["task_id"], r["trial"]): r for r in json.loads(exported.read_text())}
    assert written.keys() == source.keys()  # integer task ids, as τ-bench writes them
    for key, run in written.items():
        assert set(run) == {"task_id", "reward", "info", "traj", "trial"}
        assert run["reward"] == source[key]["reward"]
        assert run["info"]["task"] == source[key]["info"]["task"]
        assert [m["role"] for m in run["traj"]] == [m["role"] for m in source[key]["traj"]]
        if source[key]["info"].get("reward_info"):  # τ-bench's checks, but for the data hash taurl does not store
            expected = {k: v for k, v in source[key]["info"]["reward_info"]["info"].items() if k != "gt_data_hash"}
            assert run["info"]["reward_info"]["info"] == expected


def test_an_export_holds_one_run_of_one_domain(tmp_path):
    tasks = get_domain("retail").tasks("test")[:2]
    with RecordingWriter(tmp_path / "rec") as writer:
        for run_id in ("a", "b"):
            for task in tasks:
                result = run_episode(EpisodeSpec(task), OracleAgent(), ScriptedUser(), RolloutConfig())
                writer.add(episode_row(result, run_id, "oracle", "scripted"))
    store = RecordingStore(tmp_path / "rec")
    with pytest.raises(ExportError, match=r"2 runs \(a, b\).*--where \"run_id = 'a'\""):
        tau_bench_results(store)
    with pytest.raises(ExportError, match="no episode matches"):
        tau_bench_results(store, "run_id = 'c'")
    results = tau_bench_results(store, "run_id = 'b'")
    assert [(r["task_id"], r["trial"], r["reward"]) for r in results] == [(t.id, 0, 1.0) for t in tasks]
    assert results[0]["info"]["taurl"]["run_id"] == "b"
    assert (
        results[0]["traj"][0]["role"] == "system" and results[0]["info"]["task"]["instruction"] == tasks[0].instruction
    )


@pytest.mark.slow
def test_a_built_in_run_of_every_domain_reads_back_with_the_same_rewards(tmp_path):
    """The simulator's agent and user on every built-in domain, and the oracle on airline train tasks that
    need its extra tools (lookup_passenger, get_airport_info ...): exported, then imported with the data
    directory the export names, every reward agrees."""
    import shlex

    from taurl.sim.server import SimServer

    runs = [
        ["--domain", domain, "--end-index", "6", "--agent", "tool-calling", "--agent-model", "sim-agent"]
        for domain in ("airline", "retail", "telecom", "healthcare", "doordash")
    ]
    extended = [t.id for t in get_domain("airline").tasks("train") if t.tool_set != "default"][:6]
    runs.append(["--domain", "airline", "--split", "train", "--task-ids", ",".join(extended)])
    with SimServer() as sim:
        for index, args in enumerate(runs):
            rec, results = tmp_path / f"rec{index}", tmp_path / f"results{index}.json"
            endpoints = ["--agent-base-url", sim.base_url] if "sim-agent" in args else []
            user = ["--user", "llm", "--user-model", "sim-user", "--user-base-url", sim.base_url]
            printed("run", *args, *endpoints, *user, "--cache-mode", "off", "--recording", str(rec), "--run-id", "sim")
            said = printed("export", "tau-bench", str(rec), "--out", str(results))
            read_back = shlex.split(said.split("read it back with: ", 1)[1].removesuffix(" --recording RECORDING"))
            assert read_back[:3] == ["taurl", "import", "tau-bench"]
            count = len(json.loads(results.read_text()))
            imported = printed(
                *read_back[1:], "--recording", str(tmp_path / f"back{index}"), "--user-model", "sim-user"
            )
            assert f"{count}/{count} rewards agree" in imported, args
            assert rewards(tmp_path / f"back{index}") == rewards(rec), args


def test_import_still_takes_out_for_recording_and_says_it_is_deprecated(tmp_path):
    rec, results, data = tmp_path / "rec", tmp_path / "results.json", str(get_domain("retail").builtin_data_dir)
    printed("run", "--domain", "retail", "--end-index", "2", "--recording", str(rec), "--run-id", "oracle")
    printed("export", "tau-bench", str(rec), "--out", str(results))
    importing = ["import", "tau-bench", str(results), "--domain", "retail", "--data-dir", data]
    done = taurl(*importing, "--out", str(tmp_path / "back"), "--run-id", "tb-back", check=True)
    assert "--out is deprecated: use --recording" in done.stderr
    assert rewards(tmp_path / "back") == rewards(rec)
    assert RecordingStore(tmp_path / "back").query("SELECT DISTINCT run_id FROM episodes")[1] == [("tb-back",)]
    both = taurl(*importing, "--out", str(tmp_path / "x"), "--recording", str(tmp_path / "y"))
    assert both.returncode == 2 and "give --recording alone" in both.stderr
    neither = taurl(*importing)
    assert neither.returncode == 2 and "--recording" in neither.stderr


def test_an_export_refuses_what_tau_bench_results_cannot_carry(tmp_path):
    task = get_domain("retail").tasks("test")[0]
    result = run_episode(EpisodeSpec(task), OracleAgent(), ScriptedUser(), RolloutConfig())
    row = episode_row(result, "r", "oracle", "scripted")
    judged = json.loads(row["breakdown_json"]) | {"basis": "db+outputs+judge"}
    variants = {
        "errored": {"terminated_by": "error", "reward": 0.0},
        "judged": {"breakdown_json": json.dumps(judged)},
        "cut": {"terminated_by": "max_steps", "reward": 1.0},
    }
    with RecordingWriter(tmp_path / "rec") as writer:
        for trial, changes in enumerate(variants.values(), start=1):
            writer.add(row | {"trial": trial, "episode_id": f"{row['episode_id']}-{trial}"} | changes)
        writer.add(row)
    store = RecordingStore(tmp_path / "rec")
    with pytest.raises(ExportError, match=r"1 episode\(s\) \(.*/1\) did not finish.*--where \"terminated_by NOT IN"):
        tau_bench_results(store)
    with pytest.raises(ExportError, match="judge model's verdicts"):
        tau_bench_results(store, "trial <> 1")
    with pytest.raises(ExportError, match=r"limit of 30 steps.*--where \"\(trial NOT IN \(1, 2\)\) AND steps <= 30"):
        tau_bench_results(store, "trial NOT IN (1, 2)")
    assert [r["trial"] for r in tau_bench_results(store, "trial = 0")] == [0]
    store.close()
