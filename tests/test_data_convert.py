"""`taurl data convert` and `taurl train --dry-run`: the dataset SkyRL reads, and the pipeline on a CPU."""

import json

import pyarrow.parquet as pq
import pytest

from taurl.domains import DOMAIN_NAMES
from taurl.registry import get_domain
from taurl.sim.server import SimServer
from taurl.skyrl.dry_run import dry_run, load_config
from tests.conftest import CTU, TAUBENCH, require, taurl


def convert(*args):
    return taurl("data", "convert", *args, check=True)


@pytest.mark.slow
def test_task_sets_convert_deterministically_with_nothing_dropped(tmp_path):
    convert("--domain", "retail", "--out", str(tmp_path / "a"))
    convert("--domain", "retail", "--out", str(tmp_path / "b"))
    for name in ("train.parquet", "validation.parquet"):
        a, b = pq.read_table(tmp_path / "a" / name), pq.read_table(tmp_path / "b" / name)
        assert a.equals(b) and a.num_rows > 0
        assert a.column("env_class").unique().to_pylist() == ["tau_bench"]
    quality = json.loads((tmp_path / "a" / "quality.json").read_text())
    rows = sum(pq.read_table(tmp_path / "a" / n).num_rows for n in ("train.parquet", "validation.parquet"))
    rejects = (tmp_path / "a" / "rejects.jsonl").read_text().splitlines()
    assert rows + len(rejects) == quality["total"]["tasks"]
    assert {"tasks", "fully_valid_tasks"} <= set(quality["domains"]["retail"])


def test_each_task_is_checked_against_its_own_tool_set(tmp_path):
    tasks = get_domain("airline").tasks("test")
    tool_sets = {t.tool_set for t in tasks}
    assert len(tool_sets) > 1  # the extended tasks see tools the others do not (lookup_passenger, ...)
    out = tmp_path / "airline"
    convert("--domain", "airline", "--split", "test", "--out", str(out))
    assert (out / "rejects.jsonl").read_text() == ""
    rows = [r for n in ("train.parquet", "validation.parquet") for r in pq.read_table(out / n).to_pylist()]
    assert len(rows) == len(tasks) and {r["extra_info"]["tool_set"] for r in rows} == tool_sets
    assert {r["data_source"] for r in rows} == {"airline"}


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(
    set(DOMAIN_NAMES) != {"airline", "retail", "telecom", "healthcare", "doordash"}, reason="needs all five domains"
)
def test_the_seed_systems_dataset_converts_with_every_task_accounted_for(tmp_path):
    seed = require(CTU / "novel_sft_dataset.json")
    dirs = [f"{d}={CTU / d}" for d in ("telecom", "healthcare", "doordash")] + [
        f"{d}={TAUBENCH / d}" for d in ("airline", "retail")
    ]
    out = tmp_path / "seed"
    result = convert(str(seed), "--out", str(out), *(arg for d in dirs for arg in ("--data-dir", d)))
    quality = json.loads((out / "quality.json").read_text())
    assert quality["total"]["tasks"] == 1345
    per_domain = {d: quality["domains"][d]["fully_valid_tasks"] for d in quality["domains"]}
    assert per_domain == {"airline": 0, "doordash": 48, "healthcare": 0, "retail": 9, "telecom": 0}
    assert quality["total"]["fully_valid_tasks"] == 57
    rows = sum(pq.read_table(out / n).num_rows for n in ("train.parquet", "validation.parquet"))
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    assert rows + len(rejects) == 1345 and all(r["reason"] for r in rejects)
    assert quality["normalization"]["aliases"], "some invented names are unambiguous"
    assert (
        round(quality["total"]["no_write_tool_share"], 2) == 0.72
    )  # 72% change nothing, as measured by the seed's authors
    assert quality["total"]["silent_pass"]["db+outputs"] == quality["total"]["read_only_tasks"]
    assert "task quality" in result.stdout


def test_dry_run_drives_the_training_config_with_the_oracle_and_an_endpoint(tmp_path):
    out = tmp_path / "data"
    convert("--domain", "retail", "--out", str(out))
    overrides = [
        f"data.train_data=[{out / 'train.parquet'}]",
        f"environment.skyrl_gym.tau_bench.cache_dir={tmp_path / 'cache'}",
        f"environment.skyrl_gym.tau_bench.recording_dir={tmp_path / 'rec'}",
        "environment.skyrl_gym.tau_bench.user_strategy=scripted",
    ]
    config = load_config(overrides=overrides)
    oracle = dry_run(config, prompts=6, workers=3)
    assert len(oracle) == 6 and all(t.reward == 1.0 for t in oracle)
    with SimServer() as server:
        config = load_config(
            overrides=[
                *overrides[:-1],
                "environment.skyrl_gym.tau_bench.user_strategy=llm",
                f"environment.skyrl_gym.tau_bench.user_base_url={server.base_url}",
                "environment.skyrl_gym.tau_bench.user_model=sim-user",
            ]
        )
        live = dry_run(
            config,
            prompts=3,
            policy="endpoint",
            policy_model="sim-agent-text",
            policy_base_url=server.base_url,
            workers=3,
        )
    assert len(live) == 3 and all(t.turns >= 1 for t in live)
    assert any(t.metrics["tool_calls"] > 0 for t in live)
    from taurl.record.store import RecordingStore

    assert RecordingStore(tmp_path / "rec").query("SELECT count(*) FROM episodes")[1] == [(9,)]
