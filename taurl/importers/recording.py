"""Imported runs into a recording: the run's settings (with the file they came from), then an episode row
for each episode that could be played, beside the reward the other system gave it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from taurl.core.types import EpisodeResult
    from taurl.episodes.config import RunConfig


def record_import(
    recording: str,
    run_id: str,
    config: RunConfig,
    source: Path,
    episodes: Sequence[tuple[EpisodeResult, float | None]],
) -> None:
    """Write ``episodes`` (each with its source reward) as run ``run_id`` of ``recording``, in one segment."""
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter

    with RecordingWriter(recording, flush_every=len(episodes) or 1) as writer:
        writer.write_run(run_id, {**config.to_record(), "imported_from": str(source)})
        for result, source_reward in episodes:
            writer.add(episode_row(result, run_id, config.agent, config.user, source_reward=source_reward))
