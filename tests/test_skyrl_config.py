"""taurl's training config composes over skyrl-train 0.3.1's own base config (in a Python 3.12 env)."""

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from taurl.skyrl.env_config import DEFAULTS
from tests.conftest import REPO

pytestmark = pytest.mark.skyrl

CONFIG_DIR = REPO / "taurl" / "skyrl" / "config"


def skyrl_python() -> Path:
    path = Path(os.environ.get("TAURL_SKYRL_PYTHON", REPO / ".venv-skyrl" / "bin" / "python"))
    if not path.exists():
        pytest.skip(f"no Python 3.12 environment with skyrl-train at {path} (make skyrl-env creates it)")
    return path


def test_every_key_taurl_sets_exists_in_skyrl_trains_base_config():
    out = subprocess.run(
        [str(skyrl_python()), str(REPO / "tests" / "harness" / "skyrl_compose_check.py"), str(CONFIG_DIR)],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": os.environ.get("HOME", "/root")},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["missing"] == []
    for key, (ours, composed) in result["values"].items():
        assert ours == composed, key  # taurl's value won over the base config's
    assert result["values"]["generator.max_turns"][1] == 30
    assert result["values"]["environment.env_class"][1] == "tau_bench"
    assert set(result["env_config"]) == set(DEFAULTS)


def test_the_launch_script_overrides_compose_over_the_training_config():
    import re

    script = (REPO / "tools" / "run_tau_bench.sh").read_text()
    keys = re.findall(r"^\s+\"?((?:data|trainer|generator|environment)\.[A-Za-z0-9_.]+)=", script, re.MULTILINE)
    assert len(keys) >= 15
    overrides = [f"{key}=['/data/train.parquet']" if key.startswith("data.") else f"{key}=1" for key in keys]
    out = subprocess.run(
        [str(skyrl_python()), str(REPO / "tests" / "harness" / "skyrl_compose_check.py"), str(CONFIG_DIR), *overrides],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": os.environ.get("HOME", "/root")},
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]


def test_env_config_in_the_yaml_names_exactly_the_env_keys():
    config = yaml.safe_load((CONFIG_DIR / "tau_bench.yaml").read_text())
    assert set(config["environment"]["skyrl_gym"]["tau_bench"]) == set(DEFAULTS)
    assert config["generator"]["use_conversation_multi_turn"] is True
    assert config["generator"]["batched"] is False and config["generator"]["async_engine"] is True
