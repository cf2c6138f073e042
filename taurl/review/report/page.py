"""The report page: its sections assembled in order, with the navigation, the styles and the header,
written whole or not at all."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import taurl.review.report.queries as queries
import taurl.review.report.sections as sections
from taurl.paths import writable_file, write_atomically
from taurl.record.store import QueryLimits, RecordingStore
from taurl.review.report.charts import figure_class, run_colour
from taurl.review.report.explorer import CSS as EXPLORER_CSS
from taurl.review.report.explorer import explorer
from taurl.review.report.markup import esc
from taurl.review.report.queries import ReportError
from taurl.review.report.training import training_section


def render(store: RecordingStore, sources: Sequence[str], compare: tuple[str, str] | None, exclude_errors: bool) -> str:
    """The page over the store's episodes (``compare``: the two runs to compare; by default the first two)."""
    queries.create_scored_view(store, exclude_errors)
    run_ids = queries.run_ids(store)
    if not run_ids:
        raise ReportError(f"no episodes in {', '.join(sources)}: nothing to report")
    colours = {run: run_colour(i) for i, run in enumerate(run_ids)}
    if compare is not None:
        unknown = [r for r in compare if r not in run_ids]
        if unknown:
            raise ReportError(
                f"--compare: no run {', '.join(map(repr, unknown))} in the recordings (runs: {', '.join(run_ids)})"
            )
    elif len(run_ids) >= 2:
        compare = (run_ids[0], run_ids[1])
    training = training_section(store, colours)
    parts = [
        sections.summary(store),
        training,
        explorer(store),
        sections.tools(store),
        sections.failures(store, exclude_errors),
        sections.distributions(store, colours),
        sections.cost(store),
        sections.rescores(store),
        sections.faults(store),
        sections.comparison(store, *compare) if compare is not None else "",
    ]
    nav = [
        ("summary", "outcomes"),
        *([("training", "training")] if training else []),
        ("episodes", "episodes"),
        ("tools", "tool errors"),
        ("failures", "failures"),
        ("distributions", "distributions"),
        ("cost", "cost"),
        ("rescores", "rescores"),
        ("faults", "faults"),
    ]
    if compare is not None:
        nav.append(("compare", "comparison"))
    links = " · ".join(f'<a href="#{anchor}">{esc(label)}</a>' for anchor, label in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>taurl report: {esc(', '.join(run_ids))}</title><style>{CSS}{EXPLORER_CSS}</style></head><body>"
        + sections.header(store, sources, colours, source_commit())
        + f"<nav>{links}</nav><main>"
        + "".join(parts)
        + "</main></body></html>\n"
    )


def source_commit() -> str | None:
    """The git commit of taurl's source tree, when it is a checkout (else None: an installed wheel)."""
    root = Path(__file__).resolve().parents[3]  # taurl/review/report/page.py -> the checkout
    if not (root / ".git").exists():
        return None
    try:
        found = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() or None if found.returncode == 0 else None


def build_report(
    recordings: Sequence[str | Path],
    compare: tuple[str, str] | None = None,
    exclude_errors: bool = False,
    limits: QueryLimits | None = None,
) -> str:
    """The report's HTML for the recordings (raises RecordingError or ReportError)."""
    figure_class()  # fail before any query if matplotlib is missing
    store = RecordingStore(list(recordings), limits)
    try:
        return render(store, [str(r) for r in recordings], compare, exclude_errors)
    finally:
        store.close()


def write_report(
    recordings: Sequence[str | Path],
    out: Path,
    compare: tuple[str, str] | None = None,
    exclude_errors: bool = False,
    limits: QueryLimits | None = None,
) -> Path:
    """Write the report whole or not at all; an ``out`` that cannot be written is refused before any query
    (:class:`taurl.paths.OutputPathError`)."""
    writable_file(out)
    return write_atomically(out, build_report(recordings, compare, exclude_errors, limits))


CSS = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --head: #f6f8fa; --up: #1a7f37; --down: #cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0 auto; padding: 24px 32px 48px; max-width: 1240px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 6px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
p { margin: 4px 0 10px; }
.intro, .note, .muted { color: var(--muted); }
.intro { max-width: 900px; }
nav { margin: 14px 0 0; padding: 8px 12px; background: var(--head); border-radius: 6px; }
nav a { color: #0969da; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num, td[data-metric] { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.up { color: var(--up); font-weight: 600; }
td.down { color: var(--down); font-weight: 600; }
td.ci { color: var(--muted); font-size: 12px; }
td.example { max-width: 620px; word-break: break-word; font-size: 12px; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: var(--head); padding: 1px 4px;
       border-radius: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure.chart { margin: 6px 0; padding: 6px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figure.chart img { display: block; max-width: 100%; height: auto; }
figure.wide { display: inline-block; }
p.warning { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; }
"""
