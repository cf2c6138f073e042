"""Reset + reward cost per episode: taurl against a baseline that does what τ-bench does.

    python tools/bench_reset_reward.py [--shared ../shared/taubench] [--repeat 3]

Per episode the baseline deep-copies the database (τ-bench reloads it from JSON, which is slower
still), runs the agent's actions, then rebuilds a fresh copy, replays the gold actions and compares
full canonical hashes of both states. taurl forks its copy-on-write view (O(1)), runs the same
actions, and compares touched records against a cached gold state. Two agents are timed: the oracle
(gold actions) and a do-nothing agent; their rewards must be identical under both implementations.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import statistics
import sys
import time
from pathlib import Path

from taurl.core.db import Database
from taurl.core.hashing import canonical_hash
from taurl.core.reward import GoldCache, compute_reward
from taurl.core.types import RewardBasis, TerminatedBy, ToolKind
from taurl.registry import get_domain

SPLITS = {"airline": ["test"], "retail": ["test", "train", "dev"]}


def baseline_reward(domain, base, task, actions) -> float:
    """τ-bench's calculate_reward: fresh copy, run, full hash; fresh copy, gold, full hash."""
    db = Database(copy.deepcopy(base))
    for action in actions:
        domain.tools.invoke(db, action)
    final_hash = canonical_hash(db.to_dict())
    gold = Database(copy.deepcopy(base))
    for action in task.actions:
        if domain.tools[action.name].kind is not ToolKind.TERMINATE:
            domain.tools.invoke(gold, action)
    return float(final_hash == canonical_hash(gold.to_dict()))


def taurl_reward(domain, initial, gold_cache, task, actions) -> float:
    db = initial.fork()
    for action in actions:
        domain.tools.invoke(db, action)
    gold = gold_cache.get(task, initial, domain.tools)
    return compute_reward(task, db, gold, actions, domain.tools, TerminatedBy.USER_STOP).reward


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "taubench"
    )
    parser.add_argument("--repeat", type=int, default=3, help="timed passes of taurl over all episodes")
    parser.add_argument("--baseline-episodes", type=int, default=40, help="episodes timed for the (slow) baseline")
    args = parser.parse_args()
    if not args.shared.exists():
        print(f"τ-bench data not found at {args.shared}", file=sys.stderr)
        return 2
    print(f"{'domain':8} {'episodes':>8} {'baseline ms/ep':>15} {'taurl ms/ep':>12} {'speed-up':>9}  rewards")
    for name, splits in SPLITS.items():
        domain = get_domain(name)
        data_dir = args.shared / name
        initial = domain.database(data_dir)
        base = initial.to_dict()
        tasks = [t for split in splits for t in domain.tasks(split, data_dir)]
        # the hash comparison only: outputs need replies, which neither side times
        tasks = [dataclasses.replace(t, reward_basis=RewardBasis.DB_OUTPUTS, outputs=()) for t in tasks]
        episodes = [(t, list(t.actions)) for t in tasks] + [(t, []) for t in tasks]
        gold_cache = GoldCache()
        for task, actions in episodes:  # warm the gold cache: steady state of a training run
            taurl_reward(domain, initial, gold_cache, task, actions)
        taurl_times = []
        taurl_rewards = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            taurl_rewards = [taurl_reward(domain, initial, gold_cache, t, a) for t, a in episodes]
            taurl_times.append((time.perf_counter() - start) / len(episodes))
        sample = range(0, len(episodes), max(1, len(episodes) // args.baseline_episodes))
        start = time.perf_counter()
        baseline_rewards = [baseline_reward(domain, base, *episodes[i]) for i in sample]
        baseline_time = (time.perf_counter() - start) / len(sample)
        expected = [taurl_rewards[i] for i in sample]
        agree = "identical" if expected == baseline_rewards else "DIFFERENT"
        taurl_ms = statistics.median(taurl_times) * 1000
        print(
            f"{name:8} {len(episodes):>8} {baseline_time * 1000:>15.1f} {taurl_ms:>12.3f} "
            f"{baseline_time * 1000 / taurl_ms:>8.0f}x  {agree} ({len(sample)} compared)"
        )
        if agree != "identical":
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
