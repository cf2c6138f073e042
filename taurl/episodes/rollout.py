"""Run episodes: one agent, one simulated user, one environment per episode; many concurrently."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from math import comb
from pathlib import Path

from taurl.agent.base import Agent
from taurl.core import messages as msg
from taurl.core.domain import Domain, UserSimulator
from taurl.core.env import DEFAULT_MAX_STEPS, DomainEnv
from taurl.core.reward import RewardConfig
from taurl.core.types import EpisodeResult, ModelCall, RewardBreakdown, Step, Task, TerminatedBy
from taurl.registry import get_domain


@dataclass(frozen=True)
class EpisodeSpec:
    task: Task
    trial: int = 0


@dataclass
class RolloutConfig:
    data_dirs: dict[str, Path | str] = field(default_factory=dict)
    max_steps: int = DEFAULT_MAX_STEPS
    reward: RewardConfig = field(default_factory=RewardConfig)


class Episode:
    """One episode in progress: its conversation and trace grow as it runs, so an episode stopped
    from outside (an interrupted run) can still be recorded with everything it did so far."""

    def __init__(
        self, spec: EpisodeSpec, agent: Agent, user: UserSimulator, config: RolloutConfig, domain: Domain | None = None
    ):
        self.spec = spec
        self.agent = agent
        self.user = user
        self.config = config
        self.domain = domain or get_domain(spec.task.domain)
        self.messages: list[dict] = []
        self.trace: list[Step] = []
        self.env: DomainEnv | None = None
        self.started_at: float | None = None
        self._start = 0.0

    def run(self, abort: threading.Event | None = None) -> EpisodeResult:
        """Play the episode to its end; ``abort`` (checked before every turn) stops it early with
        :class:`EpisodeAborted`."""
        task, domain, config = self.spec.task, self.domain, self.config
        env = self.env = DomainEnv(
            domain, self.user, config.data_dirs.get(task.domain), config.max_steps, config.reward
        )
        self._check(abort)
        self.started_at, self._start = time.time(), time.perf_counter()
        opening = env.reset(task)
        self.trace.extend(env.opening_steps)
        system = self.agent.start(task, env.tools, domain.policy_for(task.tool_set))
        self.messages.extend([system, *env.history, msg.user(opening)])
        while True:
            self._check(abort)
            turn = self.agent.next_turn(self.messages)
            self.messages.append(turn.message)
            action = turn.action
            outcome = env.step(action)
            error = outcome.tool_result.error if outcome.tool_result else None
            self.trace.append(Step(action, outcome.observation, outcome.source, error))
            self.trace.extend(outcome.user_steps)
            if action.is_respond:
                self.messages.append(msg.user(outcome.observation))
            elif turn.call_id is not None:
                self.messages.append(msg.tool(turn.call_id, outcome.source, outcome.observation))
            else:
                # a call written as text answers in text: endpoints without native tools take no tool role
                self.messages.append(msg.tool_response_text(outcome.observation))
            if outcome.done:
                assert outcome.reward is not None and outcome.terminated_by is not None
                return self.result(outcome.reward, outcome.terminated_by)

    def _check(self, abort: threading.Event | None) -> None:
        if abort is not None and abort.is_set():
            raise EpisodeAborted(f"{self.spec.task.domain}/{self.spec.task.id} trial {self.spec.trial}")

    def model_calls(self) -> list[ModelCall]:
        return [*self.user.calls, *self.agent.calls, *(self.env.calls if self.env else [])]

    def result(self, breakdown: RewardBreakdown | None, terminated_by: TerminatedBy, error: str | None = None):
        """The episode as it stands (a copy: the episode may still be running in another thread)."""
        return EpisodeResult(
            self.spec.task,
            self.spec.trial,
            list(self.messages),
            list(self.trace),
            breakdown,
            terminated_by,
            self.model_calls(),
            error,
            self.started_at,
            None if self.started_at is None else (time.perf_counter() - self._start) * 1000,
        )


class EpisodeAborted(Exception):
    """The run was stopped while this episode was running."""


def run_episode(
    spec: EpisodeSpec, agent: Agent, user: UserSimulator, config: RolloutConfig, domain: Domain | None = None
) -> EpisodeResult:
    """Play one episode to its end (exceptions propagate: see :func:`run_episodes` for a run that
    records them)."""
    return Episode(spec, agent, user, config, domain).run()


def unstarted(spec: EpisodeSpec, terminated_by: TerminatedBy, error: str | None = None) -> EpisodeResult:
    """An episode that ended before its first turn."""
    return EpisodeResult(spec.task, spec.trial, [], [], None, terminated_by, [], error)


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass
class RunControl:
    """How a run is stopped from outside. ``stop()``: start no new episode, let the running ones
    finish (a first Ctrl-C); ``abort()``: end the running ones now, each reported as interrupted
    with what it did so far (a second Ctrl-C, or the recording failed)."""

    stopping: threading.Event = field(default_factory=threading.Event)
    aborting: threading.Event = field(default_factory=threading.Event)
    not_started: int = 0  # episodes never started because the run was stopped

    def stop(self) -> None:
        self.stopping.set()

    def abort(self) -> None:
        self.stopping.set()
        self.aborting.set()


def run_episodes(
    specs: Iterable[EpisodeSpec],
    make_agent: Callable[[int], Agent],
    make_user: Callable[[int], UserSimulator],
    config: RolloutConfig,
    concurrency: int = 1,
    control: RunControl | None = None,
    stop_after: Callable[[EpisodeResult], bool] | None = None,
) -> Iterator[EpisodeResult]:
    """Yield each episode as it ends: finished, errored (any exception inside it ends that episode
    only, recorded with ``terminated_by = error``) or, when ``control`` aborts the run, interrupted.

    Episodes start lazily, at most ``concurrency`` at a time, each with its own agent and user made
    for its trial; once ``control`` stops the run no new episode starts (the count of those never
    started is left in ``control.not_started``). An episode for which ``stop_after`` is true stops the
    run as it ends, before any worker takes another (a spent budget: the episodes after it would fail at once).
    """
    control = control or RunControl()
    pending = iter(specs)
    lock = threading.Lock()  # guards taking specs and reporting episodes: each is reported exactly once
    results: queue.Queue[EpisodeResult | None] = queue.Queue()
    running: dict[int, EpisodeSpec | Episode] = {}  # worker index -> its current episode, until reported

    def next_spec(index: int) -> EpisodeSpec | None:
        with lock:
            spec = None if control.stopping.is_set() else next(pending, None)
            if spec is not None:
                running[index] = spec
            return spec

    def report(index: int, result: EpisodeResult) -> None:
        """Report a worker's episode unless the run already reported it as interrupted."""
        with lock:
            if running.pop(index, None) is not None:
                results.put(result)
                if stop_after is not None and stop_after(result):
                    control.stop()

    def worker(index: int) -> None:
        while (spec := next_spec(index)) is not None:
            try:
                episode = Episode(spec, make_agent(spec.trial), make_user(spec.trial), config)
            except Exception as exc:  # an agent or user that cannot be built fails this episode only
                report(index, unstarted(spec, TerminatedBy.ERROR, describe_error(exc)))
                continue
            with lock:
                if index in running:
                    running[index] = episode
            try:
                result = episode.run(control.aborting)
            except EpisodeAborted:
                break  # reported as interrupted by the loop below
            except Exception as exc:  # any failure ends this episode only, and is recorded with it
                result = episode.result(None, TerminatedBy.ERROR, describe_error(exc))
            report(index, result)
            if control.aborting.is_set():
                break
        results.put(None)

    workers = max(1, concurrency)
    for index in range(workers):
        # daemon threads: an aborted run does not wait for the model calls they have in flight
        threading.Thread(target=worker, args=(index,), name=f"taurl-episode-{index}", daemon=True).start()
    alive = workers
    while alive:
        try:
            item = results.get(timeout=0.05)
        except queue.Empty:
            item = False
        if item is None:
            alive -= 1
        elif item is not False:
            yield item
        if control.aborting.is_set():
            with lock:
                interrupted = [
                    e.result(None, TerminatedBy.INTERRUPTED)
                    if isinstance(e, Episode)
                    else unstarted(e, TerminatedBy.INTERRUPTED)
                    for e in running.values()
                ]
                running.clear()
                finished = []
                while not results.empty():
                    if (left := results.get_nowait()) is not None:
                        finished.append(left)
            yield from finished
            yield from interrupted
            break
    with lock:
        control.not_started = sum(1 for _ in pending)


def pass_hat_k(successes_per_task: Sequence[int], trials: int, k: int) -> float:
    """τ-bench's pass^k: mean over tasks of C(c, k) / C(n, k), c successful trials of n."""
    if not successes_per_task or k > trials:
        return float("nan")
    return sum(comb(c, k) / comb(trials, k) for c in successes_per_task) / len(successes_per_task)
