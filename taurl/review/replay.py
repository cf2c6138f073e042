"""Replay: re-run recorded episodes offline and report where they stop matching their record.

Each episode is played again with its recorded assistant turns (text re-parsed with today's
parser), today's tools and environment, the user simulator served from the recorded model calls
(and, optionally, a cache directory) in ``replay`` mode, and today's reward. The first divergence
names the turn and what differs (parsed action, observation, user message, termination, database,
reward component) with the recorded and current values side by side. The judge reward component is
re-asked from the recorded judge calls: a verdict that differs, or a transcript the judge was never
asked about, is a ``reward: judge`` divergence.

Episodes imported from τ-bench ran on older τ-bench data: a tool output that differs there is
reported as a ``stale observation``, which does not fail the replay.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

import pyarrow as pa

from taurl.agent.replay import RecordingExhaustedError, ReplayAgent
from taurl.core import reward_judge
from taurl.core.messages import Message
from taurl.core.reward import InvalidTaskError, RewardConfig
from taurl.core.types import EpisodeResult, Step, Task, TerminatedBy
from taurl.domains import DataError
from taurl.episodes.config import RunConfig, build_user
from taurl.episodes.rollout import Episode, EpisodeSpec, RolloutConfig, run_episode
from taurl.llm.cache import CacheMode, ReplayMissError, ResponseCache
from taurl.llm.client import ModelCallError
from taurl.record import codec
from taurl.record.store import RecordingStore
from taurl.registry import get_domain

IMPORTED_PREFIX = "imported:"


@dataclass(frozen=True)
class Divergence:
    # parsed action | observation | user message | user tool call | user observation | termination | database
    # | reward:<component> | error
    kind: str
    turn: int | None  # the step it happened at; None for end-of-episode comparisons
    recorded: Any
    current: Any
    failing: bool = True

    def describe(self) -> str:
        where = f"turn {self.turn}" if self.turn is not None else "end of episode"
        return f"{where}: {self.kind} differs\n  recorded: {_show(self.recorded)}\n  current:  {_show(self.current)}"


@dataclass
class EpisodeReplay:
    episode_id: str
    run_id: str
    domain: str
    task_id: str
    trial: int
    divergences: list[Divergence] = field(default_factory=list)

    @property
    def first(self) -> Divergence | None:
        return next((d for d in self.divergences if d.failing), None)

    @property
    def identical(self) -> bool:
        return self.first is None

    @property
    def status(self) -> str:
        if self.first is not None:
            return "diverged"
        return "stale observations" if self.divergences else "identical"

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.task_id}/trial{self.trial}"

    def to_dict(self) -> dict[str, Any]:
        first = self.first
        return {
            "episode_id": self.episode_id,
            "run_id": self.run_id,
            "domain": self.domain,
            "task_id": self.task_id,
            "trial": self.trial,
            "status": self.status,
            "first_divergence": None
            if first is None
            else {"turn": first.turn, "kind": first.kind, "recorded": first.recorded, "current": first.current},
            "non_failing": [{"turn": d.turn, "kind": d.kind} for d in self.divergences if not d.failing],
        }


def _show(value: Any, limit: int = 300) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


BATCH_ROWS = 256  # episodes read at a time: what a replay holds in memory, and the model calls that serve them


class Replayer:
    def __init__(
        self,
        store: RecordingStore,
        data_dirs: Mapping[str, str] | None = None,
        cache_dir: Path | None = None,
        use_recorded_calls: bool = True,
    ):
        """``use_recorded_calls`` serves model calls from the recording itself; without it only
        ``cache_dir`` answers (which proves a cache alone replays the conversations)."""
        self.store = store
        _, runs = store.query("SELECT run_id, config_json FROM run_configs")
        self._setup(
            ReplaySettings(
                {run_id: codec.run_config(c) for run_id, c in runs},
                dict(data_dirs or {}),
                cache_dir,
                use_recorded_calls,
            )
        )

    def _setup(self, settings: ReplaySettings) -> None:
        self.settings = settings
        self.configs = settings.configs
        self.data_dirs = settings.data_dirs
        self.use_recorded_calls = settings.use_recorded_calls
        self.cache = ResponseCache(settings.cache_dir)
        self._run_configs: dict[tuple[str, str, str], RunConfig] = {}
        self._tasks: dict[str | None, tuple[Task, list[Message]]] = {}  # by the task's recorded JSON

    @classmethod
    def worker(cls, settings: ReplaySettings) -> Replayer:
        """A replayer without a store, for a process that is handed batches of rows."""
        replayer = cls.__new__(cls)
        replayer.store = None
        replayer._setup(settings)
        return replayer

    def episodes(self, where: str = "TRUE") -> list[dict[str, Any]]:
        """Every selected row at once, served from all their model calls (see :meth:`replay_all` for a stream)."""
        rows = self.store.episode_rows(where)
        if self.use_recorded_calls:
            self.cache.preload(codec.model_call_entries(rows))
        return rows

    def load(self, batch: pa.Table) -> list[dict[str, Any]]:
        """A batch's rows, served from their own model calls (and the cache directory), not earlier batches'."""
        rows = batch.to_pylist()
        if self.use_recorded_calls:
            self.cache.replace_preloaded(codec.model_call_entries(rows))
        return rows

    def replay_batch(self, batch: pa.Table) -> list[EpisodeReplay]:
        return [self.replay(row) for row in self.load(batch)]

    def replay_all(self, where: str = "TRUE", jobs: int = 1) -> Iterator[EpisodeReplay]:
        """Every selected episode in order, streamed a batch at a time; with ``jobs`` > 1 the batches are
        replayed by that many processes (this one and ``jobs`` - 1 workers), with the same results in the
        same order as one."""
        batches = iter(self.store.episode_batches(where, BATCH_ROWS))
        ahead = list(itertools.islice(batches, 2))  # a refused or failing query raises here, before any worker exists
        batches = itertools.chain(ahead, batches)
        if jobs <= 1 or len(ahead) < 2:  # one process asked for, or one batch: no worker is worth starting
            for batch in batches:
                yield from self.replay_batch(batch)
            return
        starting = _start_pool(jobs - 1, self.settings)
        pending: deque[AsyncResult | list[EpisodeReplay]] = deque()  # each batch's results, in order
        try:
            for batch in batches:
                # the workers get a batch while they hold fewer than two each (none before they are up): they
                # never wait for one; this process replays the others, between reading them
                held = sum(1 for p in pending if isinstance(p, AsyncResult) and not p.ready())
                if starting.done() and held < 2 * (jobs - 1):
                    pending.append(starting.result().apply_async(_replay_batch, (batch,)))
                else:
                    pending.append(self.replay_batch(batch))
                # a bounded read-ahead: memory holds a few batches, not the recording
                while pending and (len(pending) > 4 * jobs or _done(pending[0])):
                    yield from _results(pending.popleft())
            while pending:
                yield from _results(pending.popleft())
        finally:
            pool = starting.result()
            if any(isinstance(p, AsyncResult) for p in pending):  # stopped early: what is still out is not wanted
                pool.terminate()
            else:  # every batch is done: the workers end on their own, nothing left to terminate
                pool.close()
            pool.join()

    def _run_config(self, run_id: str, domain: str, user_strategy: str) -> RunConfig:
        key = (run_id, domain, user_strategy)
        if key in self._run_configs:
            return self._run_configs[key]
        record = self.configs.get(run_id)
        config = RunConfig.from_record(record) if record else RunConfig(domain=domain, user=user_strategy)
        config.domain = domain  # a SkyRL run's record is one per process, its episodes of every domain
        config.cache_mode = CacheMode.REPLAY
        config.data_dirs = {**config.data_dirs, **self.data_dirs}
        self._run_configs[key] = config  # parsed once per run, not once per episode
        return config

    def run_config(self, row: Mapping[str, Any]) -> RunConfig:
        return self._run_config(row["run_id"], row["domain"], row["user_strategy"])

    def task(self, row: Mapping[str, Any]) -> tuple[Task, list[Message]]:
        """The episode's task and its message history, decoded once per distinct task (its trials share them)."""
        key = row.get("task_json")
        if key not in self._tasks:
            task = codec.task(row)
            self._tasks[key] = (task, history(task))
        return self._tasks[key]

    def agent(self, row: Mapping[str, Any], messages: list[dict[str, Any]]) -> ReplayAgent:
        """The recorded turns, re-parsed as the run parsed them (a SkyRL run records its ``pick``)."""
        pick = (self.configs.get(row["run_id"]) or {}).get("pick", "first")
        start = 1 + len(self.task(row)[1])  # a task's message history (τ²'s) holds no turns of the agent's
        return ReplayAgent(messages[0], [m for m in messages[start:] if m["role"] == "assistant"], row["agent"], pick)

    def replay(self, row: Mapping[str, Any]) -> EpisodeReplay:
        result = EpisodeReplay(row["episode_id"], row["run_id"], row["domain"], row["task_id"], row["trial"])
        task = self.task(row)[0]
        steps = codec.steps(row)
        messages = codec.messages(row)
        if not TerminatedBy(row["terminated_by"]).finished:
            return self._replay_unfinished(row, result, task, steps, messages)
        config = self.run_config(row)
        agent = self.agent(row, messages)
        # the replayed episode may take exactly as many turns as the record did
        rollout = RolloutConfig(config.data_dirs, max_steps=agent_steps(steps), reward=config.reward_config(self.cache))
        try:
            user = build_user(config, row["trial"], self.cache)
            current = run_episode(EpisodeSpec(task, row["trial"]), agent, user, rollout)
        except (ReplayMissError, RecordingExhaustedError, InvalidTaskError, DataError, ModelCallError) as exc:
            result.divergences = aborted(steps, agent, exc)
            return result
        result.divergences = compare(row, steps, current, imported=row["agent"].startswith(IMPORTED_PREFIX))
        return result

    def _replay_unfinished(
        self, row: Mapping[str, Any], result: EpisodeReplay, task: Task, steps: list[Step], messages: list[dict]
    ) -> EpisodeReplay:
        """An errored or interrupted episode replays as far as it got: its steps must come out the same;
        what ended it (an exception, a signal) is not part of the comparison."""
        if not messages:
            return result  # it ended before its first turn: nothing to compare
        config = self.run_config(row)
        agent = self.agent(row, messages)
        rollout = RolloutConfig(config.data_dirs, max_steps=agent_steps(steps), reward=RewardConfig(config.basis))
        episode = Episode(EpisodeSpec(task, row["trial"]), agent, build_user(config, row["trial"], self.cache), rollout)
        try:
            episode.run()
        except (RecordingExhaustedError, ReplayMissError):
            pass  # the record ends here
        except Exception as exc:
            if len(episode.trace) < len(steps):
                result.divergences = aborted(steps, agent, exc)
                return result
        result.divergences = compare_steps(steps, episode.trace, imported=row["agent"].startswith(IMPORTED_PREFIX))
        if not result.divergences and len(episode.trace) < len(steps):
            result.divergences.append(
                Divergence("termination", None, f"{len(steps)} steps", f"stopped after {len(episode.trace)} steps")
            )
        return result


