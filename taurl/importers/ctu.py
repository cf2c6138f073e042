"""The seed system's training file (``novel_sft_dataset.json``): ``{"tasks": [{"user_id", "instruction",
"actions", "domain", ...}]}``, GPT-made, with no expected outputs. Tasks keep their order as ids
(``ctu-<domain>-<index>``) and see the seed system's own tool set."""

from __future__ import annotations

import json
from pathlib import Path

from taurl.core.types import Action, RewardBasis, Task

SEED_TOOL_SET = "seed"


def load_seed_tasks(path: Path | str, basis: RewardBasis = RewardBasis.AUTO) -> list[Task]:
    data = json.loads(Path(path).read_text())
    rows = data["tasks"] if isinstance(data, dict) else data
    tasks = []
    for index, row in enumerate(rows):
        domain = str(row.get("domain", ""))
        tasks.append(
            Task(
                id=f"ctu-{domain}-{index:04d}",
                domain=domain,
                split="train",
                user_id=row.get("user_id"),
                instruction=str(row.get("instruction", "")),
                actions=tuple(Action.from_dict(a) for a in row.get("actions", [])),
                outputs=tuple(row.get("outputs", [])),
                reward_basis=basis,
                tool_set=SEED_TOOL_SET,
                metadata={k: row[k] for k in ("complexity", "annotator") if k in row},
            )
        )
    return tasks
