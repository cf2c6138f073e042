"""Run episodes: one agent, one simulated user, one environment per episode; many concurrently."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from math import comb
from pathlib import Path

from taurl.agent.base import Agent
from taurl.core import messages as msg
from taurl.core.env import DEFAULT_MAX_STEPS, DomainEnv, UserSimulator
from taurl.core.reward import RewardConfig
from taurl.core.types import EpisodeResult, Step, Task
from taurl.domains import Domain, get_domain


@dataclass(frozen=True)
class EpisodeSpec:
    task: Task
    trial: int = 0


@dataclass
class RolloutConfig:
    data_dirs: dict[str, Path | str] = field(default_factory=dict)
    max_steps: int = DEFAULT_MAX_STEPS
    reward: RewardConfig = field(default_factory=RewardConfig)


def run_episode(
    spec: EpisodeSpec, agent: Agent, user: UserSimulator, config: RolloutConfig, domain: Domain | None = None
) -> EpisodeResult:
    task = spec.task
    domain = domain or get_domain(task.domain)
    env = DomainEnv(domain, user, config.data_dirs.get(task.domain), config.max_steps, config.reward)
    opening = env.reset(task)
    messages = [agent.start(task, env.tools, domain.policy), msg.user(opening)]
    trace: list[Step] = []
    while True:
        turn = agent.next_turn(messages)
        messages.append(turn.message)
        action = turn.action
        outcome = env.step(action)
        error = outcome.tool_result.error if outcome.tool_result else None
        trace.append(Step(action, outcome.observation, outcome.source, error))
        if action.is_respond:
            messages.append(msg.user(outcome.observation))
        elif turn.call_id is not None:
            messages.append(msg.tool(turn.call_id, outcome.source, outcome.observation))
        else:
            # a call written as text answers in text: endpoints without native tools take no tool role
            messages.append(msg.tool_response_text(outcome.observation))
        if outcome.done:
            assert outcome.reward is not None and outcome.terminated_by is not None
            calls = [*getattr(user, "calls", []), *getattr(agent, "calls", [])]
            return EpisodeResult(task, spec.trial, messages, trace, outcome.reward, outcome.terminated_by, calls)


@dataclass(frozen=True)
class EpisodeFailure:
    """An episode that could not finish (a model call failed for good, a replay miss, an invalid task)."""

    spec: EpisodeSpec
    error: str


def run_episodes(
    specs: Sequence[EpisodeSpec],
    make_agent: Callable[[int], Agent],
    make_user: Callable[[int], UserSimulator],
    config: RolloutConfig,
    concurrency: int = 1,
    errors: tuple[type[BaseException], ...] = (),
) -> Iterator[EpisodeResult | EpisodeFailure]:
    """Yield each episode as it completes (each gets its own agent and user, made for its trial).

    An exception of a type in ``errors`` fails that episode only; anything else propagates.
    """

    def one(spec: EpisodeSpec) -> EpisodeResult | EpisodeFailure:
        try:
            return run_episode(spec, make_agent(spec.trial), make_user(spec.trial), config)
        except errors as exc:
            return EpisodeFailure(spec, f"{type(exc).__name__}: {exc}")

    if concurrency <= 1:
        yield from map(one, specs)
        return
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(one, spec) for spec in specs]
        for future in as_completed(futures):
            yield future.result()


def pass_hat_k(successes_per_task: Sequence[int], trials: int, k: int) -> float:
    """τ-bench's pass^k: mean over tasks of C(c, k) / C(n, k), c successful trials of n."""
    if not successes_per_task or k > trials:
        return float("nan")
    return sum(comb(c, k) / comb(trials, k) for c in successes_per_task) / len(successes_per_task)
