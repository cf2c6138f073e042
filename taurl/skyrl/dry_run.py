"""``taurl train --dry-run``: the training config and dataset, driven on a CPU.

Two paths. Where the training stack imports (Python 3.12 with the ``train`` extra),
:func:`generator_dry_run` runs skyrl-train's own generator (:mod:`taurl.skyrl.generator`): the config
composed over its base config and validated, its dataset, its ``SkyRLGymGenerator`` and
``InferenceEngineClient``, with a CPU policy where the vLLM engine would be. Elsewhere :func:`dry_run`
reads the same YAML (taurl's part of it: data paths, ``generator.max_turns``,
``environment.skyrl_gym.tau_bench``), makes one ``tau_bench`` env per trajectory with
``skyrl_gym.make`` as SkyRL's generator does, and steps them from a thread pool. The policy is the
oracle (gold actions as Qwen ``<tool_call>`` text) or any OpenAI-compatible endpoint. The user is
made offline unless asked otherwise (:func:`offline_user`).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from taurl.llm.cache import CacheMode
from taurl.llm.client import ChatClient
from taurl.skyrl import CONFIG_DIR, CONFIG_FILE
from taurl.skyrl.env import flush_recordings
from taurl.skyrl.policies import Message, task_oracle
from taurl.skyrl.rows import task_from_extras

# the key paths of skyrl-train 0.3.1's base config, which taurl's YAML composes over (tools/skyrl_config_keys.py)
BASE_KEYS_FILE = CONFIG_DIR / "skyrl_train_0.3.1_keys.txt"
ENV_CONFIG = "environment.skyrl_gym.tau_bench"
USER_CHOICES = ("auto", "config", "scripted", "serve-sim")
RECORDING_KEY = f"{ENV_CONFIG}.recording_dir"
RECORDING = Path("runs") / "train-dry-run"  # the dry run's default, in the working directory


def load_config(path: Path = CONFIG_FILE, overrides: Sequence[str] = ()) -> DictConfig:
    """taurl's training YAML with dotted ``key=value`` overrides (Hydra's syntax: ``+key=value`` adds a key)."""
    config = OmegaConf.load(path)
    for key in ("hydra", "defaults"):
        config.pop(key, None)
    if overrides:
        config = OmegaConf.merge(config, OmegaConf.from_dotlist([o.lstrip("+") for o in overrides]))
    return config


def key_paths(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Every key path of a config, a mapping's own and its children's."""
    for key in node.keys():
        path = f"{prefix}{key}"
        yield path
        child = node._get_node(key)  # the node itself: interpolations (${oc.env:HOME}) stay unresolved
        if isinstance(child, DictConfig) and not child._is_none():
            yield from key_paths(child, path + ".")


def check_overrides(overrides: Sequence[str], path: Path = CONFIG_FILE) -> None:
    """As Hydra composing the training config would, refuse (ValueError, one line) an override of a key that
    neither taurl's YAML nor skyrl-train's base config has, naming the closest known key; ``+key=value``
    adds a key on purpose."""
    ours = OmegaConf.load(path)
    for key in ("hydra", "defaults"):
        ours.pop(key, None)
    known = set(key_paths(ours)) | set(BASE_KEYS_FILE.read_text(encoding="utf-8").split())
    for override in overrides:
        key, sep, _ = override.partition("=")
        if not sep and not key.startswith("~"):
            raise ValueError(f"config override {override!r} is not KEY=VALUE")
        if key.startswith("+"):
            continue
        key = key.removeprefix("~")
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.8)
            hint = f"did you mean {close[0]}? " if close else ""
            raise ValueError(
                f"config override {override!r}: {key} is not a key of the training config ({path.name} over "
                f"skyrl-train 0.3.1's base config); {hint}(+{key}=... adds a new key)"
            )


def recording_override(overrides: Sequence[str]) -> tuple[list[str], str]:
    """Where the dry run records its trajectories: the working directory's ``runs/train-dry-run`` unless an
    override names a place (the config's own default is a training run's, under the home directory)."""
    given = [o.partition("=")[2] for o in overrides if o.lstrip("+").partition("=")[0] == RECORDING_KEY]
    if given:
        return [], given[-1]
    return [f"{RECORDING_KEY}={RECORDING.resolve()}"], str(RECORDING)


def training_stack() -> str | None:
    """skyrl-train's version where its generator can run here (the ``train`` extra), else None."""
    if importlib.util.find_spec("skyrl_train") is None or importlib.util.find_spec("torch") is None:
        return None
    from importlib.metadata import version

    return version("skyrl-train")


def offline_user(config: DictConfig, choice: str) -> tuple[list[str], str]:
    """Overrides that pick the dry run's user, and how to say it. ``auto`` keeps the config's user
    when it can answer (scripted, its own endpoint, or an OpenAI key set) and is scripted otherwise;
    ``serve-sim`` is an LLM user played by taurl's local simulator (the caller starts it)."""
    if choice not in USER_CHOICES:
        raise ValueError(f"--user {choice!r}: one of {', '.join(USER_CHOICES)}")
    env = config.environment.skyrl_gym.tau_bench
    configured = f"{env.user_strategy} ({env.user_model})" if env.user_strategy != "scripted" else "scripted"
    if choice == "scripted" or (
        choice == "auto"
        and env.user_strategy != "scripted"
        and not env.user_base_url
        and not os.environ.get("OPENAI_API_KEY")
    ):
        reason = "" if choice == "scripted" else f": the config's {configured} user needs OPENAI_API_KEY"
        return [f"{ENV_CONFIG}.user_strategy=scripted"], f"scripted{reason} (--user serve-sim for an offline LLM user)"
    if choice == "serve-sim":
        return [f"{ENV_CONFIG}.user_strategy=llm", f"{ENV_CONFIG}.user_model=sim-user"], "llm (sim-user on serve-sim)"
    return [], f"{configured}, as configured"


