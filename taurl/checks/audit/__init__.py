"""Reward audit: mutation testing of every task's reward against its gold trajectory.

Replay proves a reward did not change; this checks it was right. For each task the gold trajectory
(the oracle's: gold tool calls, one reply carrying every expected output, then any transfer) is
mutated in ways a policy could exploit (:mod:`~taurl.checks.audit.mutants`), and each mutant is scored as
the domain scores a recorded episode (:mod:`~taurl.checks.audit.scoring`): its actions played on the task's
start state, then evaluated (:meth:`Domain.play <taurl.core.domain.Domain.play>`, ``evaluate``; no user
simulator: the mutants are whole trajectories). A mutant whose score contradicts what it must score is a
*loophole* (:mod:`~taurl.checks.audit.auditor`):

- ``gold``: the gold itself must score 1;
- ``drop_write``: each gold write dropped must score < 1 (else the write is a no-op: a task defect);
- ``argument``: each write argument changed to another valid value (a sibling in the database:
  another variant, payment method, flight, date...; another enum value; a number ±1) must score < 1
  (else the reward does not check that argument);
- ``forbidden_write``: an unrelated write (another task's, on other records) added must score < 1;
- ``extra_reads``: read-only calls inserted must still score 1;
- ``output_removed``: each expected output left out of the reply must score < 1;
- ``do_nothing``, ``transfer``, ``refuse``: must score < 1 unless the gold is exactly that (a task a
  silent agent passes is trivially passable: :mod:`~taurl.checks.audit.trivial`).

``reorder`` mutants swap adjacent gold writes that touch disjoint records and both still succeed
swapped: an order-sensitive reward is reported, not counted as a loophole. Loopholes a user accepts,
with reasons, are kept in baselines (:mod:`~taurl.checks.audit.baseline`).
"""

from taurl.checks.audit.auditor import DomainAudit, MutantResult, RewardAuditor, TaskAudit
from taurl.checks.audit.baseline import Accepted, Finding, Verdict, builtin_baseline, judge, load_baseline
from taurl.checks.audit.mutants import TRANSFER_SUMMARY, MutantKind
from taurl.checks.audit.trivial import TRIVIAL_POLICIES, TRIVIAL_REASON, trivial_passes

__all__ = [
    "TRANSFER_SUMMARY",
    "TRIVIAL_POLICIES",
    "TRIVIAL_REASON",
    "Accepted",
    "DomainAudit",
    "Finding",
    "MutantKind",
    "MutantResult",
    "RewardAuditor",
    "TaskAudit",
    "Verdict",
    "builtin_baseline",
    "judge",
    "load_baseline",
    "trivial_passes",
]
