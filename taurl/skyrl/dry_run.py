"""``taurl train --dry-run``: the training config and dataset, driven on a CPU.

It reads the same Hydra config (taurl's part of it: data paths, ``generator.max_turns``,
``environment.skyrl_gym.tau_bench``), makes one ``tau_bench`` env per trajectory with
``skyrl_gym.make`` as SkyRL's generator does, and steps them from a thread pool with a CPU policy:
the oracle (gold actions written as Qwen ``<tool_call>`` text) or any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taurl.agent.parser import format_tool_call
from taurl.core.types import Action
from taurl.llm.cache import CacheMode
from taurl.llm.client import ChatClient

CONFIG_FILE = Path(__file__).parent / "config" / "tau_bench.yaml"


def load_config(path: Path = CONFIG_FILE, overrides: Sequence[str] = ()) -> DictConfig:
    """taurl's training YAML with dotted ``key=value`` overrides (Hydra's syntax for plain keys)."""
    config = OmegaConf.load(path)
    for key in ("hydra", "defaults"):
        config.pop(key, None)
    if overrides:
        config = OmegaConf.merge(config, OmegaConf.from_dotlist(list(overrides)))
    return config


@dataclass
class Trajectory:
    task_id: str
    domain: str
    reward: float
    turns: int
    metrics: dict[str, Any]


class OraclePolicy:
    """Writes the row's gold actions as Qwen tool-call text, then the expected outputs as a reply."""

    def __init__(self, extras: dict[str, Any]):
        truth = json.loads(extras["reward_spec"]["ground_truth"])
        replies = "; ".join(truth.get("outputs", [])) or "Your request has been handled."
        self.texts = [format_tool_call(Action.from_dict(a)) for a in truth["actions"] if a["name"] != "respond"] + [
            replies
        ]

    def __call__(self, conversation: list[dict[str, Any]], turn: int) -> str:
        return self.texts[turn] if turn < len(self.texts) else "Is there anything else I can help with?"


class EndpointPolicy:
    """An OpenAI-compatible chat model (e.g. serve-sim's sim-agent-text, or a vLLM server)."""

    def __init__(self, client: ChatClient):
        self.client = client

    def __call__(self, conversation: list[dict[str, Any]], turn: int) -> str:
        return self.client.complete(conversation, namespace="agent").message.get("content") or ""


def read_rows(paths: Sequence[str], limit: int) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(
                f"dataset {path} does not exist: make it with `taurl data convert --out {Path(path).parent}`"
            )
        rows += pq.read_table(path).to_pylist()
    return rows[:limit]


def run_trajectory(row: dict[str, Any], env_config: DictConfig, max_turns: int, policy_factory) -> Trajectory:
    import skyrl_gym

    from taurl.skyrl import ENV_ID, register

    register()
    extras = {k: v for k, v in row.items() if k not in ("prompt", "env_class")}
    extras["max_turns"] = max_turns  # what SkyRL's generator does
    env = skyrl_gym.make(ENV_ID, env_config=env_config, extras=extras)
    policy = policy_factory(extras)
    conversation, _ = env.init(list(row["prompt"]))
    reward, turn = 0.0, 0
    try:
        while True:
            text = policy(conversation, turn)
            output = env.step(text)
            turn += 1
            conversation = [*conversation, {"role": "assistant", "content": text}, *output["observations"]]
            if output["done"]:
                reward = output["reward"]
                break
        return Trajectory(
            extras["extra_info"]["task_id"], extras["extra_info"]["domain"], reward, turn, env.get_metrics()
        )
    finally:
        env.close()


def dry_run(
    config: DictConfig,
    prompts: int = 4,
    policy: str = "oracle",
    policy_model: str | None = None,
    policy_base_url: str | None = None,
    workers: int | None = None,
) -> list[Trajectory]:
    rows = read_rows(list(config.data.train_data), prompts)
    env_config = config.environment.skyrl_gym.tau_bench
    max_turns = int(config.generator.max_turns)
    if policy == "oracle":
        factory = OraclePolicy
    else:
        if not policy_model:
            raise ValueError("an endpoint policy needs --policy-model (and --policy-base-url for a local server)")
        client = ChatClient(policy_model, policy_base_url, mode=CacheMode.OFF)
        factory = lambda extras: EndpointPolicy(client)  # noqa: E731
    pool_size = workers or int(config.environment.skyrl_gym.get("max_env_workers", 4))
    with ThreadPoolExecutor(max_workers=max(1, min(pool_size, len(rows) or 1))) as pool:
        return list(pool.map(lambda row: run_trajectory(row, env_config, max_turns, factory), rows))
