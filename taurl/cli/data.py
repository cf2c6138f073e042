"""taurl data convert and taurl data repair: task sets to SkyRL parquet, with their quality."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from taurl.cli.common import (
    DataDirOption,
    console,
    err,
    fail,
    output_directory,
    parse_data_dirs,
    writing_into,
)
from taurl.cli.tables import Col, print_table
from taurl.core.types import RewardBasis
from taurl.domains import DOMAIN_NAMES, DataError
from taurl.registry import get_domain

if TYPE_CHECKING:
    from taurl.core.types import Task
    from taurl.skyrl.budget import PromptLengths
    from taurl.skyrl.dataset import Conversion

data_app = typer.Typer(
    help="Convert task sets to SkyRL's parquet format and measure their quality.", no_args_is_help=True
)

CONVERTED = (
    "train.parquet",
    "validation.parquet",
    "trivial.parquet",
    "rejects.jsonl",
    "quality.json",
)  # write_conversion
REPAIRED = (*CONVERTED, "repairs.jsonl")


def out_option(files: tuple[str, ...]) -> Any:
    """--out: the directory a command writes ``files`` into."""
    return Annotated[Path, typer.Option(help=f"Output directory: {', '.join(files)}.")]


ConvertOutOption = out_option(CONVERTED)
RepairOutOption = out_option(REPAIRED)
SplitSeedOption = Annotated[int, typer.Option(help="Seed of the deterministic train/validation split.")]


@data_app.command("convert")
def data_convert(
    source: Annotated[
        Path | None,
        typer.Argument(help="The seed system's novel_sft_dataset.json (omit to convert taurl's own task sets)."),
    ] = None,
    out: ConvertOutOption = Path("data/tau_bench"),
    domain: Annotated[
        list[str] | None, typer.Option(help="taurl task sets: domains to convert (repeatable; default all).")
    ] = None,
    split: Annotated[
        list[str] | None, typer.Option(help="taurl task sets: splits (repeatable; default train and test).")
    ] = None,
    basis: Annotated[RewardBasis, typer.Option(help="Reward basis written into every row.")] = RewardBasis.AUTO,
    validation_fraction: Annotated[
        float, typer.Option(help="Share of a single-split input held out for validation.")
    ] = 0.1,
    seed: SplitSeedOption = 0,
    normalize: Annotated[
        bool, typer.Option(help="Apply the evidence-based alias table for invented argument names.")
    ] = True,
    keep_trivial: Annotated[
        bool,
        typer.Option(
            help="Train on tasks a do-nothing, refuse or transfer-at-once policy already passes too "
            "(by default they are left out of train.parquet and written to trivial.parquet)."
        ),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Write SkyRL parquet (and a quality report) from taurl's task sets or the seed system's file.
    Train tasks whose reward a trivial policy already earns are left out of training (the reward audit's
    verdict, see `taurl audit rewards`); validation keeps them."""
    import dataclasses

    from taurl.checks.quality import assess, leave_out_trivial
    from taurl.core.reward import InvalidTaskError
    from taurl.skyrl.dataset import Conversion, split_tasks, write_conversion

    dirs = parse_data_dirs(data_dir)
    output_directory(out)
    try:
        if source is not None:
            from taurl.importers.ctu import load_seed_tasks

            tasks = load_seed_tasks(source, basis)
        else:
            tasks = []
            for name in domain or DOMAIN_NAMES:
                for split_name in split or ["train", "test"]:
                    try:
                        found = get_domain(name).tasks(split_name, dirs.get(name))
                    except DataError:
                        if split:  # asked for by name: its absence is an error
                            raise
                        err.print(f"{name} has no {split_name} split: skipped")
                        continue
                    tasks += [dataclasses.replace(t, reward_basis=basis) for t in found]
        assessment = assess(tasks, dirs, use_aliases=normalize and source is not None)
    except (DataError, OSError, ValueError, KeyError) as exc:
        raise fail(f"cannot convert: {exc}") from exc
    train, validation = split_tasks(assessment.accepted, validation_fraction, seed)
    try:
        train, trivial = leave_out_trivial(train, validation, dirs, keep_trivial, assessment.report)
    except (DataError, InvalidTaskError) as exc:
        raise fail(f"cannot convert: {exc}") from exc
    lengths = measure_prompts({"train": train, "validation": validation, "trivial": trivial}, assessment.report)
    conversion = Conversion(train, validation, assessment.rejects, assessment.report, trivial)
    with writing_into(out) as staging:
        write_conversion(conversion, staging)
    print_quality(assessment.report)
    print_prompt_lengths(lengths)
    print_written(len(tasks), conversion, out, CONVERTED)


