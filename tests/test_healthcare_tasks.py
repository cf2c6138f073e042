"""The healthcare task sets, through the same checks as telecom's (see tests/test_telecom_tasks.py):
deterministic, large enough, gold actions that succeed, readable outputs, every write tool and rule
exercised, an oracle that scores 1.0 and a do-nothing agent that scores (almost) nothing."""

from __future__ import annotations

import pytest

import taurl.domains.healthcare as mod
import taurl.domains.healthcare.generate as gen
from tests.test_telecom_tasks import CHECKS


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__)
def test_healthcare_tasks(check) -> None:
    check(mod, gen)
