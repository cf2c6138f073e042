"""Replay throughput on the built-in domains, with a baseline measured in the same run.

    python tools/bench_replay.py [--trials 3]

Records oracle episodes of every built-in task (train and test), then times (a) `taurl replay`'s
engine re-checking every episode (streamed from the store, re-parse, re-execute tools, user from the
record, reward, diff) in one process and in ``--jobs`` processes (results checked identical), and
(b) the baseline: running the same episodes again from scratch without any comparison, in one process.
Goal: ≥ 3,000 episodes/s replayed with 2 jobs.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from taurl.domains import DOMAIN_NAMES
from taurl.episodes.config import RunConfig
from taurl.episodes.runner import execute
from taurl.record.store import RecordingStore
from taurl.review.replay import Replayer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="processes of the parallel replay")
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
        start = time.perf_counter()
        results = list(Replayer(RecordingStore(recording)).replay_all())
        replay = time.perf_counter() - start
        start = time.perf_counter()
        parallel = list(Replayer(RecordingStore(recording)).replay_all(jobs=args.jobs))
        replay_jobs = time.perf_counter() - start
    diverged = sum(not r.identical for r in results)
    same = [r.to_dict() for r in results] == [r.to_dict() for r in parallel]
    n = len(results)
    print(f"episodes        {n} ({', '.join(domains)}; {args.trials} trials)")
    print(f"replay          {n / replay:,.0f} episodes/s in 1 process, streamed from the store ({diverged} diverged)")
    print(
        f"replay --jobs {args.jobs} {n / replay_jobs:,.0f} episodes/s, {'identical' if same else 'DIFFERENT'} results"
    )
    print(f"baseline        {n / baseline:,.0f} episodes/s running the same episodes again with no comparison")
    print(
        f"ratio           replay at {baseline / replay:.2f}x the baseline's speed, --jobs {args.jobs} at {baseline / replay_jobs:.2f}x"
    )
    if not same:
        return 1
    return 1 if diverged else 0


if __name__ == "__main__":
    sys.exit(main())
