"""Dataset conversion to SkyRL's parquet format, from taurl task sets or the seed system's task file.

Rows: ``prompt`` (the system prompt: the policy for the task's tool set + those tools in Qwen2.5's
format), ``env_class="tau_bench"``,
``reward_spec = {"method": "taurl", "ground_truth": <JSON string of {"actions", "outputs"}>}`` (a
string: Arrow would merge every row's kwargs into one struct, and the seed data's conflicting
argument types make that fail; it also holds ``metadata``, what of the task's metadata its domain needs
to rebuild it: a ``tau2:<domain>`` task's τ² form, from which the env rebuilds its initial state, message
history, user-side actions and evaluation), ``extra_info`` (domain, task id, split, instruction, basis, ...) and
``data_source`` (the domain: SkyRL reports eval metrics per data source, ``eval/<domain>/...``).
Nothing is dropped silently: every input task lands in train, validation, ``trivial.parquet`` (train tasks
whose reward a trivial policy already earns, left out of training; same rows, for evaluation) or
``rejects.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from taurl.agent.prompts import system_prompt
from taurl.core.hashing import sha256_hex
from taurl.core.types import Task
from taurl.registry import get_domain
from taurl.skyrl import ENV_ID

TRAIN_FILE = "train.parquet"
VALIDATION_FILE = "validation.parquet"
TRIVIAL_FILE = "trivial.parquet"
REJECTS_FILE = "rejects.jsonl"
QUALITY_FILE = "quality.json"
EXTRA_INFO_FIELDS = ("domain", "task_id", "split", "instruction", "basis", "user_id", "tool_set")
ROW_SCHEMA = pa.schema(
    [
        ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("env_class", pa.string()),
        ("reward_spec", pa.struct([("method", pa.string()), ("ground_truth", pa.string())])),
        ("extra_info", pa.struct([(name, pa.string()) for name in EXTRA_INFO_FIELDS])),
        ("data_source", pa.string()),
    ]
)


def task_row(task: Task) -> dict[str, Any]:
    domain = get_domain(task.domain)
    truth = {"actions": [a.to_dict() for a in task.actions], "outputs": list(task.outputs)}
    if task.initial_state:  # records the task adds to (or patches in) its initial database
        truth["initial_state"] = task.initial_state
    carried = domain.carried_metadata(task)  # a τ² task's own form (initial state, history, criteria, user side)
    if carried:
        truth["metadata"] = carried
    return {
        "prompt": [
            {
                "role": "system",
                "content": system_prompt(domain.policy_for(task.tool_set), domain.tools_for(task.tool_set)),
            }
        ],
        "env_class": ENV_ID,
        "reward_spec": {"method": "taurl", "ground_truth": json.dumps(truth, ensure_ascii=False, sort_keys=True)},
        "extra_info": {
            "domain": task.domain,
            "task_id": task.id,
            "split": task.split,
            "instruction": task.instruction,
            "basis": str(task.reward_basis),
            "user_id": task.user_id or "",
            "tool_set": task.tool_set,
        },
        "data_source": task.domain,
    }


def in_validation(task: Task, fraction: float, seed: int) -> bool:
    """A deterministic split: a hash of (seed, domain, task id), not the order of the input."""
    digest = sha256_hex(f"{seed}:{task.domain}:{task.id}")
    return int(digest[:8], 16) / 0xFFFFFFFF < fraction


@dataclass
class Conversion:
    train: list[Task] = field(default_factory=list)
    validation: list[Task] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    quality: dict[str, Any] = field(default_factory=dict)
    trivial: list[Task] = field(default_factory=list)  # train tasks left out: a trivial policy passes them

    @property
    def total(self) -> int:
        return len(self.train) + len(self.validation) + len(self.trivial) + len(self.rejects)


def write_conversion(conversion: Conversion, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = (
        (TRAIN_FILE, conversion.train),
        (VALIDATION_FILE, conversion.validation),
        (TRIVIAL_FILE, conversion.trivial),
    )
    for name, tasks in files:
        rows = [task_row(t) for t in tasks]
        table = pa.Table.from_pylist(rows, schema=ROW_SCHEMA)
        pq.write_table(table, out / name)
    with open(out / REJECTS_FILE, "w") as handle:
        for reject in conversion.rejects:
            handle.write(json.dumps(reject, ensure_ascii=False, sort_keys=True) + "\n")
    (out / QUALITY_FILE).write_text(json.dumps(conversion.quality, indent=1, sort_keys=True) + "\n")


def split_tasks(tasks: Sequence[Task], validation_fraction: float, seed: int) -> tuple[list[Task], list[Task]]:
    """taurl's own splits map directly (train -> train, test/dev -> validation); a single split is
    divided by :func:`in_validation`, its held-out tasks relabelled ``validation``."""
    splits = {t.split for t in tasks}
    if len(splits) > 1:
        return [t for t in tasks if t.split == "train"], [t for t in tasks if t.split != "train"]
    validation = [
        dataclasses.replace(t, split="validation") for t in tasks if in_validation(t, validation_fraction, seed)
    ]
    chosen = {(t.domain, t.id) for t in validation}
    return [t for t in tasks if (t.domain, t.id) not in chosen], validation
