"""taurl audit rewards: mutation testing of every task's reward (see :mod:`taurl.checks.audit`)."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.markup import escape

from taurl.cli.common import DataDirOption, console, err, fail, parse_data_dirs, progress_bar
from taurl.cli.tables import Col, print_table
from taurl.core.reward import RewardConfig
from taurl.core.types import RewardBasis, Task
from taurl.domains import DOMAIN_NAMES, DataError
from taurl.registry import get_domain

if TYPE_CHECKING:
    from taurl.checks.audit import DomainAudit, Finding, Verdict

app = typer.Typer(help="Check that rewards cannot be gamed.", no_args_is_help=True)

SHOWN_FINDINGS = 30


def _dataset_tasks(paths: list[Path]) -> dict[tuple[str, str], list[Task]]:
    """Tasks of converted SkyRL parquet files (``taurl data convert``), by (domain, split)."""
    import pyarrow.parquet as pq

    from taurl.skyrl.env import task_from_extras

    groups: dict[tuple[str, str], list[Task]] = defaultdict(list)
    for path in paths:
        try:
            rows = pq.read_table(path).to_pylist()
        except (OSError, ValueError) as exc:
            raise DataError(f"{path} cannot be read as parquet: {exc}") from exc
        for row in rows:
            task = task_from_extras(row)
            groups[(task.domain, task.split)].append(task)
    return groups


@app.command("rewards")
def audit_rewards(
    domain: Annotated[
        list[str] | None,
        typer.Option(help="Domains to audit (repeatable; default all built-in ones), or tau_bench:<env>."),
    ] = None,
    split: Annotated[
        list[str] | None, typer.Option(help="Splits (repeatable; default every split with tasks).")
    ] = None,
    dataset: Annotated[
        list[Path] | None,
        typer.Option(help="Audit the tasks of a converted parquet file instead (`taurl data convert`). Repeatable."),
    ] = None,
    data_dir: DataDirOption = None,
    basis: Annotated[
        RewardBasis | None, typer.Option(help="Score under this basis (default: each task's own).")
    ] = None,
    baseline: Annotated[
        list[Path] | None,
        typer.Option(help="JSON/YAML of accepted loopholes, each with a reason: only others fail. Repeatable."),
    ] = None,
    no_baseline: Annotated[
        bool,
        typer.Option(
            "--no-baseline",
            help="Ignore the baselines the built-in domains ship (taurl/domains/<name>/audit_baseline.json): "
            "their accepted loopholes fail too.",
        ),
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """Mutate each task's gold trajectory (drop a write, change an argument to another valid value, add an
    unrelated write, insert reads, reorder writes, leave an output out, do nothing, transfer at once,
    refuse) and score every mutant with the real environment and reward, offline. A built-in domain's own
    baseline applies (its accepted loopholes are listed with their reasons) unless --no-baseline or --data-dir
    gives it other data. Exits 1 when a loophole is found that no baseline accepts."""
    from taurl.checks.audit import RewardAuditor, builtin_baseline, judge, load_baseline

    if output_format not in ("table", "json"):
        raise fail(f"unknown --format {output_format!r}: use table or json")
    dirs = parse_data_dirs(data_dir)
    try:
        baselines = list(baseline or [])
        if dataset:
            if domain or split:
                raise fail("--dataset audits the tasks in the file: leave out --domain and --split")
            groups = _dataset_tasks(dataset)
        else:
            groups = {}
            for name in domain or DOMAIN_NAMES:
                where = dirs.get(name)
                # an installed τ-bench does not list its splits: its test split unless told
                for s in split or get_domain(name).splits(where) or ["test"]:
                    groups[(name, s)] = get_domain(name).tasks(s, where)
        if not no_baseline:  # a built-in baseline is about the built-in data
            shipped = (builtin_baseline(name) for name in dict.fromkeys(n for n, _ in groups) if name not in dirs)
            baselines += [path for path in shipped if path is not None]
        accepted = [entry for path in baselines for entry in load_baseline(path)]
        config = RewardConfig(basis=basis)
        auditors: dict[str, RewardAuditor] = {}
        audits = []
        with progress_bar(output_format == "json") as progress:
            bar = progress.add_task("auditing", total=sum(len(t) for t in groups.values()))
            for (name, s), tasks in groups.items():
                if name not in auditors:
                    auditors[name] = RewardAuditor(get_domain(name), dirs.get(name), config)
                audits.append(auditors[name].audit(tasks, s))
                progress.advance(bar, len(tasks))
    except DataError as exc:
        raise fail(str(exc)) from exc
    verdict = judge(audits, accepted)
    if output_format == "json":
        report = {
            "baselines": [str(path) for path in baselines],
            "audits": [a.to_dict() for a in audits],
            "new": [f.to_dict() for f in verdict.new],
            "accepted": [f.to_dict() for f in verdict.accepted],
            "stale": [e.__dict__ for e in verdict.stale],
        }
        json.dump(report, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_audit(audits, verdict, baselines)
    for entry in verdict.stale:
        err.print(f"[yellow]stale baseline entry[/] (no longer found): {escape(' '.join(entry.key))}", soft_wrap=True)
    if verdict.new:
        raise typer.Exit(1)


def _print_audit(audits: list[DomainAudit], verdict: Verdict, baselines: list[Path]) -> None:
    columns = [
        Col("domain"),
        Col("split"),
        Col("tasks", justify="right"),
        Col("mutants", justify="right", drop=2),
        Col("loophole\nkinds", whole=False),
        Col("order\nsensitive", justify="right", drop=1),
        Col("accepted", justify="right"),
        Col("new", justify="right"),
    ]
    rows = []
    for audit in audits:
        here = (audit.domain, audit.split)
        kinds = " ".join(f"{kind}:{n}" for kind, n in audit.counts().items() if n) or "0"
        new_here = sum(1 for f in verdict.new if (f.domain, f.split) == here)
        rows.append(
            (
                escape(audit.domain),
                escape(audit.split),
                str(len(audit.tasks)),
                str(audit.mutants),
                escape(kinds),
                str(audit.order_sensitive),
                str(sum(1 for f in verdict.accepted if (f.domain, f.split) == here)),
                f"[red]{new_here}[/]" if new_here else "0",
            )
        )
    print_table(
        console, columns, rows, "; --format json has them", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False
    )
    for path in baselines:
        console.print(f"baseline: {escape(str(path))}", soft_wrap=True)
    for finding in verdict.accepted:
        console.print(f"[green]accepted[/] {_named(finding)}: {escape(finding.reason or '')}")
    for finding in verdict.new[:SHOWN_FINDINGS]:
        r = finding.result
        console.print(
            f"[red]loophole[/] {_named(finding)}: expected {r.expected}, scored {r.observed:g}", soft_wrap=True
        )
    if len(verdict.new) > SHOWN_FINDINGS:
        console.print(f"... {len(verdict.new) - SHOWN_FINDINGS} more (--format json lists every one)")
    if verdict.new:
        console.print(
            f"[red]{len(verdict.new)} new loophole(s)[/]: fix the reward or the task, or accept each in a --baseline with its reason"
        )
    else:
        console.print(f"no new loophole ({len(verdict.accepted)} accepted by a baseline)")


def _named(finding: Finding) -> str:
    return f"{escape(finding.domain)}/{escape(finding.task)} {escape(finding.result.mutant)}"
