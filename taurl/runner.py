"""``taurl run`` as a library call: episodes run concurrently, each recorded as soon as it completes.

Completed episodes are written one segment each (durable before the next is reported), so a run
killed at any point keeps everything it finished; ``resume`` skips the episodes a run already has.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from taurl.config import RunConfig, build_agent, build_user
from taurl.core.reward import InvalidTaskError
from taurl.core.types import EpisodeResult
from taurl.domains import DataError, get_domain
from taurl.llm.cache import ReplayMissError
from taurl.llm.client import ModelCallError
from taurl.record.location import resolve
from taurl.record.schema import episode_row
from taurl.record.store import RecordingStore
from taurl.record.writer import RecordingWriter
from taurl.rollout import EpisodeFailure, EpisodeSpec, RolloutConfig, run_episodes

EPISODE_ERRORS = (ModelCallError, ReplayMissError, InvalidTaskError)


@dataclass
class RunSummary:
    run_id: str
    results: list[EpisodeResult] = field(default_factory=list)
    failures: list[EpisodeFailure] = field(default_factory=list)
    resumed: int = 0


def select_specs(config: RunConfig) -> list[EpisodeSpec]:
    tasks = get_domain(config.domain).tasks(config.split, config.data_dirs.get(config.domain))
    if config.task_ids:
        by_id = {t.id: t for t in tasks}
        unknown = [t for t in config.task_ids if t not in by_id]
        if unknown:
            raise DataError(
                f"no task(s) {', '.join(unknown)} in {config.domain}/{config.split}; ids look like {tasks[0].id!r}"
            )
        tasks = [by_id[t] for t in config.task_ids]
    return [EpisodeSpec(task, trial) for task in tasks for trial in range(config.trials)]


def completed_episodes(recording: str | Path, run_id: str) -> set[tuple[str, str, int]]:
    """(domain, task_id, trial) of the episodes a recording already holds for ``run_id``."""
    location = resolve(recording)
    if location.is_local and not Path(location.root).exists():
        return set()
    _, rows = RecordingStore(recording).query("SELECT domain, task_id, trial FROM episodes WHERE run_id = ?", [run_id])
    return {(d, t, int(n)) for d, t, n in rows}


def execute(
    config: RunConfig,
    recording: str | Path | None = None,
    run_id: str | None = None,
    resume: bool = False,
    concurrency: int = 1,
    on_episode: Callable[[EpisodeResult | EpisodeFailure], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> RunSummary:
    """Run the configured episodes; ``on_start`` hears how many will run (after resume skips),
    ``on_episode`` each one as it finishes."""
    config.validate()
    run_id = run_id or config.default_run_id()
    specs = select_specs(config)
    summary = RunSummary(run_id)
    if resume and recording is not None:
        done = completed_episodes(recording, run_id)
        remaining = [s for s in specs if (s.task.domain, s.task.id, s.trial) not in done]
        summary.resumed = len(specs) - len(remaining)
        specs = remaining
    if on_start is not None:
        on_start(len(specs))
    writer = RecordingWriter(recording, group_commit=True) if recording is not None else None
    if writer is not None:
        writer.write_run(run_id, config.to_record())
    rollout = RolloutConfig(dict(config.data_dirs), config.max_steps, config.reward)
    try:
        for item in run_episodes(
            specs,
            lambda trial: build_agent(config, trial),
            lambda trial: build_user(config, trial),
            rollout,
            concurrency,
            EPISODE_ERRORS,
        ):
            if isinstance(item, EpisodeFailure):
                summary.failures.append(item)
            else:
                if writer is not None:
                    writer.add(episode_row(item, run_id, config.agent, config.user))
                summary.results.append(item)
            if on_episode is not None:
                on_episode(item)
    finally:
        if writer is not None:
            writer.close()
    return summary
