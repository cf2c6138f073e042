"""Tasks not worth training on: those a trivial policy (do nothing, refuse, transfer at once) already
passes, found with the audit's own trivial mutants (used by ``taurl data convert`` and the tinker tasks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from taurl.checks.audit.auditor import RewardAuditor
from taurl.checks.audit.mutants import MutantKind
from taurl.core.reward import RewardConfig
from taurl.core.types import RewardBasis, Task
from taurl.registry import get_domain

TRIVIAL_POLICIES = (str(MutantKind.DO_NOTHING), str(MutantKind.REFUSE), str(MutantKind.TRANSFER))
TRIVIAL_REASON = "a do-nothing, refuse or transfer-at-once policy already earns the reward in full"


def trivial_passes(
    tasks: Sequence[Task], data_dirs: Mapping[str, str | Path] | None = None, basis: RewardBasis | None = None
) -> list[tuple[str, ...]]:
    """Per task, in order: which of :data:`TRIVIAL_POLICIES` already earn its reward (1.0 under the
    task's basis, or ``basis``). Empty: only doing the task earns it, so it is worth training on.

    The audit's own mutants, scored offline and deterministically: no reply at all, one refusal, a
    transfer to a human at once (a τ² scripted user's device actions follow the first reply). Tasks of
    any domain mix, built-in, ``tau_bench:`` or ``tau2:``; ``data_dirs`` maps a domain to its data
    directory. Raises :class:`DataError` for an unknown domain and :class:`InvalidTaskError` for a
    task whose gold cannot run, each naming it."""
    auditors: dict[str, RewardAuditor] = {}
    config = RewardConfig(basis=basis)
    verdicts = []
    for task in tasks:
        if task.domain not in auditors:
            where = (data_dirs or {}).get(task.domain)
            auditors[task.domain] = RewardAuditor(get_domain(task.domain), where, config)
        verdicts.append(auditors[task.domain].trivial(task))
    return verdicts
