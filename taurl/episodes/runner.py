"""``taurl run`` as a library call: every episode the run starts ends in the recording exactly once.

Episodes start lazily, ``concurrency`` at a time. Each one ends finished, errored (any exception
inside it: recorded with ``terminated_by = error`` and the error, reward 0, its steps and model
calls so far; the run goes on) or, when the run is aborted, interrupted (recorded the same way).
``on_episode`` hears of an episode only once it is in the recording (see the writer for the commit
window). A recording that already holds the run id is refused unless ``resume``: resuming keeps
finished episodes and re-runs errored and interrupted ones as their next attempt, and only with the
settings the run was recorded with (:meth:`RunConfig.differences`: how it runs may change, what it
runs may not). One process at a time runs a run id (a lock on the recording). A recording that
cannot be written stops the run with :class:`RecordingWriteError`, keeping what is already durable.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from taurl.core.types import EpisodeResult, TerminatedBy
from taurl.domains import DataError
from taurl.episodes.config import RunConfig, build_agent, build_user
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, RunControl, run_episodes
from taurl.episodes.selection import select_tasks
from taurl.llm.client import BudgetExceededError
from taurl.record.location import resolve
from taurl.record.lock import RecordingLock
from taurl.record.predicates import finished_sql
from taurl.record.schema import episode_row
from taurl.record.store import RecordingStore
from taurl.record.writer import DEFAULT_COMMIT_WINDOW, RecordingWriteError, RecordingWriter

__all__ = [
    "RecordingWriteError",
    "ReportingError",
    "RunExistsError",
    "RunSettingsError",
    "RunSummary",
    "execute",
    "interruptible",
]


class RunExistsError(DataError):
    """The recording already holds this run id and the run was not asked to resume."""


class RunSettingsError(DataError):
    """A resume whose settings are not those the run was recorded with: nothing was run or recorded."""


class ReportingError(RuntimeError):
    """Telling the caller of a recorded episode failed (``on_episode`` raised: a closed stdout, say).
    The run stopped starting episodes; the running ones finished and were recorded."""

    def __init__(self, cause: BaseException):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause = cause


@dataclass(frozen=True)
class KeptEpisode:
    """A finished episode a resumed run kept from the recording: what the run's summary needs of it."""

    domain: str
    task_id: str
    trial: int
    reward: float


@dataclass
class RunSummary:
    run_id: str
    results: list[EpisodeResult] = field(default_factory=list)  # every episode that ended, recorded or not
    kept: list[KeptEpisode] = field(default_factory=list)  # finished episodes a resumed run kept
    not_run: int = 0  # episodes never started: the run was stopped (signal, spent budget, failed recording)
    interrupted: bool = False
    budget_spent: str | None = None  # the budget message, when a spend limit stopped the run
    unrecorded: int = 0  # episodes that ended but could not be written (the recording failed)
    reporting_error: ReportingError | None = None  # on_episode raised: the run stopped starting episodes

    @property
    def resumed(self) -> int:
        return len(self.kept)

    @property
    def errors(self) -> list[EpisodeResult]:
        return [r for r in self.results if r.terminated_by is TerminatedBy.ERROR]


def select_specs(config: RunConfig) -> list[EpisodeSpec]:
    tasks = select_tasks(config.domain, config.split, config.data_dirs.get(config.domain), config.task_ids)
    seen: set[tuple[str, str]] = set()
    for task in tasks:
        if (task.domain, task.id) in seen:
            raise DataError(
                f"task {task.domain}/{task.id} is selected twice: a run plays each task once per trial "
                "(use --trials for more episodes of it)"
            )
        seen.add((task.domain, task.id))
    return [EpisodeSpec(task, trial) for task in tasks for trial in range(config.trials)]


Attempts = dict[tuple[str, str, int], tuple[int, bool]]


@dataclass
class RecordedRun:
    """What a recording holds of a run id: whether anything (a run record or any episode), each
    episode's latest attempt, the rewards of the finished ones, and its run records' settings."""

    known: bool = False
    attempts: Attempts = field(default_factory=dict)  # (domain, task_id, trial) -> (latest attempt, finished)
    rewards: dict[tuple[str, str, int], float] = field(default_factory=dict)  # finished episodes only
    configs: list[dict] = field(default_factory=list)  # one per distinct run record


