"""taurl's training settings as SkyRL 0.4.0's typed config (the unified ``skyrl`` package).

SkyRL 0.4.0 configures training with Python dataclasses (``skyrl.train.config.SkyRLTrainConfig``)
instead of skyrl-train 0.3.1's Hydra YAML, and its ``environment.skyrl_gym`` is a dataclass with fixed
fields: a custom environment's settings are a field of a ``SkyRLGymConfig`` subclass (its generator
hands ``getattr(skyrl_gym, env_class)`` to the env as ``env_config``). So :class:`TauBenchTrainConfig`
is ``SkyRLTrainConfig`` whose ``environment.skyrl_gym`` has a ``tau_bench`` field.

One source of truth: the values are taurl's ``config/tau_bench.yaml`` (the 0.3.1 config), read with
OmegaConf (``${oc.env:HOME}`` resolved), its few keys 0.4.0 renamed mapped by :data:`RENAMED`, and the
``tau_bench`` dataclass's fields are that YAML's env_config keys. Overrides are ``key=value`` strings
as skyrl's ``from_cli_overrides`` takes them; 0.3.1's names of the renamed keys are accepted too, so
``tools/run_tau_bench.sh`` and ``taurl train`` pass the same overrides to either SkyRL.

Imports only ``skyrl.train.config`` (whose ``__post_init__`` imports torch, not vLLM or Ray). No
``from __future__ import annotations`` here: skyrl builds nested dataclasses from the field types.
"""

import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf
from skyrl.train.config import EnvironmentConfig, SkyRLGymConfig, SkyRLTrainConfig
from skyrl.train.config.config import overrides_dict_to_dotlist

from taurl.skyrl import CONFIG_FILE, ENV_ID

# skyrl-train 0.3.1's key -> SkyRL 0.4.0's (the inference engine settings moved under one dataclass)
RENAMED = {
    "generator.backend": "generator.inference_engine.backend",
    "generator.num_inference_engines": "generator.inference_engine.num_engines",
    "generator.inference_engine_tensor_parallel_size": "generator.inference_engine.tensor_parallel_size",
    "generator.gpu_memory_utilization": "generator.inference_engine.gpu_memory_utilization",
}
# 0.3.1 keys 0.4.0 removed: async_engine (0.4.0 always runs the async HTTP engine path; it accepts only
# true, which is taurl's value, and rejects false)
DROPPED = {"generator.async_engine": True}
# 0.3.1 values 0.4.0 renamed (0.4.0 still accepts "fsdp2" with a deprecation warning)
VALUES = {"trainer.strategy": {"fsdp2": "fsdp"}}


def _leaves(node: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


def yaml_values(config_file: Path = CONFIG_FILE) -> dict[str, Any]:
    """The YAML's settings, dotted key -> value, interpolations resolved (hydra's own keys left out)."""
    config = OmegaConf.load(config_file)
    for key in ("hydra", "defaults"):
        config.pop(key, None)
    return dict(_leaves(OmegaConf.to_container(config, resolve=True)))


def env_defaults(config_file: Path = CONFIG_FILE) -> dict[str, Any]:
    """The YAML's ``environment.skyrl_gym.tau_bench``: the env_config keys and taurl's training values."""
    config = OmegaConf.load(config_file)
    return OmegaConf.to_container(config.environment.skyrl_gym.tau_bench, resolve=True)


def translate(key: str, value: Any) -> tuple[str, Any] | None:
    """One 0.3.1 setting as 0.4.0's (None: 0.4.0 has no such key, and the value is its behaviour)."""
    if key in DROPPED:
        if value != DROPPED[key] and str(value).lower() != str(DROPPED[key]).lower():
            raise ValueError(f"{key}={value}: SkyRL 0.4.0 has no such setting (it always behaves as {DROPPED[key]})")
        return None
    value = VALUES.get(key, {}).get(value, value) if isinstance(value, str) else value
    return RENAMED.get(key, key), value


def _translate_overrides(overrides: Sequence[str]) -> list[str]:
    out = []
    for override in overrides:
        key, sep, value = override.partition("=")
        bare = key.lstrip("~+")
        if not sep or bare not in {**RENAMED, **DROPPED, **VALUES}:
            out.append(override)
            continue
        translated = translate(bare, value)
        if translated is not None:
            out.append(f"{translated[0]}={translated[1]}")
    return out


def _env_config_class() -> type:
    """A dataclass whose fields are the YAML's env_config keys, defaulting to its values (fresh copies)."""
    fields = [
        (name, Any, dataclasses.field(default_factory=lambda value=value: copy.deepcopy(value)))
        for name, value in env_defaults().items()
    ]
    cls = dataclasses.make_dataclass("TauBenchEnvConfig", fields, module=__name__)
    cls.__doc__ = "``tau_bench``'s env_config (see taurl.skyrl.env): the keys and values of tau_bench.yaml."
    return cls


TauBenchEnvConfig = _env_config_class()


@dataclasses.dataclass
class TauBenchSkyRLGymConfig(SkyRLGymConfig):
    tau_bench: TauBenchEnvConfig = dataclasses.field(default_factory=TauBenchEnvConfig)  # type: ignore[valid-type]


@dataclasses.dataclass
class TauBenchEnvironmentConfig(EnvironmentConfig):
    env_class: str = ENV_ID
    skyrl_gym: TauBenchSkyRLGymConfig = dataclasses.field(default_factory=TauBenchSkyRLGymConfig)


@dataclasses.dataclass
class TauBenchTrainConfig(SkyRLTrainConfig):
    """SkyRL 0.4.0's training config with the ``tau_bench`` environment's settings."""

    environment: TauBenchEnvironmentConfig = dataclasses.field(default_factory=TauBenchEnvironmentConfig)


def base_overrides(config_file: Path = CONFIG_FILE) -> list[str]:
    """tau_bench.yaml as 0.4.0 ``key=value`` overrides (values JSON-encoded, as skyrl serializes them)."""
    settings: dict[str, Any] = {}
    for key, value in yaml_values(config_file).items():
        translated = translate(key, value)
        if translated is not None:
            settings[translated[0]] = translated[1]
    return overrides_dict_to_dotlist(settings)


def build(overrides: Sequence[str] = (), config_file: Path = CONFIG_FILE) -> TauBenchTrainConfig:
    """taurl's 0.4.0 config: tau_bench.yaml's values, then ``overrides`` (0.4.0's or 0.3.1's key names),
    through skyrl's own ``from_cli_overrides`` (unknown keys are an error; ``__post_init__`` runs)."""
    return TauBenchTrainConfig.from_cli_overrides([*base_overrides(config_file), *_translate_overrides(overrides)])


def env_config_dict(cfg: SkyRLTrainConfig) -> Mapping[str, Any]:
    """The ``tau_bench`` env_config the generator will hand the env, as a dict."""
    return dataclasses.asdict(getattr(cfg.environment.skyrl_gym, ENV_ID))
