"""`taurl audit rewards`: mutants of each task's gold trajectory catch planted loopholes; the built-in
domains audit clean against their committed baselines; exit codes and the JSON report."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from taurl.checks.audit import MutantKind, RewardAuditor, judge, load_baseline
from taurl.cli import app
from taurl.core.types import Action, RewardBasis, Task
from taurl.domains import DOMAIN_NAMES, DataError
from taurl.registry import get_domain
from tests.counter_domain import make_domain

ROOT = Path(__file__).resolve().parent.parent
AIRLINE_BASELINE = ROOT / "taurl/domains/airline/audit_baseline.json"
TAUBENCH = ROOT.parent / "shared" / "taubench"


@pytest.fixture
def counter(tmp_path):
    (tmp_path / "counters.json").write_text(json.dumps({"a": {"value": 1}, "b": {"value": 2}}))
    return make_domain(tmp_path)


def task(task_id, actions, outputs=(), basis=RewardBasis.AUTO):
    return Task(task_id, "counter", "Change the counter.", tuple(actions), tuple(outputs), reward_basis=basis)


def batch(counter_id, amount, note):
    return Action("batch", {"steps": [{"counter": counter_id, "amount": amount}], "note": note})


def loopholes(audit):
    return {(t.task_id, r.mutant) for t, r in audit.loopholes()}


def test_an_argument_the_reward_does_not_check_is_caught(counter):
    # batch() stores nothing of its note: any note gives the gold's final database
    tasks = [task("t1", [batch("a", 2, "first")]), task("t2", [batch("b", 3, "second")])]
    audit = RewardAuditor(counter, counter.package_dir).audit(tasks, "test")
    assert ("t1", "arg:0:batch.note=second") in loopholes(audit)
    assert audit.counts()["argument"] == 2
    results = {r.mutant: r for r in audit.tasks[0].results}
    # the arguments the final state does show are checked: another counter, another amount
    assert results["arg:0:batch.steps[0].counter=b"].observed == 0.0
    assert results["arg:0:batch.steps[0].amount=3"].observed == 0.0
    assert results["gold"].observed == 1.0 and not results["gold"].loophole


def test_no_op_writes_unchecked_outputs_and_trivial_tasks_are_caught(counter):
    tasks = [
        # τ-bench's basis: a write that changes nothing is invisible (auto would match actions instead)
        task("noop", [Action("add", {"counter_id": "a", "amount": 0})], basis=RewardBasis.DB_OUTPUTS),
        task("outputs", [Action("add", {"counter_id": "a", "amount": 9})], outputs=["10", "100"]),
        task("trivial", [Action("get_counter", {"counter_id": "a"})], basis=RewardBasis.DB_OUTPUTS),
    ]
    audit = RewardAuditor(counter, counter.package_dir).audit(tasks, "test")
    found = loopholes(audit)
    assert ("noop", "drop:0:add") in found
    assert ("outputs", "output:0:10") in found  # "10" is inside "100": leaving it out still passes
    assert ("outputs", "output:1:100") not in found
    assert {("trivial", "do_nothing"), ("trivial", "refuse"), ("trivial", "transfer")} <= found
    assert audit.do_nothing_passes == 2  # the no-op task too


def test_a_sound_task_has_no_loophole_and_reports_each_kind(counter):
    tasks = [
        task("ok", [Action("get_counter", {"counter_id": "a"}), Action("add", {"counter_id": "a", "amount": 5})]),
        task("other", [Action("add", {"counter_id": "b", "amount": 1})]),
    ]
    audit = RewardAuditor(counter, counter.package_dir).audit(tasks, "test")
    assert audit.loopholes() == []
    kinds = {r.kind: r for r in audit.tasks[0].results}
    assert kinds[MutantKind.EXTRA_READS].expected == "1" and kinds[MutantKind.EXTRA_READS].observed == 1.0
    assert kinds[MutantKind.FORBIDDEN_WRITE].mutant == "forbidden:add"  # the other task's write, on counter b
    assert kinds[MutantKind.FORBIDDEN_WRITE].observed == 0.0
    assert kinds[MutantKind.DO_NOTHING].observed == 0.0


def test_independent_writes_reordered_are_reported_not_failed(counter):
    writes = [Action("add", {"counter_id": "a", "amount": 1}), Action("add", {"counter_id": "b", "amount": 1})]
    audit = RewardAuditor(counter, counter.package_dir).audit([task("two", writes)], "test")
    reorder = [r for r in audit.tasks[0].results if r.kind is MutantKind.REORDER]
    assert [(r.mutant, r.expected, r.observed, r.loophole) for r in reorder] == [("reorder:0<->1", "any", 1.0, False)]


def test_baseline_accepts_known_loopholes_and_names_stale_ones(counter, tmp_path):
    tasks = [task("t1", [batch("a", 2, "x")]), task("t2", [batch("b", 3, "y")])]
    audit = RewardAuditor(counter, counter.package_dir).audit(tasks, "test")
    path = tmp_path / "baseline.yaml"
    path.write_text(
        "accepted:\n"
        "- {domain: counter, split: test, task: t1, mutant: 'arg:0:batch.note=y', reason: the note is free text}\n"
        "- {domain: counter, split: test, task: t1, mutant: 'drop:0:batch', reason: fixed since}\n"
    )
    verdict = judge([audit], load_baseline(path))
    assert [(f.task, f.result.mutant) for f in verdict.accepted] == [("t1", "arg:0:batch.note=y")]
    assert [(f.task, f.result.mutant) for f in verdict.new] == [("t2", "arg:0:batch.note=x")]
    assert [a.mutant for a in verdict.stale] == ["drop:0:batch"]
    path.write_text("accepted:\n- {domain: counter, split: test, task: t1, mutant: m}\n")
    with pytest.raises(DataError, match="has no reason"):
        load_baseline(path)


@pytest.mark.slow
def test_builtin_domains_audit_clean_against_their_own_baselines_by_default():
    result = CliRunner().invoke(app, ["audit", "rewards", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["new"] == [] and report["stale"] == []
    assert [Path(p) for p in report["baselines"]] == [AIRLINE_BASELINE]  # the other four have nothing to accept
    assert {(a["domain"], a["split"]) for a in report["audits"]} == {
        (d, s) for d in DOMAIN_NAMES for s in ("train", "test")
    }
    for audit in report["audits"]:
        gold = [r for t in audit["task_results"] for r in t["results"] if r["kind"] == "gold"]
        assert len(gold) == audit["tasks"] and all(r["observed"] == 1.0 for r in gold)
    accepted = {(f["task"], f["kind"]) for f in report["accepted"]}
    assert len(accepted) == 7 and all(kind == "argument" for _, kind in accepted)
    assert all("non-free bags" in f["reason"] for f in report["accepted"])


def test_builtin_baseline_is_listed_with_reasons_and_no_baseline_ignores_it(tmp_path):
    runner = CliRunner()
    args = ["audit", "rewards", "--domain", "airline", "--split", "test"]
    passing = runner.invoke(app, args, env={"COLUMNS": "80"}, terminal_width=80)
    assert passing.exit_code == 0, passing.output
    lines = passing.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    (row,) = [line.split() for line in lines if line.startswith("airline")]
    (audit,) = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)["audits"]
    whole = [str(audit["tasks"]), str(sum(len(t["results"]) for t in audit["task_results"]))]
    assert row == ["airline", "test", *whole, "argument:1", "0", "1", "0"]  # every column, values whole
    assert f"baseline: {AIRLINE_BASELINE}" in passing.stdout
    assert "accepted airline/airline-test-061" in passing.stdout and "non-free bags" in passing.stdout
    assert "no new loophole (1 accepted by a baseline)" in passing.stdout
    failing = runner.invoke(app, [*args, "--no-baseline"], env={"COLUMNS": "200"}, terminal_width=200)
    assert failing.exit_code == 1
    assert "airline-test-061 arg:3:update_reservation_baggages.payment_id" in failing.stdout
    assert "baseline:" not in failing.stdout and "1 new loophole(s)" in failing.stdout
    explicit = runner.invoke(app, [*args, "--no-baseline", "--baseline", str(AIRLINE_BASELINE)])
    assert explicit.exit_code == 0, explicit.output
    # other data for the domain (here a copy): its built-in baseline is not about it
    airline = get_domain("airline")
    shutil.copytree(airline.builtin_data_dir, tmp_path, dirs_exist_ok=True)
    shutil.copy(airline.package_dir / "tasks" / "test.json", tmp_path / "tasks_test.json")
    elsewhere = runner.invoke(app, [*args, "--format", "json", "--data-dir", f"airline={tmp_path}"])
    assert elsewhere.exit_code == 1 and json.loads(elsewhere.stdout)["baselines"] == []
    assert runner.invoke(app, ["audit", "rewards", "--domain", "nowhere"]).exit_code == 2


def test_cli_audits_a_converted_dataset(tmp_path):
    runner = CliRunner()
    converted = runner.invoke(
        app, ["data", "convert", "--domain", "telecom", "--split", "test", "--out", str(tmp_path / "d")]
    )
    assert converted.exit_code == 0, converted.output
    parquets = sorted(str(p) for p in (tmp_path / "d").glob("*.parquet"))
    result = runner.invoke(app, ["audit", "rewards", "--format", "json", *(f"--dataset={p}" for p in parquets)])
    assert result.exit_code == 0, result.output
    audits = json.loads(result.stdout)["audits"]
    assert sum(a["tasks"] for a in audits) == len(get_domain("telecom").tasks("test"))


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(not TAUBENCH.is_dir(), reason="τ-bench's data is not in ../shared/taubench")
def test_taubench_retail_test_do_nothing_passes_7_of_115():
    domain = get_domain("retail")
    data_dir = TAUBENCH / "retail"
    audit = RewardAuditor(domain, data_dir).audit(domain.tasks("test", data_dir), "test")
    assert len(audit.tasks) == 115
    assert audit.do_nothing_passes == 7


def test_an_installed_tau_bench_is_audited_through_the_backend(monkeypatch):
    from tests.test_tau_bench_backend import FAKE, drop_package

    drop_package()
    monkeypatch.syspath_prepend(str(FAKE))
    try:
        result = CliRunner().invoke(app, ["audit", "rewards", "--domain", "tau_bench:shop", "--format", "json"])
    finally:
        drop_package()
    assert result.exit_code == 1
    # task 2's gold is a transfer, which τ-bench's reward (final database + outputs) never checks
    assert {(f["task"], f["mutant"]) for f in json.loads(result.stdout)["new"]} == {
        ("2", "do_nothing"),
        ("2", "refuse"),
    }