@dataclass
class Trajectory:
    task_id: str
    domain: str
    reward: float
    turns: int
    metrics: dict[str, Any]
    ended: str
    prompt_tokens: int | None = None
    response_tokens: int | None = None


class EndpointPolicy:
    """An OpenAI-compatible chat model (e.g. serve-sim's sim-agent-text, or a vLLM server)."""

    def __init__(self, client: ChatClient):
        self.client = client

    def __call__(self, conversation: Sequence[Message]) -> str:
        return self.client.complete(list(conversation), namespace="agent").message.get("content") or ""


def endpoint_policy(policy_model: str | None, policy_base_url: str | None) -> EndpointPolicy:
    if not policy_model:
        raise ValueError("an endpoint policy needs --policy-model (and --policy-base-url for a local server)")
    return EndpointPolicy(ChatClient(policy_model, policy_base_url, mode=CacheMode.OFF))


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
    reward, turns = 0.0, 0
    try:
        while True:
            text = policy(conversation)
            output = env.step(text)
            turns += 1
            conversation = [*conversation, {"role": "assistant", "content": text}, *output["observations"]]
            if output["done"]:
                reward = output["reward"]
                break
        metrics = env.get_metrics()
        ended = next((k.removeprefix("ended_") for k, v in metrics.items() if k.startswith("ended_") and v), "-")
        return Trajectory(
            extras["extra_info"]["task_id"], extras["extra_info"]["domain"], reward, turns, metrics, ended
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
    """The env path: ``tau_bench`` envs made and stepped as SkyRL's generator would, without it."""
    rows = read_rows(list(config.data.train_data), prompts)
    env_config = config.environment.skyrl_gym.tau_bench
    max_turns = int(config.generator.max_turns)
    if policy == "oracle":
        factory = lambda extras: task_oracle(task_from_extras(extras))  # noqa: E731
    else:
        endpoint = endpoint_policy(policy_model, policy_base_url)
        factory = lambda extras: endpoint  # noqa: E731
    pool_size = workers or int(config.environment.skyrl_gym.get("max_env_workers", 4))
    with ThreadPoolExecutor(max_workers=max(1, min(pool_size, len(rows) or 1))) as pool:
        trajectories = list(pool.map(lambda row: run_trajectory(row, env_config, max_turns, factory), rows))
    flush_recordings()  # the envs' writer batches: what the dry run says it recorded is in the recording now
    return trajectories


def generator_dry_run(
    overrides: Sequence[str],
    config_file: Path = CONFIG_FILE,
    prompts: int = 4,
    policy: str = "oracle",
    policy_model: str | None = None,
    policy_base_url: str | None = None,
) -> tuple[list[Trajectory], dict[str, float]]:
    """The generator path: one training step's generation by skyrl-train's own code over the first
    ``prompts`` rows (``n_samples_per_prompt`` each), the vLLM engine replaced by ``policy``. Returns
    the trajectories and skyrl-train's rollout metrics."""
    import sys

    from loguru import logger

    from taurl.skyrl import skyrl031
    from taurl.skyrl.generator import batch_rows, compose, generate, prompt_dataset, task_openings
    from taurl.skyrl.policies import Oracle
    from taurl.skyrl.tokenizer import qwen25_tokenizer

    logger.remove()  # skyrl-train logs every engine request at DEBUG: warnings only here
    logger.add(sys.stderr, level="WARNING")
    cfg = compose(skyrl031, overrides, config_file)
    tokenizer = qwen25_tokenizer()
    batch = batch_rows(prompt_dataset(skyrl031, cfg, tokenizer), prompts)
    if not batch:
        raise ValueError(f"no prompt of {list(cfg.data.train_data)} fits trainer.max_prompt_length")
    chosen = Oracle(task_openings(batch, cfg)) if policy == "oracle" else endpoint_policy(policy_model, policy_base_url)
    output = generate(skyrl031, cfg, tokenizer, chosen, batch)
    flush_recordings()
    samples = cfg.generator.n_samples_per_prompt
    trajectories = []
    for i, (prompt_ids, response_ids, mask, rewards, stop) in enumerate(
        zip(
            output["prompt_token_ids"],
            output["response_ids"],
            output["loss_masks"],
            output["rewards"],
            output["stop_reasons"],
            strict=True,
        )
    ):
        info = batch[i // samples]["env_extras"]["extra_info"]
        turns = sum(1 for j, bit in enumerate(mask) if bit and (j == 0 or not mask[j - 1]))
        reward = rewards[-1] if isinstance(rewards, list) else rewards
        trajectories.append(
            Trajectory(
                info["task_id"], info["domain"], float(reward), turns, {}, stop, len(prompt_ids), len(response_ids)
            )
        )
    metrics = {k: float(v) for k, v in output["rollout_metrics"].items()}
    return trajectories, metrics
