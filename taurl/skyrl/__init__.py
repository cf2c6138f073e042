"""SkyRL integration: the ``tau_bench`` text environment, dataset conversion and training entrypoint.

Only ``train.py`` imports the GPU stack (skyrl-train, vLLM, torch); everything else runs on a CPU.
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
