"""The audit of a domain's tasks: every mutant of each task scored, and judged a loophole when its score
contradicts what it must score (:class:`~taurl.checks.audit.mutants.Mutant`'s ``must_pass``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.checks.audit.mutants import (
    LOOPHOLE_KINDS,
    MutantKind,
    Pools,
    ValueIndex,
    mutants,
    trivial_mutants,
    value_index,
)
from taurl.checks.audit.scoring import TaskContext
from taurl.core.domain import Domain
from taurl.core.reward import InvalidTaskError, RewardConfig, passed
from taurl.core.types import Action, Task


@dataclass(frozen=True)
class MutantResult:
    mutant: str
    kind: MutantKind
    expected: str  # "1", "<1" or "any"
    observed: float
    loophole: bool
    actions: tuple[Action, ...] = ()  # the mutant trajectory

    def to_dict(self) -> dict[str, Any]:
        return {
            "mutant": self.mutant,
            "kind": str(self.kind),
            "expected": self.expected,
            "observed": self.observed,
            "loophole": self.loophole,
        }


@dataclass
class TaskAudit:
    task_id: str
    split: str
    results: list[MutantResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # mutants that could not be built, and why

    @property
    def loopholes(self) -> list[MutantResult]:
        return [r for r in self.results if r.loophole]

    @property
    def order_sensitive(self) -> bool:
        return any(r.kind is MutantKind.REORDER and not passed(r.observed) for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task_id,
            "split": self.split,
            "results": [r.to_dict() for r in self.results],
            "notes": self.notes,
        }


@dataclass
class DomainAudit:
    domain: str
    split: str
    tasks: list[TaskAudit] = field(default_factory=list)

    @property
    def mutants(self) -> int:
        return sum(len(t.results) for t in self.tasks)

    def loopholes(self) -> list[tuple[TaskAudit, MutantResult]]:
        return [(t, r) for t in self.tasks for r in t.loopholes]

    def counts(self) -> dict[str, int]:
        found = Counter(str(r.kind) for _, r in self.loopholes())
        return {str(kind): found[str(kind)] for kind in LOOPHOLE_KINDS}

    @property
    def order_sensitive(self) -> int:
        return sum(t.order_sensitive for t in self.tasks)

    @property
    def do_nothing_passes(self) -> int:
        return sum(any(r.kind is MutantKind.DO_NOTHING and passed(r.observed) for r in t.results) for t in self.tasks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "split": self.split,
            "tasks": len(self.tasks),
            "mutants": self.mutants,
            "loopholes": self.counts(),
            "order_sensitive": self.order_sensitive,
            "do_nothing_passes": self.do_nothing_passes,
            "task_results": [t.to_dict() for t in self.tasks],
        }


class RewardAuditor:
    """Audits the tasks of one domain over one database (a data directory or the built-in data)."""

    def __init__(self, domain: Domain, data_dir: Path | str | None = None, config: RewardConfig | None = None):
        self.domain = domain
        self.initial = domain.database(data_dir)
        self.config = config or RewardConfig()

    def audit(self, tasks: Sequence[Task], split: str) -> DomainAudit:
        index = value_index(self.domain.plain_data(self.initial), tasks)
        pools = Pools(tasks)
        result = DomainAudit(self.domain.name, split)
        for position, task in enumerate(tasks):
            result.tasks.append(self.audit_task(task, index, pools, position))
        return result

    def audit_task(self, task: Task, index: ValueIndex, pools: Pools, position: int) -> TaskAudit:
        audit = TaskAudit(task.id, task.split)
        try:
            ctx = TaskContext(task, self.domain, self.initial)
        except InvalidTaskError as exc:  # the gold cannot even run: the one loophole there is
            audit.results.append(MutantResult("gold", MutantKind.GOLD, "1", 0.0, True))
            audit.notes.append(str(exc))
            return audit
        for mutant in mutants(ctx, index, pools, position, audit.notes, self.config):
            observed, _ = ctx.run(mutant.actions, self.config)
            if mutant.must_pass is None:
                expected, loophole = "any", False
            elif mutant.must_pass:
                expected, loophole = "1", not passed(observed)
            else:
                expected, loophole = "<1", passed(observed)
            audit.results.append(MutantResult(mutant.id, mutant.kind, expected, observed, loophole, mutant.actions))
        return audit

    def trivial(self, task: Task) -> tuple[str, ...]:
        """The trivial policies (``do_nothing``, ``refuse``, ``transfer``) whose trajectory earns ``task``'s
        reward in full. Raises :class:`InvalidTaskError` when the task's gold cannot run."""
        ctx = TaskContext(task, self.domain, self.initial)
        trivial = trivial_mutants(ctx, [])
        return tuple(str(m.kind) for m in trivial if passed(ctx.run(m.actions, self.config)[0]))
