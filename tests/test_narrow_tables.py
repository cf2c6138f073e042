"""Every table taurl prints, rendered at 80 columns (a pipe, a CI log): no line is wider, and ids, names
and numbers appear whole on one line (columns are left out, and named, before a value is cut)."""

from __future__ import annotations

import io
import json
import re
import time
from types import SimpleNamespace

import pyarrow.parquet as pq
import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from taurl.cli import app
from taurl.cli.progress import RunProgress
from taurl.cli.tables import Col, fitted_table
from taurl.domains import DOMAIN_NAMES
from taurl.registry import get_domain
from taurl.sim.server import SimServer

WIDTH = 80
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def invoke(*args: str):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": str(WIDTH)}, terminal_width=WIDTH)
    assert result.exit_code == 0, result.output
    return result


def lines_of(output: str) -> list[str]:
    lines = output.splitlines()
    assert all(cell_len(line) <= WIDTH for line in lines), max(lines, key=cell_len)
    return lines


def assert_whole(lines: list[str], *values: str) -> None:
    """Each value on one line, not cut (…) or folded over two."""
    for value in values:
        assert any(value in line for line in lines), f"{value!r} is not whole in:\n" + "\n".join(lines)


def row_of(lines: list[str], first: str) -> list[str]:
    """The cells of the row starting with ``first`` (borders and padding dropped)."""
    (row,) = [line for line in lines if line.strip("│┃ ").startswith(first + " ")]
    return [cell for cell in re.split(r"[│┃]|\s{2,}| ", row) if cell.strip()]


@pytest.fixture(scope="module")
def sim():
    with SimServer() as server:
        yield server


@pytest.fixture(scope="module")
def recorded(sim, tmp_path_factory):
    """Eight trials of two healthcare tasks (the longest built-in ids) by serve-sim's agent: most fail."""
    rec = tmp_path_factory.mktemp("narrow") / "rec"
    run = invoke(
        "run", "--domain", "healthcare", "--end-index", "2", "--trials", "8", "--recording", str(rec),
        "--agent", "tool-calling", "--agent-model", "sim-agent", "--agent-base-url", sim.base_url,
        "--user", "llm", "--user-model", "sim-user", "--user-base-url", sim.base_url, "--run-id", "narrow",
    )  # fmt: skip
    return rec, run.stdout


def test_run_results_and_summary_with_eight_trials(recorded):
    rec, output = recorded
    lines = lines_of(output.partition("\nrecorded ")[0])  # the next commands to try after it stay whole lines
    tasks = [t.id for t in get_domain("healthcare").tasks("test")[:2]]
    assert sum(1 for line in lines if any(t in line for t in tasks)) == 16  # a row per episode, ids whole
    summary = lines[lines.index("summary") :]
    for figure in ["episodes", "did not finish", "mean reward", *(f"pass^{k}" for k in range(1, 9))]:
        cells = row_of(summary, figure.split()[0])
        assert re.fullmatch(r"\d+(\.\d{3})?", cells[-1]), cells  # the number whole
    assert row_of(summary, "episodes")[-1] == "16"


def test_judge_replay_and_sql_tables(sim, recorded):
    rec, _ = recorded
    judged = invoke(
        "judge", str(rec), "--rubric", "faults", "--judge-model", "sim-judge", "--judge-base-url", sim.base_url
    )
    query = "SELECT task_id, trial FROM episodes WHERE NOT passed"
    failed = [
        (row["task_id"], row["trial"]) for row in json.loads(invoke("sql", str(rec), query, "--format", "json").stdout)
    ]
    assert len(failed) > 8
    tables, stored = judged.stdout.rsplit("\nstored in ", 1)
    lines = lines_of(tables)
    assert_whole(lines, *(f"healthcare/{task}/{trial}" for task, trial in failed), "failure attribution (sim-judge)")
    assert "SELECT * FROM rescores WHERE rescore_id = 'faults-" in stored.splitlines()[0]  # to copy: one line

    replayed = lines_of(invoke("replay", str(rec), "--all").stdout)
    assert_whole(replayed, *(f"healthcare/{task}/trial{trial}" for task, trial in failed))

    everything = lines_of(invoke("sql", str(rec), "SELECT * FROM episodes ORDER BY episode_id").stdout)
    assert "left out to fit 80 columns; --format json prints every column)" in " ".join(x.strip() for x in everything)
    picked = invoke("sql", str(rec), "SELECT task_id, trial, reward, terminated_by, run_id FROM episodes")
    assert_whole(lines_of(picked.stdout), "healthcare-test-0000", "user_stop", "narrow")


