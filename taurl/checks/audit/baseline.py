"""Baselines: the loopholes a user accepts, each with a reason (a built-in domain ships its own), and the
verdict of an audit against them: new loopholes fail, accepted ones pass, entries no longer found are stale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taurl.checks.audit.auditor import DomainAudit, MutantResult
from taurl.domains import DOMAIN_NAMES
from taurl.domains.base import DataError, read_json
from taurl.registry import get_domain


@dataclass(frozen=True)
class Accepted:
    """A loophole the user accepts, with the reason."""

    domain: str
    split: str
    task: str
    mutant: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.domain, self.split, self.task, self.mutant)


BASELINE_FIELDS = ("domain", "split", "task", "mutant")
BASELINE_FILE = "audit_baseline.json"  # beside a built-in domain's tools: the loopholes it accepts, with reasons


def builtin_baseline(domain: str) -> Path | None:
    """The baseline a built-in domain ships (``taurl/domains/<name>/audit_baseline.json``), if it has one."""
    if domain not in DOMAIN_NAMES:
        return None
    path = get_domain(domain).package_dir / BASELINE_FILE
    return path if path.is_file() else None


def load_baseline(path: Path) -> list[Accepted]:
    """``{"accepted": [{"domain", "split", "task", "mutant", "reason"}, ...]}`` as JSON or YAML; every
    entry needs a reason."""
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DataError(f"{path} cannot be read as YAML: {exc}") from exc
    else:
        data = read_json(path)
    rows = data.get("accepted") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise DataError(f'{path}: expected an object with an "accepted" list')
    accepted = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in BASELINE_FIELDS):
            raise DataError(f"{path}: entry {n} needs {', '.join(BASELINE_FIELDS)} as strings")
        if not str(row.get("reason") or "").strip():
            raise DataError(f"{path}: entry {n} ({row['task']} {row['mutant']}) has no reason")
        accepted.append(Accepted(*(row[k] for k in BASELINE_FIELDS), reason=row["reason"]))
    return accepted


@dataclass(frozen=True)
class Finding:
    domain: str
    split: str
    task: str
    result: MutantResult
    reason: str | None = None  # why a baseline accepts it; None: a new loophole

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.domain, self.split, self.task, self.result.mutant)

    def to_dict(self) -> dict[str, Any]:
        found = {"domain": self.domain, "split": self.split, "task": self.task, **self.result.to_dict()}
        return found if self.reason is None else {**found, "reason": self.reason}


@dataclass
class Verdict:
    """Loopholes against a baseline: new ones fail; accepted entries no longer found are stale."""

    new: list[Finding]
    accepted: list[Finding]
    stale: list[Accepted]


def judge(audits: Sequence[DomainAudit], baseline: Sequence[Accepted] = ()) -> Verdict:
    """Entries of tasks that were not audited (another split, a dataset holding some of the tasks) are
    neither used nor stale."""
    reasons = {a.key: a.reason for a in baseline}
    found = [
        Finding(
            audit.domain,
            task.split,
            task.task_id,
            result,
            reasons.get((audit.domain, task.split, task.task_id, result.mutant)),
        )
        for audit in audits
        for task, result in audit.loopholes()
    ]
    keys = {f.key for f in found}
    audited = {(a.domain, t.split, t.task_id) for a in audits for t in a.tasks}
    return Verdict(
        new=[f for f in found if f.reason is None],
        accepted=[f for f in found if f.reason is not None],
        stale=[a for a in baseline if a.key[:3] in audited and a.key not in keys],
    )
