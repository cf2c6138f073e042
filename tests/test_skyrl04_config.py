"""taurl's SkyRL 0.4.0 config (taurl.skyrl.config04) builds and validates with skyrl 0.4.0's own code:
``SkyRLTrainConfig`` construction (strict keys, ``__post_init__``) and ``validate_cfg``, in
.venv-skyrl04 (Python 3.12; tests/harness/skyrl04_config_check.py). The env accepts the dataclass env_config
0.4.0's generator hands it."""

import dataclasses
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from taurl.skyrl.env_config import DEFAULTS, settings
from tests.conftest import REPO

pytestmark = pytest.mark.skyrl

CONFIG = REPO / "taurl" / "skyrl" / "config" / "tau_bench.yaml"
VENV = REPO / ".venv-skyrl04"


def skyrl04_python() -> Path:
    path = Path(os.environ.get("TAURL_SKYRL04_PYTHON", VENV / "bin" / "python"))
    if not (path.exists() and (VENV / ".installed").exists()):
        pytest.skip(
            f"no Python 3.12 environment with skyrl 0.4.0 at {VENV} (`make skyrl04-env` builds it after "
            "`make train-resolution`, whose .venv-train lends it torch; `make test` does this first)"
        )
    return path


REJECTED = {  # override -> what the error names
    "environment.skyrl_gym.tau_bench.no_such_key=1": "no_such_key",  # strict env_config keys
    "trainer.no_such_key=1": "no_such_key",
    "generator.async_engine=false": "async_engine",
    "generator.num_inference_engines=4": "num_rollout_gpus",  # validate_cfg: 4 engines x TP 4 != 8 GPUs
}


def launch_script_overrides() -> list[str]:
    script = (REPO / "tools" / "run_tau_bench.sh").read_text()
    keys = re.findall(r"^\s+\"?((?:data|trainer|generator|environment)\.[A-Za-z0-9_.]+)=", script, re.MULTILINE)
    assert len(keys) >= 15
    values = {
        "generator.num_inference_engines": "2",
        "generator.inference_engine_tensor_parallel_size": "4",
        "trainer.placement.policy_num_gpus_per_node": "8",
        "trainer.placement.ref_num_gpus_per_node": "8",
        "trainer.logger": "console",
        "environment.skyrl_gym.tau_bench.user_max_cost_usd": "100",
        "environment.skyrl_gym.tau_bench.user_strategy": "llm",
        "environment.skyrl_gym.tau_bench.cache_mode": "record",
        "environment.skyrl_gym.tau_bench.spend_ledger": "ray",
    }
    return [
        f"{key}=['/data/train.parquet']" if key.startswith("data.") else f"{key}={values.get(key, 'x')}" for key in keys
    ]


@pytest.fixture(scope="module")
def results():
    """Every scenario in one process of .venv-skyrl04 (importing skyrl's torch and Ray takes seconds)."""
    scenarios = {
        "yaml": [],
        "overrides": [
            "generator.num_inference_engines=1",  # 0.3.1's name
            "generator.inference_engine.tensor_parallel_size=8",  # 0.4.0's
            "environment.skyrl_gym.tau_bench.user_max_cost_usd=5",
            "environment.skyrl_gym.tau_bench.spend_ledger=ray",
        ],
        "launch_script": launch_script_overrides(),
        **{override: [override] for override in REJECTED},
    }
    out = subprocess.run(
        [str(skyrl04_python()), str(REPO / "tests" / "harness" / "skyrl04_config_check.py"), json.dumps(scenarios)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "HOME": os.environ.get("HOME", "/root")},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def built(results):
    assert "error" not in results["yaml"], results["yaml"]
    return results["yaml"]


def test_every_yaml_setting_lands_on_a_skyrl_0_4_field_with_its_value(built):
    assert built["config_class"] == "TauBenchTrainConfig"
    assert {"generator.max_turns", "trainer.policy.model.path", "environment.env_class"} <= set(built["values"])
    for key, (new_key, ours, landed) in built["values"].items():
        assert landed == ours, (key, new_key)
    assert built["values"]["generator.num_inference_engines"][0] == "generator.inference_engine.num_engines"
    assert built["inference_engine"]["num_engines"] == 2 and built["inference_engine"]["tensor_parallel_size"] == 4
    assert built["inference_engine"]["gpu_memory_utilization"] == 0.7
    assert built["strategy"] == "fsdp" and built["max_input_length"] == 32768
    assert "generator.async_engine" not in built["values"]  # 0.4.0 is always async; true is dropped


def test_the_env_config_is_a_dataclass_with_exactly_the_env_keys_and_the_env_reads_it(built):
    assert built["env_config_type"] == "taurl.skyrl.config04.TauBenchEnvConfig"
    assert built["registered"] == "taurl.skyrl.env:ToolUseEnv"
    env_config = built["env_config"]
    assert set(env_config) == set(DEFAULTS)
    assert env_config["user_strategy"] == "llm" and env_config["cache_dir"].endswith("/taurl/cache")
    # what the env (ToolUseEnv) does with the dataclass 0.4.0's generator hands it
    cls = dataclasses.make_dataclass("TauBenchEnvConfig", [(k, object) for k in env_config])
    assert settings(cls(**env_config)) == {**DEFAULTS, **env_config}


def test_overrides_apply_by_either_versions_key_names(results):
    result = results["overrides"]
    assert "error" not in result, result
    assert result["inference_engine"]["num_engines"] == 1 and result["inference_engine"]["tensor_parallel_size"] == 8
    assert result["env_config"]["user_max_cost_usd"] == 5 and result["env_config"]["spend_ledger"] == "ray"


@pytest.mark.parametrize("override", sorted(REJECTED))
def test_skyrl_0_4_rejects_what_it_cannot_run(results, override):
    assert REJECTED[override] in results[override].get("error", ""), results[override]


def test_the_launch_script_overrides_apply_to_the_0_4_config(results):
    assert "error" not in results["launch_script"], results["launch_script"]


def test_the_yaml_keeps_the_keys_config04_maps():
    config = yaml.safe_load(CONFIG.read_text())
    generator = config["generator"]
    for key in ("backend", "num_inference_engines", "inference_engine_tensor_parallel_size", "gpu_memory_utilization"):
        assert key in generator  # config04.RENAMED maps each to generator.inference_engine.*
    assert generator["async_engine"] is True  # config04 drops it: 0.4.0 always behaves so


@pytest.mark.parametrize(
    "installed, choice, expected",
    [
        ({"skyrl_train"}, "auto", ("skyrl-train 0.3.1", "taurl.skyrl.train")),
        ({"skyrl.train"}, "auto", ("skyrl 0.4.0", "taurl.skyrl.train04")),
        ({"skyrl_train", "skyrl.train"}, "0.4", ("skyrl 0.4.0", "taurl.skyrl.train04")),
        ({"skyrl_train", "skyrl.train"}, "auto", "both are installed"),
        (set(), "auto", "neither is installed"),
        ({"skyrl_train"}, "0.4", "skyrl 0.4.0 is not installed here"),
        ({"skyrl_train"}, "0.5", "one of auto, 0.3, 0.4"),
    ],
)
def test_taurl_train_picks_the_installed_skyrl_or_the_one_asked_for(monkeypatch, installed, choice, expected):
    from taurl.cli import train

    monkeypatch.setattr(train, "_installed", lambda package: package in installed)
    if isinstance(expected, tuple):
        assert train.skyrl_entrypoint(choice) == expected
    else:
        with pytest.raises(ValueError, match=expected):
            train.skyrl_entrypoint(choice)
