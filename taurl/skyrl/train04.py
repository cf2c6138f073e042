"""``python -m taurl.skyrl.train04``: the training entrypoint (:mod:`taurl.skyrl.train`) on SkyRL 0.4.0, the name
``taurl train --skyrl 0.4`` and ``tools/run_tau_bench.sh --skyrl 0.4`` run."""

from taurl.skyrl.train import main04

if __name__ == "__main__":
    main04()
