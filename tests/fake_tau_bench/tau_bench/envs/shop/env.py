from tau_bench.envs.base import Env
from tau_bench.envs.shop.data import load_data
from tau_bench.envs.shop.tools import ALL_TOOLS

WIKI = """# Shop policy

- Identify the customer by user id before anything else.
- Buy only what the customer asked for, once they confirm.
- Transfer to a human agent when the customer insists."""


class ShopEnv(Env):
    def __init__(
        self,
        user_strategy: str = "llm",
        user_model: str = "gpt-4o",
        user_provider: str | None = None,
        task_split: str = "test",
        task_index: int | None = None,
    ) -> None:
        if task_split != "test":
            raise ValueError(f"Unknown task split: {task_split}")
        from tau_bench.envs.shop.tasks import TASKS

        super().__init__(load_data, ALL_TOOLS, TASKS, WIKI, user_strategy, user_model, user_provider, task_index)
        self.terminate_tools = ["transfer_to_human_agents"]
