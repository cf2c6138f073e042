"""``get_env``: the package's one way to construct an environment."""

from tau_bench.envs.base import Env


def get_env(
    env_name: str,
    user_strategy: str,
    user_model: str,
    task_split: str,
    user_provider: str | None = None,
    task_index: int | None = None,
) -> Env:
    if env_name == "shop":
        from tau_bench.envs.shop.env import ShopEnv

        return ShopEnv(user_strategy, user_model, user_provider, task_split, task_index)
    raise ValueError(f"Unknown environment: {env_name}")
