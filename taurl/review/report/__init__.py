"""``taurl report``: a self-contained HTML report over one or more recordings.

Every number comes from SQL over the recording views (:mod:`~taurl.review.report.queries`); Python only
formats it (:mod:`~taurl.review.report.markup`) into the page's sections (:mod:`~taurl.review.report.sections`,
the episode explorer :mod:`~taurl.review.report.explorer`, the training steps
:mod:`~taurl.review.report.training`), with pass^k and seeded bootstrap intervals over tasks from
:mod:`~taurl.review.report.stats` and charts drawn by matplotlib (:mod:`~taurl.review.report.charts`).
:mod:`~taurl.review.report.page` assembles the page and writes it.
"""

from taurl.review.report.markup import fmt_rate, fmt_reward
from taurl.review.report.page import build_report, write_report
from taurl.review.report.queries import ReportError

__all__ = ["ReportError", "build_report", "fmt_rate", "fmt_reward", "write_report"]