@dataclass(frozen=True)
class ReplaySettings:
    """What a replay process needs besides the rows: the runs' recorded settings and the replay's options."""

    configs: dict[str, dict[str, Any]]
    data_dirs: dict[str, str]
    cache_dir: Path | None
    use_recorded_calls: bool


_worker: Replayer | None = None  # a replay process's own replayer


def _start_worker(settings: ReplaySettings) -> None:
    global _worker
    _worker = Replayer.worker(settings)


def _start_pool(jobs: int, settings: ReplaySettings) -> Future[Pool]:
    """``jobs`` replay processes, started on a thread of their own (it takes a while: the caller replays
    meanwhile). They are forked from a server process that imported this module and did nothing else, never
    from this one, whose DuckDB threads (the store's reads) may hold locks that a fork would leave held for
    ever in the copy. A program that replays with jobs must guard its main module (``if __name__ ==
    "__main__"``), as any that starts processes this way. The batches go to them as Arrow tables."""
    started: Future[Pool] = Future()

    def start() -> None:
        try:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])  # not __main__: the command that runs the replay
            started.set_result(context.Pool(jobs, _start_worker, (settings,)))
        except BaseException as exc:  # the caller gets it where it waits for the pool
            started.set_exception(exc)

    threading.Thread(target=start, name="replay-workers", daemon=True).start()
    return started


