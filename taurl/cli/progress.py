"""A run's progress on stderr: how far, how long still, how well so far, what it has cost.

On a terminal, a bar with ETA, and below it the mean reward, pass rate and spend (one line of both would
not fit 80 columns: the counts and times would be cut); the bar takes the width the rest leaves. Elsewhere (a log file, CI) a bar
draws nothing, so plain lines instead: one at each tenth of the run and one every ``interval``
seconds between them, so a long run is never silent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from rich.console import Console, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

from taurl.core.reward import passed
from taurl.core.types import EpisodeResult

PLAIN_INTERVAL = 10.0


@dataclass
class RunStats:
    """Running totals over the episodes recorded so far."""

    done: int = 0
    reward: float = 0.0
    passed: int = 0
    spent: float = 0.0
    model_calls: int = 0

    def add(self, result: EpisodeResult) -> None:
        self.done += 1
        self.reward += result.reward
        self.passed += int(passed(result.reward))
        # what was paid for: a cache hit records what the call would cost, but costs nothing now
        self.spent += sum(call.cost_usd for call in result.model_calls if not call.cache_hit)
        self.model_calls += len(result.model_calls)

    def describe(self) -> str:
        if not self.done:
            return ""
        text = f"mean reward {self.reward / self.done:.3f}, pass {self.passed / self.done:.0%}"
        return text + (f", spent ${self.spent:.2f}" if self.model_calls else "")


class _BarAndStats(Progress):
    """The bar on one line, each task's ``stats`` field on the next."""

    def get_renderables(self) -> Iterator[RenderableType]:
        yield self.make_tasks_table(self.tasks)
        for task in self.tasks:
            if task.fields.get("stats"):
                yield Text(f"  {task.fields['stats']}")


class RunProgress:
    """Use as a context manager; call :meth:`start` with the total, :meth:`episode` for each one
    recorded (from any thread)."""

    def __init__(self, label: str, console: Console, quiet: bool = False, interval: float = PLAIN_INTERVAL) -> None:
        self.label = label
        self.console = console
        self.plain = not quiet and not console.is_terminal
        self.interval = interval
        self.stats = RunStats()
        self.total: int | None = None
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._tenths = 0
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        whole = Column(no_wrap=True)
        self._bar = _BarAndStats(
            TextColumn("{task.description}", table_column=whole),
            BarColumn(bar_width=None),  # what the other columns leave
            MofNCompleteColumn(table_column=whole),
            TimeElapsedColumn(table_column=whole),
            TextColumn("eta", table_column=whole),
            TimeRemainingColumn(table_column=whole),
            console=console,
            transient=True,
            disable=quiet or self.plain,
        )
        self._task = self._bar.add_task(label, total=None, stats="")

    def __enter__(self) -> RunProgress:
        self._bar.__enter__()
        if self.plain:
            self._ticker.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._ticker.is_alive():
            self._ticker.join()
        self._bar.__exit__(*exc_info)

    def start(self, total: int) -> None:
        self.total = total
        self._started = time.monotonic()
        self._bar.update(self._task, total=total)

    def episode(self, result: EpisodeResult) -> None:
        with self._lock:
            self.stats.add(result)
            self._bar.update(self._task, advance=1, stats=self.stats.describe())
            if self.plain and self.total:
                tenths = self.stats.done * 10 // self.total
                if tenths > self._tenths:
                    self._tenths = tenths
                    self._line()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                self._line()

    def _line(self) -> None:
        done, total = self.stats.done, self.total
        elapsed = time.monotonic() - self._started
        parts = [f"{self.label}: {done}/{total if total is not None else '?'}"]
        if total:
            parts[0] += f" ({done / total:.0%})"
        parts.append(f"elapsed {_clock(elapsed)}")
        if done and total and done < total:
            parts.append(f"eta {_clock(elapsed / done * (total - done))}")
        if done:
            parts.append(self.stats.describe())
        self.console.print(", ".join(parts), markup=False, highlight=False, soft_wrap=True)


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))
