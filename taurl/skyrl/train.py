"""Training entrypoint (GPU machine, Python 3.12, ``pip install 'taurl[train]'``).

    python -m taurl.skyrl.train [hydra overrides...]

skyrl-train's pattern: a Ray remote function registers the ``tau_bench`` environment in the worker
and runs ``BasePPOExp``. This is the only module that imports the GPU stack.
"""

from __future__ import annotations

from pathlib import Path

import hydra
import ray
from omegaconf import DictConfig
from skyrl_train.entrypoints.main_base import BasePPOExp
from skyrl_train.utils import validate_cfg
from skyrl_train.utils.utils import initialize_ray

from taurl.skyrl.budget import refuse_without_room

CONFIG_DIR = str(Path(__file__).parent / "config")


@ray.remote(num_cpus=1)
def skyrl_entrypoint(cfg: DictConfig) -> None:
    from taurl.skyrl import register

    register()  # the env registry is per process: register where the generator runs
    BasePPOExp(cfg).run()


@hydra.main(config_path=CONFIG_DIR, config_name="tau_bench", version_base=None)
def main(cfg: DictConfig) -> None:
    validate_cfg(cfg)
    refuse_without_room(cfg)
    initialize_ray(cfg)
    ray.get(skyrl_entrypoint.remote(cfg))


if __name__ == "__main__":
    main()