def _done(batch: AsyncResult | list[EpisodeReplay]) -> bool:
    return not isinstance(batch, AsyncResult) or batch.ready()


def _results(batch: AsyncResult | list[EpisodeReplay]) -> list[EpisodeReplay]:
    return batch.get() if isinstance(batch, AsyncResult) else batch


def _replay_batch(batch: pa.Table) -> list[EpisodeReplay]:
    assert _worker is not None, "a replay worker replays after its start"
    return _worker.replay_batch(batch)


def history(task: Task) -> list[Message]:
    """The conversation a recorded task started from, before the user's opening. A domain that cannot be had
    (its package is not installed) has none here: a replay fails where it runs the episode."""
    try:
        domain = get_domain(task.domain)
    except DataError:
        return []
    return domain.history(task)


def agent_steps(steps: list[Step]) -> int:
    """How many of the steps were the agent's (at least 1): the replay's step limit."""
    return max(1, sum(1 for s in steps if not s.by_user))


def aborted(steps: list[Step], agent: ReplayAgent, exc: BaseException) -> list[Divergence]:
    """Divergences of a replay that raised: a changed action before the abort is its cause, so it comes first."""
    found = []
    turns = [turn for turn, step in enumerate(steps) if not step.by_user]  # the agent's steps, by trace index
    for turn, was, now in zip(turns, [steps[t] for t in turns], agent.actions, strict=False):
        if was.action != now:
            found.append(Divergence("parsed action", turn, was.action.to_dict(), now.to_dict()))
            break
    last = agent.index - 1  # the agent's last turn, as a step of the trace
    turn = turns[last] if 0 <= last < len(turns) else last
    if isinstance(exc, ReplayMissError) and exc.namespace == reward_judge.NAMESPACE:
        found.append(Divergence("reward: judge", None, "a recorded judge verdict", str(exc)))
    elif isinstance(exc, ReplayMissError):
        found.append(Divergence("user message", turn, "a recorded simulated-user reply", str(exc)))
    else:
        found.append(Divergence("error", turn, "the recorded episode", f"{type(exc).__name__}: {exc}"))
    return found