def recorded_run(recording: str | Path, run_id: str) -> RecordedRun:
    """What ``recording`` holds of ``run_id`` (nothing when the recording does not exist yet)."""
    location = resolve(recording)
    if location.is_local and not Path(location.root).exists():
        return RecordedRun()
    store = RecordingStore(recording, run_ids=[run_id])  # the segments that may hold this run, no others
    if not store.files("episodes") and not store.files("runs"):
        return RecordedRun()  # a new run: no need to open DuckDB
    try:
        _, rows = store.query(
            f"SELECT domain, task_id, trial, attempt, {finished_sql()}, reward FROM episodes WHERE run_id = ?",
            [run_id],
        )
        _, runs = store.query("SELECT DISTINCT config_json FROM runs_raw WHERE run_id = ? ORDER BY 1", [run_id])
    finally:
        store.close()
    run = RecordedRun(configs=[json.loads(config) for (config,) in runs])
    for domain, task, trial, attempt, finished, reward in rows:
        key = (domain, task, int(trial))
        run.attempts[key] = (int(attempt), bool(finished))
        if finished:
            run.rewards[key] = float(reward)
    run.known = bool(run.attempts) or bool(runs)
    return run


def recorded_attempts(recording: str | Path, run_id: str) -> tuple[bool, Attempts]:
    """Whether the recording knows ``run_id`` (a run record or any episode), and for each of its
    episodes, (domain, task_id, trial) -> (latest attempt, whether that attempt finished)."""
    run = recorded_run(recording, run_id)
    return run.known, run.attempts


def check_same_settings(config: RunConfig, run: RecordedRun, run_id: str, where: str) -> None:
    """Refuse to resume ``run_id`` with settings other than those it was recorded with."""
    for recorded in run.configs:
        try:
            differences = config.differences(recorded)
        except (TypeError, ValueError, KeyError) as exc:  # not a record `taurl run` wrote (a training run's, say)
            raise RunSettingsError(
                f"run {run_id!r} in {where} was not recorded by a run like this one (its settings do not read as "
                f"a run's: {type(exc).__name__}: {exc}): give this run another --run-id. Nothing was run."
            ) from exc
        if differences:
            raise RunSettingsError(
                f"run {run_id!r} in {where} was recorded with other settings: {'; '.join(differences)}. Resume it "
                "with the settings it was recorded with, or give this run another --run-id. Nothing was run."
            )


