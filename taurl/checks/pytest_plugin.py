"""pytest plugin: ``pytest --taurl-recordings DIR`` adds one test per recorded episode.

Each item replays its episode offline (``taurl replay``'s engine) and fails with the first
divergence. Items are named ``replay[<domain>/<task>/trial<n>]``; select them with ``-k replay``.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("taurl")
    group.addoption(
        "--taurl-recordings",
        action="append",
        default=[],
        metavar="DIR",
        help="replay every episode of this taurl recording as a test (repeatable)",
    )


class EpisodeDivergedError(AssertionError):
    pass


class ReplayItem(pytest.Item):
    def __init__(self, *, replayer, row, **kwargs):
        super().__init__(**kwargs)
        self.replayer = replayer
        self.row = row

    def runtest(self) -> None:
        result = self.replayer.replay(self.row)
        if not result.identical:
            raise EpisodeDivergedError(f"{result.name} ({result.episode_id}) diverged at {result.first.describe()}")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, EpisodeDivergedError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"replay {self.name}"


class RecordingCollector(pytest.Collector):
    def __init__(self, *, location: str, **kwargs):
        super().__init__(**kwargs)
        self.location = location

    def collect(self):
        from taurl.record.store import RecordingStore
        from taurl.review.replay import Replayer

        replayer = Replayer(RecordingStore(self.location))
        rows = replayer.episodes()
        replayer.store.close()  # replaying needs only the rows; an open DuckDB handle would outlive the session
        for row in rows:
            name = f"replay[{row['domain']}/{row['task_id']}/trial{row['trial']}/{row['run_id']}]"
            yield ReplayItem.from_parent(self, name=name, replayer=replayer, row=row)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    for location in config.getoption("--taurl-recordings"):
        collector = RecordingCollector.from_parent(session, name=f"taurl-recording:{location}", location=location)
        items.extend(collector.collect())
