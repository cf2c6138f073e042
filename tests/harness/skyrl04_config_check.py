"""Run by tests/test_skyrl04_config.py in .venv-skyrl04 (Python 3.12, skyrl 0.4.0 without its GPU stack).

    python tests/harness/skyrl04_config_check.py '{"name": [overrides...], ...}'

For each named list of overrides (one process: importing skyrl's torch and Ray takes seconds) builds
taurl's SkyRL 0.4.0 config (taurl.skyrl.config04), runs 0.4.0's own ``validate_cfg`` on it, registers
``tau_bench`` with skyrl-gym, and prints JSON, name -> {"error": why} or the result: every
tau_bench.yaml setting with the 0.4.0 key it landed on and the value there, the env_config the generator
would hand the env (``getattr(skyrl_gym, env_class)``, as 0.4.0's SkyRLGymGenerator does) and its type.
"""

import dataclasses
import json
import sys
import warnings

from skyrl.train.utils import validate_cfg

from taurl.skyrl import ENV_ID, config04, register


def lookup(cfg, dotted):
    for part in dotted.split("."):
        cfg = cfg[part] if isinstance(cfg, dict) else getattr(cfg, part)
    return cfg


def built(overrides):
    cfg = config04.build(overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        validate_cfg(cfg)
    register()
    from skyrl_gym.envs.registration import registry

    values = {}
    for key, value in config04.yaml_values().items():
        translated = config04.translate(key, value)
        if translated is not None:
            values[key] = [translated[0], translated[1], lookup(cfg, translated[0])]
    env_config = getattr(cfg.environment.skyrl_gym, cfg.environment.env_class, dict())
    return {
        "config_class": type(cfg).__name__,
        "values": values,
        "env_config": dataclasses.asdict(env_config),
        "env_config_type": f"{type(env_config).__module__}.{type(env_config).__qualname__}",
        "registered": registry[ENV_ID].entry_point if ENV_ID in registry else None,
        "inference_engine": dataclasses.asdict(cfg.generator.inference_engine),
        "strategy": cfg.trainer.strategy,
        "max_input_length": cfg.generator.max_input_length,
    }


def main(scenarios):
    results = {}
    for name, overrides in scenarios.items():
        try:
            results[name] = built(overrides)
        except (ValueError, AssertionError, TypeError) as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(results, default=str))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
