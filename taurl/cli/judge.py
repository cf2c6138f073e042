"""taurl judge: a judge model's verdicts on recorded episodes, stored in the recording."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from taurl.cli.common import (
    JudgeModel,
    ModelCalls,
    ReadRecordings,
    WhereOption,
    console,
    fail,
    option_bundles,
    print_rows,
    writable_recording,
)
from taurl.cli.tables import Col, print_table
from taurl.llm.cache import CacheMode
from taurl.paths import OutputPathError
from taurl.record.location import RecordingLocationError
from taurl.record.store import RecordingError

app = typer.Typer()


@app.command("judge")
@option_bundles
def judge_command(
    read: ReadRecordings = ReadRecordings(),
    rubric: Annotated[
        str,
        typer.Option(help="faults: whose fault each failed episode was (agent, simulated user, task, environment)."),
    ] = "faults",
    judge: JudgeModel = JudgeModel("gpt-4o"),
    calls: ModelCalls = ModelCalls(),
    where: WhereOption = "TRUE",
    replay: Annotated[
        bool,
        typer.Option(
            help="Re-ask the judge for the stored verdicts from their recorded calls only (no network): "
            "identical, or exit 1 naming the episodes that differ."
        ),
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
) -> None:
    """Attribute each failed episode to its cause with a judge model; the verdicts and the judge's calls are
    stored in the recording (view `rescores`, rescore_id `faults-...`). Episodes already judged are skipped."""
    from taurl.llm.client import ModelCallError
    from taurl.record.writer import RecordingWriteError
    from taurl.review.attribution import (
        RUBRICS,
        attribute_failures,
        category_counts,
        faults_id,
        judge_client,
        replay_attributions,
        store_attributions,
        stored_attributions,
    )

    if rubric not in RUBRICS:
        raise fail(f"unknown --rubric {rubric!r}; known: {', '.join(RUBRICS)}")
    recording = read.single(": judge stores its verdicts in it")
    try:
        store = read.store(recording)
        if replay:
            replayed = replay_attributions(store, judge.judge_model)
            rows = [(r.episode_id, "identical" if r.identical else "diverged", r.problem) for r in replayed]
            print_rows(["episode", "status", "problem"], rows, output_format)
            if any(not r.identical for r in replayed):
                raise typer.Exit(1)
            return
        writable_recording(recording)  # before the judge is paid, not after
        client = judge_client(
            judge.judge_model,
            judge.judge_base_url,
            calls.api_key_env,
            calls.cache_dir,
            CacheMode.RECORD,
            calls.limits(),
        )
        identity = faults_id(client)
        found = attribute_failures(store, client, where, skip=stored_attributions(store, identity))
        if found:
            store_attributions(recording, found, client)
    except (
        RecordingError,
        RecordingWriteError,
        RecordingLocationError,
        OutputPathError,
        ModelCallError,
        ValueError,
    ) as exc:
        raise fail(str(exc)) from exc
    rows = [(a.name, a.category, a.kind, ", ".join(a.flags), a.reason) for a in found]
    print_rows(["episode", "category", "kind", "flags", "reason"], rows, output_format)
    if output_format == "table":
        counts = [(c, k, str(n)) for (c, k), n in sorted(category_counts(found).items())]
        columns = [Col("category"), Col("kind"), Col("failed\nepisodes", justify="right")]
        print_table(console, columns, counts, title=escape(f"failure attribution ({judge.judge_model})"))
        console.print(
            f"stored in {recording}: SELECT * FROM rescores WHERE rescore_id = '{identity}'",
            markup=False,
            soft_wrap=True,
        )
