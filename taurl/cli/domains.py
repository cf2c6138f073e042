"""taurl domains: list, show, validate."""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from typing import Annotated

import typer
from rich.markup import escape

from taurl.cli.common import console, err, fail, progress_bar
from taurl.cli.tables import Col, print_table
from taurl.domains import DOMAIN_NAMES, DataError
from taurl.registry import get_domain

app = typer.Typer(help="Describe the built-in domains.", no_args_is_help=True)


@app.command("list")
def domains_list() -> None:
    """One line per domain: its tools by kind and its built-in task counts."""
    columns = [Col("domain"), *(Col(h, justify="right") for h in ("tools", "read", "write", "think", "terminate"))]
    columns += [Col("train", justify="right"), Col("test", justify="right")]
    rows = []
    for name in DOMAIN_NAMES:
        domain = get_domain(name)
        kinds = defaultdict(int)
        for tool in domain.tools:
            kinds[tool.kind] += 1
        counts = []
        for split in ("train", "test"):
            try:
                counts.append(str(len(domain.tasks(split))))
            except DataError:
                counts.append("-")
        rows.append(
            (name, str(len(domain.tools)), *(str(kinds[k]) for k in ("read", "write", "think", "terminate")), *counts)
        )
    print_table(console, columns, rows)


@app.command("show")
def domains_show(name: Annotated[str, typer.Argument(help="Domain name.")]) -> None:
    """A domain's tools (with what each accepts) and its policy."""
    try:
        domain = get_domain(name)
    except DataError as exc:
        raise fail(str(exc)) from exc
    # two columns: the name (and kind) whole, what it accepts and does wrapping beside it
    rows = [
        (
            f"{escape(tool.name)}\n[dim]({tool.kind})[/]",
            f"{escape(tool.signature_text().removeprefix(tool.name))}\n{escape(tool.description)}",
        )
        for tool in domain.tools
    ]
    print_table(console, [Col("tool (kind)"), Col("accepts; what it does", whole=False)], rows, title=f"{name} tools")
    console.rule("policy")
    console.print(domain.policy)


@app.command("validate")
def domains_validate(
    domain: Annotated[list[str] | None, typer.Option(help="Validate only these domains (repeatable).")] = None,
    output_format: Annotated[str, typer.Option("--format", help="table or json (one object per domain).")] = "table",
) -> None:
    """Check each domain's built-in tasks: gold replays cleanly, the oracle scores 1.0, a do-nothing agent
    passes ≤ 5%, every state-changing tool and policy rule is covered. Exits non-zero on any failure."""
    from taurl.checks.validate import validate_domain

    names = domain or list(DOMAIN_NAMES)
    results = []
    with progress_bar(output_format == "json") as progress:
        bar = progress.add_task("validating", total=len(names))
        for name in names:
            try:
                results.append(validate_domain(name))
            except DataError as exc:
                raise fail(str(exc)) from exc
            progress.advance(bar)
    if output_format == "json":
        json.dump([r.to_dict() for r in results], sys.stdout)
        sys.stdout.write("\n")
    else:
        columns = [Col("", whole=False), *(Col(escape(r.domain)) for r in results)]

        def mark(ok: bool, text: str) -> str:
            return f"[green]{text}[/]" if ok else f"[red]{text}[/]"

        rows = [
            ("tasks (train / test)", lambda r: mark(r.train >= 200 and r.test >= 50, f"{r.train} / {r.test}")),
            ("gold replay errors", lambda r: mark(r.gold_errors == 0, str(r.gold_errors))),
            ("oracle mean reward", lambda r: mark(r.oracle_mean == 1.0, f"{r.oracle_mean:.3f}")),
            ("do-nothing pass rate", lambda r: mark(r.do_nothing_pass_rate <= 0.05, f"{r.do_nothing_pass_rate:.1%}")),
            (
                "state-changing tools exercised",
                lambda r: mark(
                    r.write_tools == r.write_tools_exercised, f"{len(r.write_tools_exercised)}/{len(r.write_tools)}"
                ),
            ),
            (
                "policy rules covered",
                lambda r: mark(bool(r.rules) and r.rules == r.rules_covered, f"{len(r.rules_covered)}/{len(r.rules)}"),
            ),
            ("tasks changing the database", lambda r: mark(r.db_changing_share >= 0.5, f"{r.db_changing_share:.0%}")),
            ("refusal tasks", lambda r: mark(r.refusals > 0, str(r.refusals))),
        ]
        print_table(
            console, columns, [(label, *(cell(r) for r in results)) for label, cell in rows], title="domain validation"
        )
        for r in results:
            for failure in r.failures:
                err.print(f"[red]{r.domain}:[/] {failure}")
    if any(not r.ok for r in results):
        raise typer.Exit(1)
