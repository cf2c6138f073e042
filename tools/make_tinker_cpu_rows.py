"""Write SkyRL rows small enough to train on a CPU with a tiny random model (tools/make_tiny_qwen3.py):
``train.parquet`` (6 tasks) and ``held-out.parquet`` (1 task) in OUT_DIR.

Each row is an airline task with a one-line system prompt (a real row's prompt, the policy and its tools,
is thousands of tokens: too long for a CPU) whose reward (taurl's ``outputs`` component, basis
``db+outputs``) is whether the reply contains a letter that a random model's 12-token reply contains about
half of the time, and that no refusal contains: so a group's samples score differently and an update has
a signal. What it exercises is the training loop, not the agent.

    python tools/make_tinker_cpu_rows.py OUT_DIR
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from taurl.core.types import RewardBasis, Task
from taurl.skyrl.dataset import ROW_SCHEMA, task_row

PROMPT = "You are a customer service agent. Answer briefly."
LETTERS = ("d", "f", "g", "v", "k", "x")  # in 20-75% of the tiny model's replies, never in a refusal


def says(task_id: str, output: str) -> Task:
    """A task whose reward is whether the agent's reply contains ``output``."""
    return Task(
        id=task_id,
        domain="airline",
        split="train",
        user_id=None,
        instruction="Hello, please answer me.",
        outputs=(output,),
        reward_basis=RewardBasis.DB_OUTPUTS,
    )


def write_rows(path: Path, tasks: Sequence[Task]) -> None:
    rows = []
    for task in tasks:
        row = task_row(task)
        row["prompt"] = [{"role": "system", "content": PROMPT}]
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=ROW_SCHEMA), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    write_rows(out / "train.parquet", [says(f"say-{n}", letter) for n, letter in enumerate(LETTERS)])
    write_rows(out / "held-out.parquet", [says("held-out", "v")])
    print(f"wrote {out / 'train.parquet'} (6 tasks) and {out / 'held-out.parquet'} (1 task)")


if __name__ == "__main__":
    main()
