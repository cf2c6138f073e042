"""Run by tests/test_skyrl_config.py under the Python 3.12 environment that has skyrl-train 0.3.1.

Composes taurl's training config over skyrl-train's ppo_base_config with Hydra and prints JSON:
the keys taurl sets that skyrl-train's base config lacks, and the composed values of those keys.
"""

import json
import sys
from pathlib import Path

import skyrl_train
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

base_dir = str(Path(skyrl_train.__file__).parent / "config")  # the wheel's ppo_base_config.yaml
OWN_SUBTREES = ("environment.skyrl_gym.tau_bench",)  # taurl's own env_config, new by design


def leaves(node, prefix=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


ours_dir = sys.argv[1]
ours = yaml.safe_load(Path(ours_dir, "tau_bench.yaml").read_text())
ours.pop("hydra", None)
ours.pop("defaults", None)
with initialize_config_dir(config_dir=base_dir, version_base=None):
    base = OmegaConf.to_container(compose(config_name="ppo_base_config"), resolve=False)
overrides = sys.argv[2:]  # e.g. the launch script's, which must name existing keys
with initialize_config_dir(config_dir=ours_dir, version_base=None):
    composed = compose(config_name="tau_bench", overrides=overrides)
composed_plain = OmegaConf.to_container(composed, resolve=False)


def lookup(tree, dotted):
    for part in dotted.split("."):
        if not isinstance(tree, dict) or part not in tree:
            raise KeyError(dotted)
        tree = tree[part]
    return tree


missing, values = [], {}
for key, value in leaves(ours):
    if key.startswith(OWN_SUBTREES):
        continue
    try:
        lookup(base, key)
    except KeyError:
        missing.append(key)
    values[key] = [value, lookup(composed_plain, key)]
print(
    json.dumps(
        {"missing": missing, "values": values, "env_config": lookup(composed_plain, "environment.skyrl_gym.tau_bench")},
        default=str,
    )
)
