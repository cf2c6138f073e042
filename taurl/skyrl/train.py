"""Training entrypoint, one for both SkyRL versions (GPU machine, Python 3.12):

    python -m taurl.skyrl.train [hydra overrides...]           # skyrl-train 0.3.1: pip install 'taurl[train]'
    python -m taurl.skyrl.train04 [key=value overrides...]     # SkyRL 0.4.0: pip install 'taurl[skyrl04]'

Each version reads its command line its own way: 0.3.1's Hydra composes tau_bench.yaml over its
``ppo_base_config``; 0.4.0 builds its typed config (:func:`taurl.skyrl.config04.build`: tau_bench.yaml's values,
then the overrides, by 0.4.0's key names or 0.3.1's). Then the same steps (:func:`launch`) through the version's
adapter: ``validate_cfg``, the prompt budget check, Ray started, and a Ray remote function that registers the
``tau_bench`` environment in the worker and runs ``BasePPOExp``. This is the only module that reaches the GPU stack.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any

import ray

from taurl.skyrl import CONFIG_DIR
from taurl.skyrl.budget import refuse_without_room


@ray.remote(num_cpus=1)
def skyrl_entrypoint(cfg: Any, adapter: str) -> None:
    from taurl.skyrl import register
    from taurl.skyrl.env import close_recording_writers

    register()  # the env registry is per process: register where the generator runs
    try:
        importlib.import_module(adapter).experiment_class()(cfg).run()
    finally:  # Ray may end this worker without its exit handlers: the last trajectories reach the recording now
        close_recording_writers()


def launch(cfg: Any, skyrl: ModuleType) -> None:
    """Train with ``cfg`` on the SkyRL of the adapter ``skyrl`` (taurl.skyrl.skyrl031 or skyrl040)."""
    skyrl.validate_cfg(cfg)
    refuse_without_room(cfg)
    skyrl.initialize_ray(cfg)
    ray.get(skyrl_entrypoint.remote(cfg, skyrl.__name__))


def main() -> None:
    """skyrl-train 0.3.1: Hydra reads the command line (its overrides' syntax, ``--help``, ``--cfg job``)."""
    import hydra

    from taurl.skyrl import skyrl031

    @hydra.main(config_path=str(CONFIG_DIR), config_name="tau_bench", version_base=None)
    def run(cfg: Any) -> None:
        launch(cfg, skyrl031)

    run()


def main04(argv: list[str] | None = None) -> None:
    """SkyRL 0.4.0: ``key=value`` overrides over tau_bench.yaml."""
    from taurl.skyrl import config04, skyrl040

    launch(config04.build(sys.argv[1:] if argv is None else argv), skyrl040)


if __name__ == "__main__":
    main()
