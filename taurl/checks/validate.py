"""`taurl domains validate`: is each domain's built-in content sound enough to train on?

Per domain: tasks per split; gold actions that fail when replayed (must be 0); the oracle's mean
reward (must be 1.0); how often a do-nothing agent passes (must be ≤ 5%); which state-changing tools
the tasks exercise (must be all); which policy rules are enforced by a tool or tested by a task
(must be all); the share of tasks that change the database (must be ≥ 50%) and the refusals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from taurl.agent.oracle import OracleAgent
from taurl.agent.silent import SilentAgent
from taurl.core.reward import InvalidTaskError, passed
from taurl.core.types import ToolKind
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.registry import get_domain

MAX_DO_NOTHING_PASS_RATE = 0.05
MIN_DB_CHANGING_SHARE = 0.5


@dataclass
class DomainValidation:
    domain: str
    train: int
    test: int
    gold_errors: int
    oracle_mean: float
    do_nothing_pass_rate: float
    write_tools: list[str]
    write_tools_exercised: list[str]
    rules: list[str]
    rules_covered: list[str]
    db_changing_share: float
    refusals: int
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def validate_domain(name: str) -> DomainValidation:
    domain = get_domain(name)
    splits = {split: domain.tasks(split) for split in ("train", "test")}
    tasks = [t for split in splits.values() for t in split]
    config = RolloutConfig()
    gold_errors, oracle_rewards, silent_passes, changing, problems = 0, [], 0, 0, []
    for task in tasks:
        try:
            oracle = run_episode(EpisodeSpec(task), OracleAgent(), domain.make_user("scripted", None), config, domain)
            silent = run_episode(EpisodeSpec(task), SilentAgent(), domain.make_user("scripted", None), config, domain)
        except InvalidTaskError as exc:
            gold_errors += 1
            problems.append(str(exc))
            continue
        failed = [s for s in oracle.trace if s.error is not None]
        if failed:
            gold_errors += 1
            problems.append(
                f"task {task.id}: gold action {failed[0].action.name} answered {failed[0].observation[:120]}"
            )
        oracle_rewards.append(oracle.reward)
        silent_passes += passed(silent.reward)
        changing += oracle.breakdown.gold_changes_db
    writes = sorted(t.name for t in domain.tools if t.kind is ToolKind.WRITE)
    exercised = sorted({a.name for t in tasks for a in t.actions} & set(writes))
    rules = sorted(domain.policy_rules())
    covered = sorted(
        ({r for t in tasks for r in t.metadata.get("rules", [])} | set(domain.rules_enforced)) & set(rules)
    )
    result = DomainValidation(
        domain=name,
        train=len(splits["train"]),
        test=len(splits["test"]),
        gold_errors=gold_errors,
        oracle_mean=sum(oracle_rewards) / len(oracle_rewards) if oracle_rewards else 0.0,
        do_nothing_pass_rate=silent_passes / len(tasks) if tasks else 0.0,
        write_tools=writes,
        write_tools_exercised=exercised,
        rules=rules,
        rules_covered=covered,
        db_changing_share=changing / len(tasks) if tasks else 0.0,
        refusals=sum(1 for t in tasks if t.metadata.get("refusal")),
    )
    checks = [
        (result.gold_errors == 0, f"{gold_errors} task(s) whose gold actions fail: {problems[:2]}"),
        (result.oracle_mean == 1.0, f"oracle mean reward {result.oracle_mean:.3f} (must be 1.0)"),
        (
            result.do_nothing_pass_rate <= MAX_DO_NOTHING_PASS_RATE,
            f"a do-nothing agent passes {result.do_nothing_pass_rate:.1%} (must be ≤ 5%)",
        ),
        (exercised == writes, f"state-changing tools no task exercises: {sorted(set(writes) - set(exercised))}"),
        (
            bool(rules) and covered == rules,
            f"policy rules neither enforced by a tool nor tested by a task: {sorted(set(rules) - set(covered)) or 'the policy has no [R<n>] rules'}",
        ),
        (
            result.db_changing_share >= MIN_DB_CHANGING_SHARE,
            f"only {result.db_changing_share:.0%} of tasks change the database (must be ≥ 50%)",
        ),
        (result.refusals > 0, "no task asks for something the policy refuses"),
        (
            result.train >= 200 and result.test >= 50,
            f"{result.train} train / {result.test} test tasks (need ≥ 200 / ≥ 50)",
        ),
    ]
    result.failures = [message for ok, message in checks if not ok]
    return result
