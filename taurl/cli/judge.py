"""taurl judge: a judge model's verdicts on recorded episodes, stored in the recording."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from taurl.cli.common import (
    QueryMemoryOption,
    QueryTimeoutOption,
    console,
    fail,
    print_rows,
    query_limits,
    writable_recording,
)
from taurl.cli.tables import Col, print_table
from taurl.episodes.config import DEFAULT_CACHE_DIR
from taurl.llm.cache import CacheMode
from taurl.paths import OutputPathError
from taurl.record.location import RecordingLocationError
from taurl.record.store import DEFAULT_QUERY_MEMORY, DEFAULT_QUERY_TIMEOUT, RecordingError

app = typer.Typer()


@app.command("judge")
def judge_command(
    recording: Annotated[str, typer.Argument(help="Recording directory or object-store URI.")],
    rubric: Annotated[
        str,
        typer.Option(help="faults: whose fault each failed episode was (agent, simulated user, task, environment)."),
    ] = "faults",
    judge_model: Annotated[str, typer.Option(help="The judge model.")] = "gpt-4o",
    judge_base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible endpoint of the judge model (default: OpenAI).")
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Environment variable holding the API key (never written anywhere).")
    ] = "OPENAI_API_KEY",
    cache_dir: Annotated[Path, typer.Option(help="Response cache directory.")] = DEFAULT_CACHE_DIR,
    where: Annotated[str, typer.Option(help="SQL filter on the episodes view.")] = "TRUE",
    max_cost_usd: Annotated[
        float | None, typer.Option(help="Stop calling the judge once this many dollars are spent.")
    ] = None,
    max_tokens_budget: Annotated[
        int | None, typer.Option(help="Stop calling the judge once this many tokens are spent.")
    ] = None,
    replay: Annotated[
        bool,
        typer.Option(
            help="Re-ask the judge for the stored verdicts from their recorded calls only (no network): "
            "identical, or exit 1 naming the episodes that differ."
        ),
    ] = False,
    output_format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    timeout: QueryTimeoutOption = DEFAULT_QUERY_TIMEOUT,
    memory: QueryMemoryOption = DEFAULT_QUERY_MEMORY,
) -> None:
    """Attribute each failed episode to its cause with a judge model; the verdicts and the judge's calls are
    stored in the recording (view `rescores`, rescore_id `faults-...`). Episodes already judged are skipped."""
    from taurl.llm.client import ClientLimits, ModelCallError
    from taurl.record.store import RecordingStore
    from taurl.record.writer import RecordingWriteError, RecordingWriter
    from taurl.review.attribution import (
        RUBRICS,
        attribute_failures,
        attribution_row,
        category_counts,
        faults_id,
        judge_client,
        replay_attributions,
        stored_attributions,
    )

    if rubric not in RUBRICS:
        raise fail(f"unknown --rubric {rubric!r}; known: {', '.join(RUBRICS)}")
    limits = query_limits(timeout, memory)
    try:
        store = RecordingStore(recording, limits)
        if replay:
            replayed = replay_attributions(store, judge_model)
            rows = [(r.episode_id, "identical" if r.identical else "diverged", r.problem) for r in replayed]
            print_rows(["episode", "status", "problem"], rows, output_format)
            if any(not r.identical for r in replayed):
                raise typer.Exit(1)
            return
        writable_recording(recording)  # before the judge is paid, not after
        spend = ClientLimits(max_total_tokens=max_tokens_budget, max_cost_usd=max_cost_usd)
        client = judge_client(judge_model, judge_base_url, api_key_env, cache_dir, CacheMode.RECORD, spend)
        identity = faults_id(client)
        found = attribute_failures(store, client, where, skip=stored_attributions(store, identity))
        if found:
            RecordingWriter(recording).write_rescores([attribution_row(a, client) for a in found], identity)
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
        print_table(console, columns, counts, title=escape(f"failure attribution ({judge_model})"))
        console.print(
            f"stored in {recording}: SELECT * FROM rescores WHERE rescore_id = '{identity}'",
            markup=False,
            soft_wrap=True,
        )
