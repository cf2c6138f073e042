"""taurl replay, rescore, report and show: read recorded episodes back."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from taurl.cli.common import (
    DataDirOption,
    JudgeModel,
    ReadRecordings,
    WhereOption,
    console,
    fail,
    option_bundles,
    parse_data_dirs,
    progress_bar,
    writable_recording,
)
from taurl.cli.tables import Col, print_table
from taurl.core.types import RewardBasis
from taurl.domains import DataError
from taurl.paths import OutputPathError
from taurl.record.location import RecordingLocationError
from taurl.record.store import RecordingError

app = typer.Typer()


@app.command("replay")
@option_bundles
def replay_command(
    read: ReadRecordings = ReadRecordings(),
    data_dir: DataDirOption = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Also serve model calls from this cache (the recording's own calls always are).")
    ] = None,
    where: WhereOption = "TRUE",
    output_format: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    show_all: Annotated[bool, typer.Option("--all", help="List identical episodes too.")] = False,
    jobs: Annotated[
        int | None, typer.Option(min=1, help="Replay in this many processes (default: the core count); same results.")
    ] = None,
) -> None:
    """Re-run recorded episodes offline (no network, no key) and report the first divergence of each."""
    import os
    import time

    from taurl.review.replay import Replayer

    jobs = jobs or os.cpu_count() or 1
    start = time.perf_counter()
    results, listed, counts = 0, [], {"identical": 0, "stale observations": 0, "diverged": 0}
    diverged = []
    as_json = output_format == "json"
    try:
        replayer = Replayer(read.store(), parse_data_dirs(data_dir), cache_dir)
        with progress_bar(as_json) as progress:
            bar = progress.add_task("replay", total=None)
            for r in replayer.replay_all(where, jobs):
                if as_json:  # written as it comes: the output is the list json.dump would write, never held whole
                    sys.stdout.write("[" if not results else ", ")
                    json.dump(r.to_dict(), sys.stdout, ensure_ascii=False, default=str)
                results += 1
                counts[r.status] += 1
                if not r.identical and len(diverged) < 5:  # the first five are described
                    diverged.append(r)
                if not as_json and (show_all or not r.identical or r.divergences):
                    listed.append(r)
                progress.advance(bar)
    except RecordingError as exc:
        raise fail(str(exc)) from exc
    if not results:  # an empty (or emptied) recording must never pass as "identical"
        raise fail(
            f"nothing to replay: no recorded episode{'' if where == 'TRUE' else f' matches --where {where!r}'} in "
            f"{', '.join(read.names)}",
            1,
        )
    elapsed = time.perf_counter() - start
    if as_json:
        sys.stdout.write("]\n")
    else:
        rows = []
        for r in listed:
            first = r.first
            detail = (
                f"turn {first.turn}: {first.kind}"
                if first and first.turn is not None
                else (first.kind if first else f"{len(r.divergences)} stale observation(s)" if r.divergences else "-")
            )
            style = "red" if not r.identical else "yellow"
            rows.append((escape(r.name), f"[{style}]{r.status}[/]", escape(detail)))
        if rows:
            columns = [Col("episode"), Col("status"), Col("first divergence", whole=False)]
            print_table(console, columns, rows, title="replay")
        for r in diverged:
            console.print(f"[bold]{r.name}[/] ({r.episode_id}) first divergence at {r.first.describe()}")
        rate = results / elapsed if elapsed else float("inf")
        console.print(
            f"{results} episode(s) replayed offline in {elapsed:.2f}s ({rate:,.0f}/s): {counts['identical']} identical, "
            f"{counts['stale observations']} identical but for stale observations, {counts['diverged']} diverged"
        )
    if counts["diverged"]:
        raise typer.Exit(1)


@app.command("rescore")
@option_bundles
def rescore_command(
    read: ReadRecordings = ReadRecordings(),
    basis: Annotated[
        RewardBasis | None, typer.Option(help="Reward basis to score under (default: each task's own).")
    ] = None,
    zero_on_max_steps: Annotated[bool, typer.Option(help="Score episodes cut off at the step limit 0.")] = False,
    match_think_tools: Annotated[bool, typer.Option(help="Count think/calculate calls in action matching.")] = False,
    judge: JudgeModel = JudgeModel(),
    data_dir: DataDirOption = None,
    where: WhereOption = "TRUE",
) -> None:
    """Recompute rewards under another basis or reward config, without running the agent or the user; the new
    scores are stored beside the old ones (view `rescores`) with the config that produced them.

    With --judge-model the tasks' assertions are judged again, the judge's calls stored with the new scores."""
    from taurl.core.reward import RewardConfig
    from taurl.core.reward_judge import JudgeMissingError
    from taurl.llm.client import ModelCallError
    from taurl.record.writer import RecordingWriteError
    from taurl.review.attribution import judge_client
    from taurl.review.rescore import rescore, store_rescores

    recording = read.single(": rescore writes into it")
    client = judge_client(judge.judge_model, judge.judge_base_url) if judge.judge_model else None
    config = RewardConfig(basis, zero_on_max_steps, match_think_tools, judge=client)
    try:
        store = read.store(recording)
        writable_recording(recording)  # before the work, not after it
        results = rescore(store, config, parse_data_dirs(data_dir), where)
        identity = store_rescores(recording, results, config)
    except (
        RecordingError,
        RecordingWriteError,
        RecordingLocationError,
        OutputPathError,
        DataError,
        ModelCallError,
        JudgeMissingError,
    ) as exc:
        raise fail(str(exc)) from exc
    changed = [r for r in results if r.new_reward != r.old_reward]
    old = sum(r.old_reward for r in results) / len(results) if results else 0.0
    new = sum(r.new_reward for r in results) / len(results) if results else 0.0
    table = Table(
        "episodes", "mean reward (recorded)", f"mean reward ({basis or 'task basis'})", "changed", "rescore id"
    )
    table.add_row(str(len(results)), f"{old:.3f}", f"{new:.3f}", str(len(changed)), identity)
    console.print(table)
    console.print(f"stored in {recording}: SELECT * FROM rescores WHERE rescore_id = '{identity}'", markup=False)


@app.command("report")
@option_bundles
def report_command(
    read: ReadRecordings = ReadRecordings(),
    out: Annotated[Path, typer.Option(help="The HTML file to write.")] = Path("report.html"),
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            help="RUN_A RUN_B: the two runs to compare side by side (default: the first two run ids, sorted)."
        ),
    ] = None,
    exclude_errors: Annotated[
        bool,
        typer.Option(
            help="Leave episodes that errored, were interrupted or truncated out of every figure (τ²'s "
            "convention); by default they count as failures (τ-bench's)."
        ),
    ] = False,
) -> None:
    """A self-contained HTML report that opens offline: outcomes with confidence intervals, every episode in
    a table that opens its transcript, tool errors, failure causes, cost, rescores, two runs compared."""

    from taurl.review.report import ReportError, write_report

    limits = read.limits
    try:
        write_report(read.names, out, compare, exclude_errors, limits)
    except (RecordingError, ReportError, OutputPathError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"wrote {out}", markup=False)


@app.command("show")
@option_bundles
def show_command(
    episode_id: Annotated[
        str, typer.Argument(help="Episode id, a unique prefix of at least 6 characters, or RUN/TASK/TRIAL.")
    ],
    read: ReadRecordings = ReadRecordings(),
    full: Annotated[bool, typer.Option(help="Print system prompts and tool observations whole.")] = False,
) -> None:
    """One episode as a readable transcript: reward breakdown, task, gold actions, every message."""

    from taurl.review.show import EpisodeNotFoundError, show

    try:
        show(read.names, episode_id, console, full, read.limits)
    except (RecordingError, EpisodeNotFoundError) as exc:
        raise fail(str(exc)) from exc