def measure_prompts(parts: dict[str, list[Task]], report: dict) -> dict[str, PromptLengths | None]:
    """Each split's prompt tokens, also put in the quality report (quality.json's prompt_tokens)."""
    from taurl.skyrl.budget import TOKENIZER, prompt_lengths
    from taurl.skyrl.dataset import task_row

    lengths = {name: prompt_lengths(task_row(t)["prompt"] for t in tasks) for name, tasks in parts.items()}
    report["prompt_tokens"] = {"tokenizer": TOKENIZER, **{k: v.to_dict() for k, v in lengths.items() if v}}
    return lengths


def print_prompt_lengths(lengths: dict[str, PromptLengths | None]) -> None:
    """Prompt tokens per split: a training config's generator.max_input_length must leave room for the
    longest plus one turn (`taurl train` checks)."""
    from taurl.skyrl.budget import TOKENIZER

    rows = [(name, *(f"{v:,}" for v in found.to_dict().values())) for name, found in lengths.items() if found]
    columns = [Col("split"), *(Col(h, justify="right") for h in ("prompts", "min", "median", "max"))]
    print_table(console, columns, rows, title=f"prompt tokens ({TOKENIZER})")
    if rows:
        longest = max(found.max for found in lengths.values() if found)
        console.print(
            f"training needs generator.max_input_length >= {longest} + generator.sampling_params.max_generate_length "
            "(taurl train checks)",
            markup=False,
        )


def print_quality(report: dict) -> None:
    """One column per domain (and the total), one row per measure: fits a terminal with five domains."""
    columns = [*report["domains"].items(), ("total", report["total"])]
    rows: list[tuple[str, ...]] = []

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    measures = [
        ("tasks", lambda r: r["tasks"]),
        ("fully valid (seed rule)", lambda r: r["fully_valid_tasks"]),
        ("fully valid after aliases", lambda r: r["fully_valid_tasks_normalized"]),
        ("no state-changing gold action", lambda r: share(r["no_write_tool_share"])),
        ("valid gold actions", lambda r: share(r["valid_action_share"])),
        ("accepted", lambda r: r["accepted"]),
        ("rejected", lambda r: r["rejected"]),
        ("gold runs without error", lambda r: r["executable_tasks"]),
        ("read-only (accepted)", lambda r: share(r["read_only_share"])),
    ]
    for label, value in measures:
        rows.append((label, *(str(value(row)) for _, row in columns)))
    for basis in report["total"]["silent_pass"]:
        rows.append((f"silent agent passes, {basis}", *(str(row["silent_pass"][basis]) for _, row in columns)))
    trivial = report.get("trivial")
    if trivial:
        rows.append(
            (
                "trivial: train / validation",
                *(f"{row['trivial']['train']} / {row['trivial']['validation']}" for _, row in columns),
            )
        )
        rows.append(("left out of train", *(str(row["trivial"]["left_out_of_train"]) for _, row in columns)))
    layout = [Col("", whole=False), *(Col(escape(name), justify="right") for name, _ in columns)]
    print_table(console, layout, rows, title="task quality", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))
    if trivial:
        where = "left out of train.parquet (in trivial.parquet)" if trivial["left_out_of_train"] else "kept"
        console.print(f"trivial: {trivial['reason']}; {where}")
    aliases = report["normalization"]["aliases"]
    if aliases:
        grouped: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        evidence: dict[tuple[str, str, str], int] = defaultdict(int)
        for a in aliases:
            key = (a["domain"], a["tool"], a["declared"])
            grouped[key].append(a["invented"])
            evidence[key] += a["evidence"]
        alias_columns = [
            Col("domain"),
            Col("tool"),
            Col("invented names", whole=False),
            Col("→ declared"),
            Col("calls", justify="right"),
        ]
        alias_rows = [
            (escape(key[0]), escape(key[1]), escape(", ".join(sorted(names))), escape(key[2]), str(evidence[key]))
            for key, names in sorted(grouped.items())
        ]
        title = "argument aliases applied (unambiguous only; see quality.json for why)"
        print_table(console, alias_columns, alias_rows, title=title)


