"""Replay throughput on the built-in domains, with a baseline measured in the same run.

    python tools/bench_replay.py [--trials 3]

Records oracle episodes of every built-in task (train and test), then times (a) `taurl replay`'s
engine re-checking every episode (re-parse, re-execute tools, user from the record, reward, diff)
and (b) the baseline: running the same episodes again from scratch without any comparison.
Goal: ≥ 1,000 episodes/s replayed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from taurl.config import RunConfig
from taurl.domains import DOMAIN_NAMES
from taurl.record.store import RecordingStore
from taurl.replay import Replayer
from taurl.runner import execute


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--domain", action="append", choices=DOMAIN_NAMES, help="only these domains (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        recording = Path(tmp) / "rec"
        domains = args.domain or list(DOMAIN_NAMES)
        configs = [RunConfig(domain=d, split=s, trials=args.trials) for d in domains for s in ("train", "test")]
        for config in configs:
            execute(config, recording)
        start = time.perf_counter()
        for config in configs:
            execute(config)
        baseline = time.perf_counter() - start
        replayer = Replayer(RecordingStore(recording))
        start = time.perf_counter()
        rows = replayer.episodes()
        loaded = time.perf_counter() - start
        for row in rows[: min(200, len(rows))]:  # warm the per-process gold-state cache, as a long replay does
            replayer.replay(row)
        start = time.perf_counter()
        results = [replayer.replay(row) for row in rows]
        replay = time.perf_counter() - start
    diverged = sum(not r.identical for r in results)
    n = len(results)
    print(f"episodes        {n} ({', '.join(domains)}; {args.trials} trials)")
    print(f"load            {loaded:.2f}s from Parquet through DuckDB ({n / loaded:,.0f} episodes/s)")
    print(f"replay          {n / replay:,.0f} episodes/s ({diverged} diverged)")
    print(f"baseline        {n / baseline:,.0f} episodes/s running the same episodes again with no comparison")
    print(f"ratio           replay at {baseline / replay:.2f}x the baseline's speed")
    return 1 if diverged else 0


if __name__ == "__main__":
    sys.exit(main())
