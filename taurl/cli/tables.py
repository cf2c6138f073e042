"""Tables that fit the terminal (80 columns in a pipe or a CI log): ids and numbers are shown whole, text
wraps, and when even that is too wide the least needed columns are left out, named under the table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

WORD_FOLD = 20  # a word of wrapping text longer than this may be folded over lines rather than widen its column


@dataclass(frozen=True)
class Col:
    """A column: ``whole`` values (ids, numbers, names) are never wrapped or cut, the others wrap. Columns
    with a ``drop`` rank are left out when the table does not fit, the lowest rank first."""

    header: str
    whole: bool = True
    justify: str = "left"
    style: str | None = None
    drop: int | None = None


def _plain(cell: RenderableType) -> str:
    if isinstance(cell, Text):
        return cell.plain
    return Text.from_markup(cell).plain if isinstance(cell, str) else ""


def _needed(col: Col, cells: Sequence[RenderableType]) -> int:
    """The narrowest the column can be: its longest whole value (or header line), or its longest word."""
    texts = [col.header, *(_plain(c) for c in cells)]
    if col.whole:
        return max(cell_len(line) for text in texts for line in text.splitlines() or [""])
    words = [cell_len(word) for text in texts for word in text.split()] or [1]
    return min(max(words), WORD_FOLD)


def _overhead(table: Table, columns: int) -> int:
    """Borders and padding around ``columns`` columns of ``table``."""
    _, right, _, left = table.padding
    padding = (left + right) * columns - (0 if table.pad_edge else left + right)
    borders = (2 if table.show_edge else 0) + columns - 1 if table.box else 0
    return padding + borders


def fitted_table(
    columns: Sequence[Col], rows: Sequence[Sequence[RenderableType]], width: int, **options
) -> tuple[Table, list[str]]:
    """A rich Table of ``rows`` (``options`` go to Table) no wider than ``width`` when it can be, and the
    headers of the columns left out to make it so."""
    table = Table(**options)
    kept = list(range(len(columns)))
    needed = [_needed(col, [row[i] for row in rows]) for i, col in enumerate(columns)]
    droppable = sorted((c.drop, i) for i, c in enumerate(columns) if c.drop is not None)
    while droppable and sum(needed[i] for i in kept) + _overhead(table, len(kept)) > width:
        kept.remove(droppable.pop(0)[1])
    for i in kept:
        col = columns[i]
        table.add_column(col.header, justify=col.justify, style=col.style, no_wrap=col.whole, overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in kept))
    return table, [columns[i].header.replace("\n", " ") for i in range(len(columns)) if i not in kept]


def print_table(
    console: Console, columns: Sequence[Col], rows: Sequence[Sequence[RenderableType]], hint: str = "", **options
) -> None:
    """Print a :func:`fitted_table` on ``console``; the columns left out are named, with ``hint`` (where to
    see them)."""
    table, dropped = fitted_table(columns, rows, console.width, **options)
    console.print(table)
    if dropped:
        console.print(f"({', '.join(dropped)} left out to fit {console.width} columns{hint})", markup=False)
