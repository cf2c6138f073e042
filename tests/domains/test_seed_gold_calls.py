"""Every gold tool call of the seed system's training data runs through taurl's tools on the seed
system's databases without an exception: a result, or an ``Error: ...`` that says why."""

import json
import subprocess
import sys

import pytest

from tests.conftest import CTU, REPO, SHARED, TAUBENCH, require

pytestmark = pytest.mark.shared_data


def test_every_seed_gold_call_gives_a_result_or_a_clean_error():
    require(CTU / "novel_sft_dataset.json")
    require(TAUBENCH / "airline")
    out = subprocess.run(
        [sys.executable, "tools/seed_gold_calls.py", "--shared", str(SHARED)], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    counts = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(counts) == {"airline", "retail", "telecom", "healthcare", "doordash"}
    assert sum(sum(c.values()) for c in counts.values()) == 4815  # every gold action of the 1,345 tasks
    assert all("tool_exception" not in c for c in counts.values())
