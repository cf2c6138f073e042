"""SkyRL 0.4.0's side of taurl's SkyRL harness (the unified ``skyrl`` package, the ``skyrl04`` extra, Python 3.12):
the names :mod:`taurl.skyrl.skyrl031` gives for skyrl-train 0.3.1, for 0.4.0.

0.4.0 moved skyrl-train's modules under ``skyrl.train`` and its engines under
``skyrl.backends.skyrl_train.inference_servers``; its config is a typed dataclass (:mod:`taurl.skyrl.config04`);
its generator talks to the engine itself (no client) and checks per-token logprobs, so each response token gets
logprob 0.0 (the policy is deterministic). The trainer's GPU side is imported only by the functions that return it.
"""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skyrl.backends.skyrl_train.inference_servers.base import InferenceEngineInterface
from skyrl.backends.skyrl_train.inference_servers.engine_utils import get_sampling_params_for_backend
from skyrl.train.dataset import PromptDataset
from skyrl.train.generators.skyrl_gym_generator import SkyRLGymGenerator
from skyrl.train.generators.utils import prepare_generator_input
from skyrl.train.utils import validate_cfg
from skyrl.train.utils.trainer_utils import validate_generator_output

from taurl.skyrl import config04, stub_engine

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

NAME = "skyrl 0.4.0"
CONFIG_ERRORS = (ValueError, AssertionError, TypeError, KeyError)  # a config that does not build or validate


def build_config(overrides: Sequence[str], config_file: Path) -> config04.TauBenchTrainConfig:
    """taurl's YAML as 0.4.0's typed config, with ``overrides`` (0.4.0's key names or 0.3.1's)."""
    return config04.build(overrides, config_file)


class PolicyEngine(stub_engine.PolicyEngine, InferenceEngineInterface):
    """The scripted engine as SkyRL 0.4.0's ``InferenceEngineInterface``."""

    @property
    def model_name(self) -> str:
        return "taurl-policy-stub"

    async def generate(self, input_batch: Any, model: Any = None) -> dict[str, Any]:
        replies = self.replies(input_batch)
        return {
            **replies,
            "response_logprobs": [[0.0] * len(ids) for ids in replies["response_ids"]],
            "prompt_logprobs": None,
            "rollout_expert_indices": None,
            "rollout_sample_support": None,
        }

    def get_endpoint_url(self) -> str:
        return "http://taurl-policy-stub"

    async def render_chat_completion(self, request_payload: Any) -> Any:
        raise NotImplementedError(stub_engine.TEXT_PROMPTS)

    # no LoRA, no sessions: nothing to do
    async def load_lora_adapter(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def pause_generation(self) -> None:
        return None

    async def resume_generation(self) -> None:
        return None

    async def finish_session(self, session_id: Any) -> None:
        return None

    async def get_world_size(self) -> tuple[int, int]:
        return (1, 1)


def engine_client(engine: PolicyEngine, tokenizer: Any, cfg: Any) -> PolicyEngine:
    """What the generator and the trainer talk to: the engine itself."""
    return engine


def sampling_params(cfg: Any) -> dict[str, Any]:
    return get_sampling_params_for_backend(cfg.generator.inference_engine.backend, cfg.generator.sampling_params)


def trainer_class() -> type:
    from skyrl.train.trainer import RayPPOTrainer

    return RayPPOTrainer


def experiment_class() -> type:
    """``BasePPOExp``: the whole training run (GPU stack)."""
    from skyrl.train.entrypoints.main_base import BasePPOExp

    return BasePPOExp


def initialize_ray(cfg: Any) -> None:
    from skyrl.train.utils.utils import initialize_ray

    initialize_ray(cfg)
