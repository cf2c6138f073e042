"""skyrl-train 0.3.1's side of taurl's SkyRL harness (the ``train`` extra, Python 3.12): where its pieces live and
what its API wants. :mod:`taurl.skyrl.skyrl040` is SkyRL 0.4.0's, with the same names; the generator harness
(:mod:`taurl.skyrl.generator`) and the training entrypoint (:mod:`taurl.skyrl.train`) take either.

0.3.1 composes taurl's YAML over its own ``ppo_base_config`` with Hydra, and its generator reaches the engines
through an ``InferenceEngineClient``. The trainer's GPU side (vLLM, Ray) is imported only by the functions that
return it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException
from skyrl_train.dataset import PromptDataset
from skyrl_train.generators.skyrl_gym_generator import SkyRLGymGenerator
from skyrl_train.generators.utils import prepare_generator_input
from skyrl_train.inference_engines.base import InferenceEngineInput, InferenceEngineInterface, InferenceEngineOutput
from skyrl_train.inference_engines.inference_engine_client import InferenceEngineClient
from skyrl_train.inference_engines.utils import get_sampling_params_for_backend
from skyrl_train.utils import validate_cfg
from skyrl_train.utils.trainer_utils import validate_generator_output

from taurl.skyrl import stub_engine

__all__ = [
    "CONFIG_ERRORS",
    "NAME",
    "PolicyEngine",
    "PromptDataset",
    "SkyRLGymGenerator",
    "build_config",
    "engine_client",
    "experiment_class",
    "initialize_ray",
    "prepare_generator_input",
    "sampling_params",
    "trainer_class",
    "validate_cfg",
    "validate_generator_output",
]

NAME = "skyrl-train 0.3.1"
CONFIG_ERRORS = (HydraException, OmegaConfBaseException, AssertionError)  # a config that does not compose or validate


def build_config(overrides: Sequence[str], config_file: Path) -> DictConfig:
    """taurl's YAML composed over skyrl-train's base config by Hydra, with ``overrides`` (Hydra's syntax)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(Path(config_file).parent.resolve()), version_base=None):
        return compose(config_name=Path(config_file).stem, overrides=list(overrides))


class PolicyEngine(stub_engine.PolicyEngine, InferenceEngineInterface):
    """The scripted engine as skyrl-train 0.3.1's ``InferenceEngineInterface``."""

    async def generate(self, input_batch: InferenceEngineInput) -> InferenceEngineOutput:
        return InferenceEngineOutput(**self.replies(input_batch), response_logprobs=None)

    async def init_weight_update_communicator(self, init_info: Any) -> None:
        return None

    async def abort_generation(self) -> None:
        return None

    def tp_size(self) -> int:
        return 1

    def pp_size(self) -> int:
        return 1

    def dp_size(self) -> int:
        return 1


def engine_client(engine: PolicyEngine, tokenizer: Any, cfg: DictConfig) -> InferenceEngineClient:
    """What the generator and the trainer talk to: 0.3.1's client over the engines."""
    return InferenceEngineClient([engine], tokenizer, cfg)


def sampling_params(cfg: DictConfig) -> dict[str, Any]:
    return get_sampling_params_for_backend(cfg.generator.backend, cfg.generator.sampling_params)


def trainer_class() -> type:
    from skyrl_train.trainer import RayPPOTrainer

    return RayPPOTrainer


def experiment_class() -> type:
    """``BasePPOExp``: the whole training run (GPU stack)."""
    from skyrl_train.entrypoints.main_base import BasePPOExp

    return BasePPOExp


def initialize_ray(cfg: DictConfig) -> None:
    from skyrl_train.utils.utils import initialize_ray

    initialize_ray(cfg)
