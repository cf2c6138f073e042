"""SkyRL integration: the ``tau_bench`` text environment (:class:`taurl.skyrl.env.ToolUseEnv`), dataset
conversion and the training entrypoint, for skyrl-train 0.3.1 and SkyRL 0.4.0.

What differs between the two versions is in their adapters, ``skyrl031.py`` and ``skyrl040.py`` (with
``config04.py``, 0.4.0's typed config); ``generator.py`` (the generator harness) and ``train.py`` (the
entrypoint) take either. Only the adapters import SkyRL's CPU side (Python 3.12), and only the entrypoint
reaches its GPU stack (trainer, vLLM); everything else runs anywhere.
"""

from __future__ import annotations

from pathlib import Path

ENV_ID = "tau_bench"
CONFIG_DIR = Path(__file__).parent / "config"
CONFIG_FILE = CONFIG_DIR / "tau_bench.yaml"  # the training config both versions start from
ENTRY_POINT = "taurl.skyrl.env:ToolUseEnv"


def register() -> None:
    """Register ``tau_bench`` with skyrl-gym; safe to call any number of times."""
    from skyrl_gym.envs import register as gym_register
    from skyrl_gym.envs.registration import registry

    if ENV_ID not in registry:
        gym_register(id=ENV_ID, entry_point=ENTRY_POINT)
