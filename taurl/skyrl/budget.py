"""Prompt lengths in tokens, and the room SkyRL's generator needs after the longest one.

skyrl-train 0.3.1's ``agent_loop`` (and skyrl 0.4.0's) stops before the first turn when the prompt is
longer than ``generator.max_input_length``, then indexes with the turn's end it never set
(``response_end_idx`` is None): the run crashes. taurl's prompts carry the policy and every tool schema
(thousands of tokens), so a training config must leave room for the longest prompt plus one turn
(``generator.sampling_params.max_generate_length``); :func:`check_room` refuses one that does not.
Tokens are Qwen2.5's (:func:`taurl.skyrl.tokenizer.prompt_tokens`), the vocabulary of every Qwen2/2.5/3 model.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TOKENIZER = "Qwen2.5's tokenizer"


@dataclass(frozen=True)
class PromptLengths:
    prompts: int
    min: int
    median: int
    max: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def token_counts(prompts: Iterable[Sequence[Mapping[str, Any]]]) -> list[int]:
    """Each chat prompt's tokens; a prompt repeated (one per domain and tool set) is counted once."""
    from taurl.skyrl.tokenizer import prompt_tokens

    counted: dict[tuple, int] = {}
    counts = []
    for prompt in prompts:
        key = tuple((m["role"], m["content"]) for m in prompt)
        if key not in counted:
            counted[key] = prompt_tokens(prompt)
        counts.append(counted[key])
    return counts


def prompt_lengths(prompts: Iterable[Sequence[Mapping[str, Any]]]) -> PromptLengths | None:
    """min, median and max of the prompts' tokens (None for no prompt)."""
    counts = token_counts(prompts)
    if not counts:
        return None
    return PromptLengths(len(counts), min(counts), int(statistics.median_low(counts)), max(counts))


def dataset_prompts(paths: Iterable[str | Path]) -> list[list[dict[str, Any]]]:
    """The ``prompt`` column of SkyRL parquet files (``taurl data convert``)."""
    import pyarrow.parquet as pq

    prompts: list[list[dict[str, Any]]] = []
    for path in paths:
        prompts += pq.read_table(path, columns=["prompt"]).column("prompt").to_pylist()
    return prompts


class PromptBudgetError(ValueError):
    pass


def check_room(cfg: Any) -> str | None:
    """Refuse (:class:`PromptBudgetError`, one line) a ``generator.max_input_length`` below the longest prompt
    of the config's datasets plus one turn; else say what it leaves, or None when no dataset file exists yet.
    ``cfg``: skyrl-train 0.3.1's DictConfig, SkyRL 0.4.0's dataclass or taurl's YAML."""
    files = [str(p) for p in (*(cfg.data.train_data or []), *(cfg.data.val_data or [])) if Path(p).is_file()]
    limit = cfg.trainer.max_prompt_length
    # SkyRL's PromptDataset leaves longer prompts out of training
    lengths = [n for n in token_counts(dataset_prompts(files)) if n <= limit]
    if not lengths:
        return None
    longest = max(lengths)
    turn = cfg.generator.sampling_params.max_generate_length
    room = cfg.generator.max_input_length or limit  # 0.4.0 defaults it to trainer.max_prompt_length
    if longest + turn > room:
        raise PromptBudgetError(
            f"generator.max_input_length={room} leaves no room for the longest prompt of {', '.join(files)} "
            f"({longest} tokens, {TOKENIZER}) plus one turn (generator.sampling_params.max_generate_length={turn}): "
            "a prompt and opening over it crash SkyRL's agent_loop before the first turn (response_end_idx is "
            f"None), one just under it has its first turn cut; set it to at least {longest + turn}"
        )
    return (
        f"prompt budget: longest prompt {longest} tokens + one turn {turn} <= generator.max_input_length {room} "
        f"({TOKENIZER})"
    )


def refuse_without_room(cfg: Any) -> None:
    """A training entrypoint's check, before Ray starts: :func:`check_room`'s line, or its refusal (exit 2)."""
    import sys

    try:
        said = check_room(cfg)
    except PromptBudgetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
    if said:
        print(said)
