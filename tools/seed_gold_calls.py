"""Run every gold tool call of the seed system's novel_sft_dataset.json through taurl's tools on the
seed system's databases (τ-bench's for airline and retail), and count the outcomes per domain.

    python tools/seed_gold_calls.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from taurl.importers.ctu import load_seed_tasks
from taurl.registry import get_domain

OUTCOMES = ("ok", "bad_arguments", "unknown_tool", "tool_error", "tool_exception")


def data_dirs(shared: Path) -> dict[str, Path]:
    return {
        "airline": shared / "taubench" / "airline",
        "retail": shared / "taubench" / "retail",
        **{d: shared / "ctu" / d for d in ("telecom", "healthcare", "doordash")},
    }


def count_outcomes(shared: Path) -> dict[str, Counter[str]]:
    """Each task's gold calls run in order on a fresh episode database, as an agent would make them."""
    dirs = data_dirs(shared)
    counts: dict[str, Counter[str]] = {}
    for task in load_seed_tasks(shared / "ctu" / "novel_sft_dataset.json"):
        domain = get_domain(task.domain)
        tools = domain.tools_for("seed")
        db = domain.database(dirs[task.domain])
        counter = counts.setdefault(task.domain, Counter())
        for action in task.actions:
            result = tools.invoke(db, action)
            counter[result.error or "ok"] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    args = parser.parse_args()
    counts = count_outcomes(args.shared)
    print(f"{'domain':12}" + "".join(f"{o:>16}" for o in OUTCOMES) + f"{'calls':>8}")
    for domain, counter in sorted(counts.items()):
        print(f"{domain:12}" + "".join(f"{counter[o]:>16}" for o in OUTCOMES) + f"{sum(counter.values()):>8}")
    print(json.dumps({d: dict(c) for d, c in counts.items()}, sort_keys=True))
    return 1 if any(c["tool_exception"] for c in counts.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