def _user_call(step: Step) -> dict[str, Any]:
    return {"requestor": step.requestor, **step.action.to_dict()}


def compare_steps(recorded: list[Step], current: list[Step], imported: bool) -> list[Divergence]:
    """Step by step. A simulated user's own tool call (τ²'s dual control), executed again on the
    replayed state, diverges as a ``user tool call`` (another tool or other arguments, or a call where
    the agent acted) or a ``user observation`` (the tool answered otherwise)."""
    found: list[Divergence] = []
    for turn, (was, now) in enumerate(zip(recorded, current, strict=False)):
        if was.by_user or now.by_user:
            if was.requestor != now.requestor or was.action != now.action:
                found.append(Divergence("user tool call", turn, _user_call(was), _user_call(now)))
            elif was.observation != now.observation:
                found.append(Divergence("user observation", turn, was.observation, now.observation))
            continue
        if was.action != now.action:
            found.append(Divergence("parsed action", turn, was.action.to_dict(), now.action.to_dict()))
        if was.observation != now.observation:
            if now.source == "user" or was.source == "user":
                found.append(Divergence("user message", turn, was.observation, now.observation))
            elif imported:
                found.append(Divergence("stale observation", turn, was.observation, now.observation, failing=False))
            else:
                found.append(Divergence("observation", turn, was.observation, now.observation))
    return found


def compare(row: Mapping[str, Any], recorded: list[Step], current: EpisodeResult, imported: bool) -> list[Divergence]:
    found = compare_steps(recorded, current.trace, imported)
    recorded_end = TerminatedBy(row["terminated_by"])
    if len(recorded) != len(current.trace) or recorded_end is not current.terminated_by:
        found.append(
            Divergence(
                "termination",
                None,
                f"{recorded_end} after {len(recorded)} steps",
                f"{current.terminated_by} after {len(current.trace)} steps",
            )
        )
    assert current.breakdown is not None  # a replay that ends normally is scored
    recorded_breakdown, now = codec.breakdown(row), current.breakdown.to_dict()
    differs = compare_breakdowns(recorded_breakdown, now)
    if differs:  # compare as recorded, through the JSON the recorder writes (equal values stay equal through it)
        now = json.loads(json.dumps(now, ensure_ascii=False, sort_keys=True))
        differs = compare_breakdowns(recorded_breakdown, now)
    found.extend(differs)
    return found


def compare_breakdowns(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[Divergence]:
    found = []
    was_diff = [(d["table"], d["key"], d["actual"]) for d in recorded["db_diff"]]
    now_diff = [(d["table"], d["key"], d["actual"]) for d in current["db_diff"]]
    if recorded["db_match"] != current["db_match"] or was_diff != now_diff:
        found.append(
            Divergence("database", None, recorded["db_diff"] or "matches gold", current["db_diff"] or "matches gold")
        )
    if recorded.get("judge") != current.get("judge"):  # named before the reward it changes
        found.append(Divergence("reward: judge", None, recorded.get("judge"), current.get("judge")))
    for component in ("outputs_missing", "actions_matched", "actions_score", "basis", "reward"):
        if recorded[component] != current[component]:
            found.append(Divergence(f"reward: {component}", None, recorded[component], current[component]))
    return found
