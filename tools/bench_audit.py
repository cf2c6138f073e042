"""Reward-audit speed on the built-in domains, with a baseline measured in the same run.

    python tools/bench_audit.py [--domain airline ...]

Times `taurl audit rewards`' engine over every built-in task (train and test): each mutant scored by
executing its actions on a fork of the task's database and calling the reward. The baseline scores
the same mutants as full `DomainEnv` episodes (reset, one step per action through the environment,
a user that never hangs up, the reward at the end), as a rollout would; the two rewards must agree.
Goal: all five domains well under a minute on the 2-core CI machine.
"""

from __future__ import annotations

import argparse
import sys
import time

from taurl.checks.audit import RewardAuditor
from taurl.core.domain import UserSimulator
from taurl.core.env import DomainEnv
from taurl.core.types import Task, TerminatedBy
from taurl.domains import DOMAIN_NAMES
from taurl.registry import get_domain


class PatientUser(UserSimulator):
    """Opens with the instruction and never ends the conversation: every mutant action runs."""

    def reset(self, task: Task) -> str:
        return task.instruction

    def step(self, agent_message: str) -> str:
        return "Okay."


def episode_reward(env: DomainEnv, task: Task, actions) -> float:
    env.reset(task)
    for action in actions:
        outcome = env.step(action)
        if outcome.done:
            return outcome.reward.reward
    return env.finish(TerminatedBy.USER_STOP).reward


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--domain", action="append", choices=DOMAIN_NAMES, help="only these domains (default: all)")
    args = parser.parse_args()
    total_audit = total_baseline = 0.0
    disagreements = 0
    for name in args.domain or DOMAIN_NAMES:
        domain = get_domain(name)
        start = time.perf_counter()
        audits = [RewardAuditor(domain).audit(domain.tasks(split), split) for split in ("train", "test")]
        audit_time = time.perf_counter() - start
        tasks = {(t.split, t.id): t for split in ("train", "test") for t in domain.tasks(split)}
        env = DomainEnv(domain, PatientUser(), max_steps=10_000)
        start = time.perf_counter()
        mutants = 0
        for audit in audits:
            for task_audit in audit.tasks:
                task = tasks[(task_audit.split, task_audit.task_id)]
                for result in task_audit.results:
                    mutants += 1
                    disagreements += episode_reward(env, task, result.actions) != result.observed
        baseline_time = time.perf_counter() - start
        total_audit += audit_time
        total_baseline += baseline_time
        print(
            f"{name:<11} {mutants:>6} mutants   audit {audit_time:6.2f}s   "
            f"baseline {baseline_time:6.2f}s (DomainEnv episodes, scoring only)"
        )
    print(f"{'total':<11} audit {total_audit:.2f}s   baseline {total_baseline:.2f}s   ", end="")
    print(f"ratio {total_baseline / total_audit:.2f}x   {disagreements} reward disagreements")
    return 1 if disagreements else 0


if __name__ == "__main__":
    sys.exit(main())
