"""Tasks not worth training on: the reward audit's verdict on which tasks a do-nothing, refuse or
transfer-at-once policy already passes (taurl.checks.audit.trivial_passes), and `taurl data convert` leaving
them out of train.parquet by default, counted per domain in the quality report."""

import dataclasses
import json

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from taurl.checks.audit import TRANSFER_SUMMARY, TRIVIAL_POLICIES, RewardAuditor, trivial_passes
from taurl.checks.quality import assess
from taurl.cli import app
from taurl.core.types import Action, RewardBasis, Task
from taurl.domains import DataError
from taurl.registry import get_domain
from taurl.skyrl.env import task_from_extras
from tests.counter_domain import make_domain
from tests.test_tau_bench_backend import SHOP, fake_package  # noqa: F401  (a fixture)

ALL = ("do_nothing", "refuse", "transfer")


def based(task, basis):
    return dataclasses.replace(task, reward_basis=basis)


def counter_task(task_id, actions, outputs=(), basis=RewardBasis.AUTO):
    return Task(task_id, "counter", "Change the counter.", tuple(actions), tuple(outputs), reward_basis=basis)


def test_each_trivial_policy_is_named_where_it_earns_the_reward(tmp_path):
    (tmp_path / "counters.json").write_text(json.dumps({"a": {"value": 1}, "b": {"value": 2}}))
    auditor = RewardAuditor(make_domain(tmp_path), tmp_path)
    read = Action("get_counter", {"counter_id": "a"})
    transfer = Action("transfer_to_human_agents", {"summary": TRANSFER_SUMMARY})
    assert auditor.trivial(counter_task("write", [Action("add", {"counter_id": "a", "amount": 5})])) == ()
    # τ-bench's reward sees neither a read nor a transfer: every trivial policy passes
    assert auditor.trivial(counter_task("read", [read], basis=RewardBasis.DB_OUTPUTS)) == ALL
    assert auditor.trivial(counter_task("transfer", [transfer], basis=RewardBasis.DB_OUTPUTS)) == ALL
    # an expected output is only earned by saying it
    assert auditor.trivial(counter_task("said", [read], ["1"], basis=RewardBasis.DB_OUTPUTS)) == ()
    # auto matches the gold's actions on a task that changes nothing: only the same transfer does it
    assert auditor.trivial(counter_task("auto-transfer", [transfer])) == ("transfer",)
    assert auditor.trivial(counter_task("auto-read", [read])) == ()


def test_the_verdict_agrees_with_the_silent_agent_run_through_the_env():
    """The audit's trajectories scored offline pass exactly where a real do-nothing episode (scripted
    user, the env, the reward) passes, under τ-bench's basis and under auto."""
    tasks = get_domain("airline").tasks("train")
    for basis in (RewardBasis.DB_OUTPUTS, RewardBasis.AUTO):
        verdicts = trivial_passes(tasks, basis=basis)
        assert all(v in ((), ALL) for v in verdicts)
        silent = assess([based(t, basis) for t in tasks], {})
        assert sum(map(bool, verdicts)) == silent.report["total"]["silent_pass"][str(basis)]
    assert sum(map(bool, trivial_passes(tasks, basis=RewardBasis.DB_OUTPUTS))) == 47
    assert not any(trivial_passes(tasks))  # each task's own basis (auto): none


def test_tasks_of_several_domains_and_a_tau_bench_backend_in_one_call(fake_package):  # noqa: F811
    shop = get_domain(SHOP).tasks("test")
    mixed = [get_domain("retail").tasks("test")[0], *shop, get_domain("telecom").tasks("test")[0]]
    verdicts = trivial_passes(mixed)
    assert len(verdicts) == len(mixed)
    # shop task 2's gold is a transfer, which τ-bench's reward (final database + outputs) never checks
    assert {t.id: v for t, v in zip(shop, verdicts[1:-1], strict=True)} == {"0": (), "1": (), "2": ALL}
    assert verdicts[0] == verdicts[-1] == ()
    with pytest.raises(DataError, match="unknown domain"):
        trivial_passes([Task("x", "nowhere", "", (), ())])


def rows(path):
    return pq.read_table(path).to_pylist()


def test_convert_leaves_trivial_train_tasks_out_and_counts_them_per_domain(tmp_path):
    runner = CliRunner()
    args = ["data", "convert", "--domain", "airline", "--domain", "retail", "--basis", "db+outputs"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "d")], terminal_width=200)
    assert result.exit_code == 0, result.output
    out = tmp_path / "d"
    quality = json.loads((out / "quality.json").read_text())
    expected = {
        "airline": {"train": 47, "left_out_of_train": 47, "validation": 21},
        "retail": {"train": 42, "left_out_of_train": 42, "validation": 16},
    }
    for domain, counts in expected.items():
        trivial = quality["domains"][domain]["trivial"]
        assert {k: trivial[k] for k in counts} == counts
        assert trivial["passed_by"] == dict.fromkeys(TRIVIAL_POLICIES, counts["train"] + counts["validation"])
    assert quality["total"]["trivial"]["left_out_of_train"] == 89
    assert quality["trivial"]["left_out_of_train"] and "do-nothing" in quality["trivial"]["reason"]
    assert "left out of train" in result.stdout and "47" in result.stdout

    train, left_out = rows(out / "train.parquet"), rows(out / "trivial.parquet")
    assert len(train) + len(left_out) == 245 + 219 and len(left_out) == 89
    assert len(rows(out / "validation.parquet")) == 82 + 65  # validation keeps its trivial tasks
    assert {r["extra_info"]["split"] for r in left_out} == {"train"}
    assert not any(trivial_passes([task_from_extras(r) for r in train]))  # the rows carry their basis
    assert all(trivial_passes([task_from_extras(r) for r in left_out]))

    kept = runner.invoke(app, [*args, "--keep-trivial", "--out", str(tmp_path / "k")])
    assert kept.exit_code == 0, kept.output
    assert len(rows(tmp_path / "k" / "train.parquet")) == 245 + 219 and rows(tmp_path / "k" / "trivial.parquet") == []
    kept_quality = json.loads((tmp_path / "k" / "quality.json").read_text())
    assert kept_quality["domains"]["airline"]["trivial"]["train"] == 47
    assert kept_quality["domains"]["airline"]["trivial"]["left_out_of_train"] == 0
    assert not kept_quality["trivial"]["left_out_of_train"]


def test_builtin_domains_under_their_own_basis_lose_no_train_task(tmp_path):
    result = CliRunner().invoke(app, ["data", "convert", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    quality = json.loads((tmp_path / "quality.json").read_text())
    assert quality["total"]["trivial"] == {
        "train": 0,
        "left_out_of_train": 0,
        "validation": 0,
        "passed_by": dict.fromkeys(TRIVIAL_POLICIES, 0),
    }
    assert rows(tmp_path / "trivial.parquet") == []
