"""Training entrypoint for SkyRL 0.4.0 (GPU machine, Python 3.12, ``pip install 'taurl[skyrl04]'``).

    python -m taurl.skyrl.train04 [key=value overrides...]

SkyRL 0.4.0's own pattern (``skyrl.train.entrypoints.main_base``): a typed config built from the
overrides (:func:`taurl.skyrl.config04.build`: tau_bench.yaml's values, then the overrides, by 0.4.0's
key names or 0.3.1's), checked by ``validate_cfg``, Ray initialized, and a Ray remote function that
registers the ``tau_bench`` environment in the worker and runs ``BasePPOExp``. Only this module imports
0.4.0's GPU stack; :mod:`taurl.skyrl.train` is skyrl-train 0.3.1's.
"""

import sys

import ray
from skyrl.train.entrypoints.main_base import BasePPOExp
from skyrl.train.utils import validate_cfg
from skyrl.train.utils.utils import initialize_ray

from taurl.skyrl.budget import refuse_without_room
from taurl.skyrl.config04 import TauBenchTrainConfig, build


@ray.remote(num_cpus=1)
def skyrl_entrypoint(cfg: TauBenchTrainConfig) -> None:
    from taurl.skyrl import register

    register()  # the env registry is per process: register where the generator runs
    BasePPOExp(cfg).run()


def main(argv: list[str] | None = None) -> None:
    cfg = build(sys.argv[1:] if argv is None else argv)
    validate_cfg(cfg)
    refuse_without_room(cfg)
    initialize_ray(cfg)
    ray.get(skyrl_entrypoint.remote(cfg))


if __name__ == "__main__":
    main()
