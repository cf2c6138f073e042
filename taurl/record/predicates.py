"""The core's rules about an episode as the record's queries spell them: whether it passed
(:func:`taurl.core.reward.passed`) and whether it finished (:data:`taurl.core.types.UNFINISHED`), in
SQL for the store's views and every query over them, and in JavaScript for the report's page. Each
is built from the core's constant, so the views, the report and the Python code agree."""

from __future__ import annotations

import json

from taurl.core.reward import PASS_TOLERANCE
from taurl.core.types import UNFINISHED

_UNFINISHED = sorted(str(t) for t in UNFINISHED)


def passed_sql(reward: str = "reward") -> str:
    """SQL: the episode whose reward is the column ``reward`` passed (NULL when it is NULL)."""
    return f"abs({reward} - 1) <= {PASS_TOLERANCE!r}"


def failed_sql(reward: str = "reward") -> str:
    """SQL: the episode did not pass (true when its reward is NULL)."""
    return f"({reward} IS NULL OR NOT ({passed_sql(reward)}))"


def unfinished_sql(terminated_by: str = "terminated_by") -> str:
    """SQL: the episode did not finish (``terminated_by`` is an error, an interruption or a truncation)."""
    return f"{terminated_by} IN ({', '.join(repr(t) for t in _UNFINISHED)})"


def finished_sql(terminated_by: str = "terminated_by") -> str:
    """SQL: the episode finished (the environment scored it)."""
    return f"{terminated_by} NOT IN ({', '.join(repr(t) for t in _UNFINISHED)})"


def passed_js(reward: str) -> str:
    """JavaScript: the episode whose reward is the expression ``reward`` passed."""
    return f"(Math.abs({reward} - 1) <= {PASS_TOLERANCE!r})"


def unfinished_js(terminated_by: str) -> str:
    """JavaScript: the episode whose ending is the expression ``terminated_by`` did not finish."""
    return f"{json.dumps(_UNFINISHED)}.includes({terminated_by})"