def test_domains_list_show_validate():
    listed = lines_of(invoke("domains", "list").stdout)
    for name in DOMAIN_NAMES:
        domain = get_domain(name)
        cells = row_of(listed, name)
        assert cells[1] == str(len(domain.tools)) and cells[-1] == str(len(domain.tasks("test")))

    for name in DOMAIN_NAMES:
        shown = lines_of(invoke("domains", "show", name).stdout)
        assert_whole(shown, *(tool.name for tool in get_domain(name).tools))

    validated = lines_of(invoke("domains", "validate").stdout)
    cells = row_of(validated, "oracle mean reward")
    assert cells[-5:] == ["1.000"] * 5
    counts = [f"{len(get_domain(n).tasks('train'))} / {len(get_domain(n).tasks('test'))}" for n in DOMAIN_NAMES]
    assert_whole(validated, *DOMAIN_NAMES, *counts)


def test_data_convert_quality_table(tmp_path):
    out = invoke("data", "convert", "--out", str(tmp_path / "d")).stdout
    lines = lines_of(out)
    quality = json.loads((tmp_path / "d" / "quality.json").read_text())
    cells = row_of(lines, "tasks")
    assert cells[1:] == [str(r["tasks"]) for r in quality["domains"].values()] + [str(quality["total"]["tasks"])]
    assert_whole(lines, *DOMAIN_NAMES, "total")
    tokens = quality["prompt_tokens"]  # Qwen2.5's count of each split's prompts, also in quality.json
    train_rows = pq.read_metadata(tmp_path / "d" / "train.parquet").num_rows
    assert tokens["tokenizer"] == "Qwen2.5's tokenizer" and tokens["train"]["prompts"] == train_rows
    for split in ("train", "validation"):
        counts = tokens[split]
        assert row_of(lines, split) == [split, *(f"{counts[k]:,}" for k in ("prompts", "min", "median", "max"))]
    longest = max(tokens[s]["max"] for s in ("train", "validation"))
    assert f"training needs generator.max_input_length >= {longest} + " in out


def test_a_table_too_wide_leaves_the_lowest_ranked_columns_out_and_names_them():
    columns = [Col("id"), Col("note", whole=False), Col("extra", drop=1), Col("more", drop=2)]
    rows = [("x" * 40, "some words that wrap", "y" * 20, "z" * 20)]
    table, dropped = fitted_table(columns, rows, WIDTH)
    assert dropped == ["extra"] and [c.header for c in table.columns] == ["id", "note", "more"]
    console = Console(file=io.StringIO(), width=WIDTH)
    console.print(table)
    assert_whole(lines_of(console.file.getvalue()), "x" * 40, "z" * 20)


def test_run_progress_bar_shows_counts_and_times_whole():
    out = io.StringIO()
    console = Console(file=out, width=WIDTH, force_terminal=True)
    with RunProgress("healthcare/test", console) as progress:
        progress.start(410)
        for reward in [1.0] * 60 + [0.0] * 81:
            progress.episode(SimpleNamespace(reward=reward, model_calls=[]))
        time.sleep(0.2)
    frames = [line for line in ANSI.sub("", out.getvalue()).replace("\r", "\n").splitlines() if line.strip()]
    (bar,) = {line for line in frames if "141/410" in line}
    assert cell_len(bar) <= WIDTH and re.search(r"141/410 \d:\d\d:\d\d eta (\d:\d\d:\d\d|-:--:--)$", bar.rstrip())
    assert "  mean reward 0.426, pass 43%" in frames
