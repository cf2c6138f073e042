"""SkyRL integration: the ``tau_bench`` text environment, dataset conversion and training entrypoint.

Only ``train.py`` imports the GPU stack (skyrl-train's trainer, vLLM); ``generator.py`` and
``stub_engine.py`` import skyrl-train's CPU side (the ``train`` extra, Python 3.12) and only when
used; everything else runs anywhere.
"""

from __future__ import annotations

ENV_ID = "tau_bench"
ENTRY_POINT = "taurl.skyrl.env:TauBenchEnv"


def register() -> None:
    """Register ``tau_bench`` with skyrl-gym; safe to call any number of times."""
    from skyrl_gym.envs import register as gym_register
    from skyrl_gym.envs.registration import registry

    if ENV_ID not in registry:
        gym_register(id=ENV_ID, entry_point=ENTRY_POINT)