def execute(
    config: RunConfig,
    recording: str | Path | None = None,
    run_id: str | None = None,
    resume: bool = False,
    concurrency: int = 1,
    on_episode: Callable[[EpisodeResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    control: RunControl | None = None,
    durable: bool = False,
    commit_window: float = DEFAULT_COMMIT_WINDOW,
    unlocked: bool = False,
) -> RunSummary:
    """Run the configured episodes; ``on_start`` hears how many will run (after resume skips),
    ``on_episode`` each one once it is recorded; ``control`` stops or aborts the run from outside."""
    config.validate()
    run_id = run_id or config.default_run_id()
    specs = select_specs(config)
    summary = RunSummary(run_id)
    control = control or RunControl()
    lock = None
    attempts: Attempts = {}
    if recording is not None:
        # on an object store (no lock) a new run only needs the refusal below; resuming needs --unlocked
        location = resolve(recording)
        name = "run-" + hashlib.sha256(run_id.encode()).hexdigest()[:16]
        lock = RecordingLock(location, name, f"running {run_id}", unlocked or not (resume or location.is_local))
        lock.acquire()
    try:
        if recording is not None:
            recorded = recorded_run(recording, run_id)
            where = resolve(recording).display
            if recorded.known and not resume:
                raise RunExistsError(
                    f"{where} already holds run {run_id!r}: add --resume to finish it (finished "
                    "episodes are kept, errored and interrupted ones run again), or give this run another --run-id"
                )
            check_same_settings(config, recorded, run_id, where)
            attempts = recorded.attempts
            keys = [(s.task.domain, s.task.id, s.trial) for s in specs]
            summary.kept = [KeptEpisode(*key, recorded.rewards[key]) for key in keys if key in recorded.rewards]
            specs = [s for s, key in zip(specs, keys, strict=True) if key not in recorded.rewards]
        if on_start is not None:
            on_start(len(specs))
        _run(
            config,
            specs,
            recording,
            run_id,
            attempts,
            concurrency,
            on_episode,
            control,
            summary,
            durable,
            commit_window,
        )
    finally:
        if lock is not None:
            lock.release()
    return summary


def _run(
    config: RunConfig,
    specs: list[EpisodeSpec],
    recording: str | Path | None,
    run_id: str,
    attempts: Attempts,
    concurrency: int,
    on_episode: Callable[[EpisodeResult], None] | None,
    control: RunControl,
    summary: RunSummary,
    durable: bool,
    commit_window: float,
) -> None:
    reported = threading.Lock()
    pending: dict[str, EpisodeResult] = {}  # episode id -> result, until its segment is in place

    def tell(result: EpisodeResult) -> None:
        """``on_episode``, which may fail (a closed stdout): the first failure stops the run starting
        episodes, as a first Ctrl-C does, and no later episode is told."""
        if on_episode is None or summary.reporting_error is not None:
            return
        try:
            on_episode(result)
        except Exception as exc:
            summary.reporting_error = ReportingError(exc)
            control.stop()

    def recorded(rows: list[dict]) -> None:  # the writer's thread, once a batch is durable
        with reported:
            for row in rows:
                tell(pending.pop(row["episode_id"]))

    writer = None
    if recording is not None:
        writer = RecordingWriter(
            recording, durable=durable, group_commit=True, commit_window=commit_window, on_durable=recorded
        )
        writer.write_run(run_id, config.to_record())
    rollout = RolloutConfig(dict(config.data_dirs), config.max_steps, config.reward)
    agent_model = (
        config.agent_endpoint.model if config.agent_endpoint and config.agent not in ("oracle", "silent") else None
    )
    user_model = config.user_endpoint.model if config.user != "scripted" else None
    try:
        for result in run_episodes(
            specs,
            lambda trial: build_agent(config, trial),
            lambda trial: build_user(config, trial),
            rollout,
            concurrency,
            control,
            stop_after=budget_spent,  # nothing more can be spent: start no new episode
        ):
            summary.results.append(result)
            if budget_spent(result):
                summary.budget_spent = summary.budget_spent or (result.error or "").partition(": ")[2]
            if writer is None:
                tell(result)
                continue
            previous = attempts.get((result.task.domain, result.task.id, result.trial), (0, False))[0]
            row = episode_row(
                result,
                run_id,
                config.agent,
                config.user,
                attempt=previous + 1,
                agent_model=agent_model,
                user_model=user_model,
            )
            with reported:
                pending[row["episode_id"]] = result
            try:
                writer.add(row)
            except RecordingWriteError:
                control.abort()  # nothing more can be recorded: stop spending
    finally:
        stopped = control.stopping.is_set() and summary.budget_spent is None and summary.reporting_error is None
        summary.interrupted = stopped and (writer is None or writer.error is None)
        summary.not_run = control.not_started
        if writer is not None:
            try:
                writer.close()
            finally:
                summary.unrecorded = len(pending)
    if writer is not None and writer.error is not None:
        raise writer.error


def budget_spent(result: EpisodeResult) -> bool:
    """Whether the episode ended because a spend limit refused its next model call."""
    return bool(result.error) and result.error.startswith(f"{BudgetExceededError.__name__}:")


@contextmanager
def interruptible(control: RunControl, on_signal: Callable[[int], None] | None = None) -> Iterator[RunControl]:
    """SIGINT stops the run gracefully: the first stops starting episodes (running ones finish), the
    second aborts the running ones. SIGTERM aborts at once, as a second SIGINT: whoever sends it
    (a supervisor, a scheduler, ``kill``) will not wait for episodes that may be blocked in a model
    call. ``on_signal`` hears the count (1 for a first SIGINT, 2 or more once aborting) so the caller
    can say what happens. Main thread only."""
    count = 0

    def handle(signum: int, frame: object) -> None:
        nonlocal count
        count = count + 1 if signum == signal.SIGINT else max(count + 1, 2)
        if count == 1:
            control.stop()
        else:
            control.abort()
        if on_signal is not None:
            on_signal(count)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield control
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