@data_app.command("repair")
def data_repair(
    source: Annotated[Path, typer.Argument(help="The seed system's novel_sft_dataset.json.")],
    out: RepairOutOption = Path("data/seed"),
    accept_hazards: Annotated[
        bool, typer.Option(help="Keep tasks with hazards (gold errors, unknowable ids, silent passes), flagged.")
    ] = False,
    validation_fraction: Annotated[float, typer.Option(help="Share of the tasks held out for validation.")] = 0.1,
    seed: SplitSeedOption = 0,
    data_dir: DataDirOption = None,
) -> None:
    """Repair the seed system's tasks with evidence (each repair recorded per task and action), reject
    the hazardous ones, and write SkyRL parquet with the funnel of what survived each step."""
    from taurl.importers.ctu import load_seed_tasks
    from taurl.importers.seed_funnel import repair_seed
    from taurl.skyrl.dataset import Conversion, split_tasks, write_conversion

    dirs = parse_data_dirs(data_dir)
    output_directory(out)
    try:
        tasks = load_seed_tasks(source)
        result = repair_seed(tasks, dirs, accept_hazards)
    except (DataError, OSError, ValueError, KeyError) as exc:
        raise fail(f"cannot repair: {exc}") from exc
    train, validation = split_tasks(result.accepted, validation_fraction, seed)
    lengths = measure_prompts({"train": train, "validation": validation}, result.report)
    conversion = Conversion(train, validation, result.rejects, result.report)
    with writing_into(out) as staging:
        write_conversion(conversion, staging)
        result.write_provenance(staging / "repairs.jsonl")
    print_funnel(result.report)
    print_prompt_lengths(lengths)
    print_written(len(tasks), conversion, out, REPAIRED)


def print_written(tasks: int, conversion: Conversion, out: Path, files: tuple[str, ...]) -> None:
    """How many tasks each parquet file (train, validation, trivial) holds; every task in must be accounted for."""
    counts = (
        f"{len(conversion.train)} train, {len(conversion.validation)} validation, {len(conversion.trivial)} trivial"
    )
    console.print(
        f"{tasks} task(s): {counts}, {len(conversion.rejects)} rejected -> {out}/ ({', '.join(files)})", markup=False
    )
    if conversion.total != tasks:
        raise fail(f"internal error: {tasks} tasks in, {conversion.total} accounted for")


def print_funnel(report: dict) -> None:
    """The repair funnel: one column per domain (and the total), one row per step; then the aliases."""
    columns = [*report["domains"].items(), ("total", report["total"])]
    table = Table("", *(name for name, _ in columns), title="seed data: tasks valid after each repair step")
    table.add_row("tasks", *(str(row["tasks"]) for _, row in columns))
    for stage in report["stages"]:
        label = "after hazards (accepted)" if stage == "hazards" else ("raw" if stage == "raw" else f"+ {stage}")
        table.add_row(label, *(str(row["funnel"][stage]) for _, row in columns))
    table.add_row("unrepairable", *(str(row["unrepairable"]) for _, row in columns))
    table.add_row("user's id or persona repaired", *(str(row["identity_repaired"]) for _, row in columns))
    for hazard in report["total"]["hazards"]:
        table.add_row(f"hazard: {hazard}", *(str(row["hazards"][hazard]) for _, row in columns))
    table.add_row("accepted read-only", *(str(row["accepted_read_only"]) for _, row in columns))
    table.add_row("accepted writing", *(str(row["accepted_writing"]) for _, row in columns))
    console.print(table)
    aliases = Table("domain", "tool", "invented", "→ declared", "calls", "evidence (first)", title="argument renames")
    for alias in report["aliases"]:
        aliases.add_row(
            alias["domain"],
            alias["tool"],
            alias["invented"],
            alias["declared"],
            str(alias["calls"]),
            alias["evidence"][0],
        )
    console.print(aliases)
