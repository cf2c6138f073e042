"""The report's HTML pieces: values formatted for reading, and the cells, tables and sections they sit in.

A number a test may check carries ``data-metric``, ``data-run`` (and ``data-domain`` where it is per
domain) and shows its value as the element's text (:func:`metric`).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from taurl.record import codec
from taurl.review.show import call_text

MISSING = "—"  # what a value the recording does not have shows as


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _or_missing(render: Callable[[Any], str]) -> Callable[[Any], str]:
    """``render`` for a value that may be None, which shows as :data:`MISSING`."""

    def formatted(value: Any) -> str:
        return MISSING if value is None else render(value)

    return formatted


fmt_reward = _or_missing(lambda value: f"{value:.3f}")
fmt_rate = _or_missing(lambda value: f"{value * 100:.1f}%")
fmt_count = _or_missing(lambda value: f"{int(value):,}")
fmt_usd = _or_missing(lambda value: f"${value:,.4f}")
fmt_mean = _or_missing(lambda value: f"{value:.2f}")
fmt_interval = _or_missing(lambda value: f"[{value.low:.3f}, {value.high:.3f}]")  # a stats.Interval
fmt_when = _or_missing(lambda value: str(value)[:19])


def fmt_duration(ms: float | None) -> str:
    if ms is None:
        return MISSING
    seconds = ms / 1000
    return (
        f"{seconds:.1f} s"
        if seconds < 120
        else f"{seconds / 60:.1f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


def fmt_delta(value: float | None, fmt: Callable[[Any], str]) -> str:
    if value is None:
        return MISSING
    text = fmt(abs(value))
    return f"+{text}" if value > 0 else (f"−{text}" if value < 0 else text)


def trend(delta: float | None, better: int) -> str:
    """The CSS classes of a difference: green when it is an improvement, red when it is a regression."""
    if not delta or not better:
        return "num"
    return "num up" if delta * better > 0 else "num down"


def metric(value_text: str, name: str, run: str, domain: str | None = None, css: str = "", **extra: str) -> str:
    """A cell that shows one checkable number, with the attributes that name it (``extra``: more data-*)."""
    attrs = {"data-metric": name, "data-run": run, **({"data-domain": domain} if domain is not None else {})}
    attrs |= {f"data-{k}": v for k, v in extra.items()} | ({"class": css} if css else {})
    rendered = " ".join(f'{k}="{esc(v)}"' for k, v in attrs.items())
    return f"<td {rendered}>{esc(value_text)}</td>"


def cell(text: Any, css: str = "") -> str:
    return f'<td class="{css}">{esc(text)}</td>' if css else f"<td>{esc(text)}</td>"


def table(headers: Sequence[str], body: Sequence[str]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    rows_html = "".join(f"<tr>{row}</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"


def section(anchor: str, title: str, intro: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2><p class="intro">{intro}</p>{"".join(parts)}</section>'


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


def task_link(task_id: str) -> str:
    """A task cell that filters the episode table to the task's episodes."""
    return f'<td><a href="#episodes" data-show-task="{esc(task_id)}">{esc(task_id)}</a></td>'


def example_cell(call: str, task: str, limit: int = 160) -> str:
    """A gold call, cut to ``limit`` characters (the whole call is in the tooltip), and its task (a link to
    the task's episodes)."""
    shown = call if len(call) <= limit else call[: limit - 1] + "…"
    task_id = task.split("/", 1)[-1]
    return (
        f'<td class="example"><code title="{esc(call)}">{esc(shown)}</code> '
        f'(<a href="#episodes" data-show-task="{esc(task_id)}">{esc(task)}</a>)</td>'
    )


def gold_call_text(action_json: str) -> str:
    """A gold action (as the query extracts it from the task) as ``name(key=value, ...)``, values in JSON."""
    action = codec.action(action_json)
    return call_text(action.name, action.kwargs)
