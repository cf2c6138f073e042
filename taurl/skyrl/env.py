"""``ToolUseEnv``: taurl's environment as a SkyRL text environment (one instance per trajectory).

One env for every task taurl runs: its own domains', installed τ-bench's and τ²'s (``tau2:<domain>``), each a
tool-use conversation between the policy, the domain's tools and a simulated user. It is registered with
skyrl-gym as ``tau_bench`` (the id taurl's datasets and configs name; ``TauBenchEnv`` is its former name).

A thin adapter: the dataset row (``extras``, decoded by :mod:`taurl.skyrl.rows`) names the task; ``init``
starts the user simulator and returns the opening conversation; ``step(text)`` parses the policy's text, runs
it through :class:`~taurl.core.env.DomainEnv` and returns the tool result (``role: tool``) or the simulated
user's reply (``role: user``); the reward and its breakdown come once, at the end. User-simulator
calls go through taurl's ChatClient cache. Its settings (env_config) are :mod:`taurl.skyrl.env_config`'s.

Every trajectory is recorded once, however it ended: finished; ``truncated`` when SkyRL closes it
without ``done`` (its length cut); ``error`` with reward 0 when the user simulator failed for good
(after its retries), which ends that trajectory instead of the training step. Each process writes one
run record per run, so ``taurl replay`` rebuilds the episodes under the env_config they ran with.
Trajectories go through one writer per process, which batches them as ``taurl run`` does: one is in the
recording within the commit window of its end (``close`` does not wait for it), and the writers close
(writing what they hold, merging their segments) when the process exits, or at
:func:`close_recording_writers`.
"""

from __future__ import annotations

import atexit
import itertools
import os
import socket
import sys
import threading
from collections.abc import Mapping
from typing import Any

from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput

from taurl.agent.parser import parse
from taurl.core import messages as msg
from taurl.core.env import DomainEnv
from taurl.core.reward import RewardConfig
from taurl.core.types import EpisodeResult, RewardBreakdown, Step, TerminatedBy
from taurl.episodes.config import build_user
from taurl.episodes.rollout import describe_error
from taurl.llm.client import BudgetExceededError, ModelCallError
from taurl.llm.url import redact_url
from taurl.record.schema import episode_row
from taurl.record.writer import RecordingCallbackError, RecordingWriteError, RecordingWriter
from taurl.registry import get_domain
from taurl.skyrl.env_config import POLICY_AGENT, max_turns, run_config, settings
from taurl.skyrl.rows import plain, task_from_extras

_WRITERS: dict[str, RecordingWriter] = {}
_RUNS_RECORDED: set[tuple[str, str]] = set()  # (recording, run id): this process wrote its run record
_WRITERS_LOCK = threading.Lock()
_TRIALS = itertools.count()


def recording_writer(location: str) -> RecordingWriter:
    """One group-commit writer per recording per process, shared by every env of the process."""
    with _WRITERS_LOCK:
        writer = _WRITERS.get(location)
        if writer is None:
            writer = _WRITERS[location] = RecordingWriter(location, group_commit=True)
        return writer


def flush_recordings() -> None:
    """Return once every trajectory this process ended is in its recording."""
    with _WRITERS_LOCK:
        writers = list(_WRITERS.values())
    for writer in writers:
        writer.flush()


def close_recording_writers() -> None:
    """Close this process's writers: what they hold is written and their segments merged. At exit, or by a
    caller whose process lives on (a Ray worker about to be shut down, which runs no exit handlers)."""
    with _WRITERS_LOCK:
        writers = list(_WRITERS.values())
        _WRITERS.clear()
    for writer in writers:
        writer.close()


@atexit.register
def _close_at_exit() -> None:
    try:
        close_recording_writers()
    except (RecordingWriteError, RecordingCallbackError) as exc:  # one line, as every recording error
        print(f"taurl: {exc}", file=sys.stderr)


def record_run(location: str, run_id: str, record: dict[str, Any]) -> None:
    """Write the run record once per process and run, before its first episode."""
    writer = recording_writer(location)
    with _WRITERS_LOCK:
        if (location, run_id) not in _RUNS_RECORDED:
            writer.write_run(run_id, record)
            _RUNS_RECORDED.add((location, run_id))


class ToolUseEnv(BaseTextEnv):
    def __init__(self, env_config: Mapping[str, Any] | None = None, extras: Mapping[str, Any] | None = None):
        super().__init__()
        extras = dict(plain(extras or {}))
        self.settings = settings(env_config)
        self.task = task_from_extras(extras)
        self.max_turns = max_turns(extras.get("max_turns"), self.settings["max_turns"])
        self.trial = next(_TRIALS)
        self.run_config = run_config(self.settings, self.task.domain, self.max_turns)
        self.user = build_user(self.run_config, self.trial)
        domain = get_domain(self.task.domain)
        self.env = DomainEnv(
            domain,
            self.user,
            self.run_config.data_dirs.get(self.task.domain),
            max_steps=self.max_turns,
            reward=RewardConfig(basis=self.run_config.basis),
        )
        self.messages: list[dict[str, Any]] = []
        self.trace: list[Step] = []
        self.breakdown: RewardBreakdown | None = None
        self.terminated_by: TerminatedBy | None = None
        self.error: str | None = None

    def init(self, prompt: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        conversation = [dict(m) for m in plain(prompt)]
        self.messages = list(conversation)
        try:
            opening = self.env.reset(self.task)
        except ModelCallError as exc:
            # SkyRL cannot end a trajectory in init: it ends at the first step, with reward 0
            self._end(None, TerminatedBy.ERROR, exc)
            return conversation, {"task_id": self.task.id, "domain": self.task.domain, "error": self.error}
        self.trace.extend(self.env.opening_steps)  # a user acting on its own device before it spoke (τ²)
        conversation.extend([*self.env.history, msg.user(opening)])  # a τ² task's history comes first
        self.messages.extend([*self.env.history, msg.user(opening)])
        return conversation, {"task_id": self.task.id, "domain": self.task.domain}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        self.turns += 1
        if self.terminated_by is TerminatedBy.ERROR:  # the user simulator failed in init
            return self._final_output()
        parsed = parse(action, pick=self.settings["pick"])
        self.messages.append(msg.assistant_text(action))
        try:
            outcome = self.env.step(parsed.action)
        except ModelCallError as exc:
            self._end(None, TerminatedBy.ERROR, exc)
            return self._final_output()
        error = outcome.tool_result.error if outcome.tool_result else None
        self.trace.append(Step(parsed.action, outcome.observation, outcome.source, error))
        self.trace.extend(outcome.user_steps)
        if parsed.action.is_respond:
            observation = msg.user(outcome.observation)
        else:
            observation = {"role": "tool", "content": outcome.observation}
        self.messages.append(observation)
        if not outcome.done:
            return BaseTextEnvStepOutput(
                observations=[observation], reward=0.0, done=False, metadata={"source": outcome.source}
            )
        assert outcome.reward is not None and outcome.terminated_by is not None
        self._end(outcome.reward, outcome.terminated_by)
        return self._final_output()

    def _final_output(self) -> BaseTextEnvStepOutput:
        metadata: dict[str, Any] = {"terminated_by": str(self.terminated_by)}
        if self.breakdown is not None:
            metadata["reward_breakdown"] = self.breakdown.to_dict()
        if self.error is not None:
            metadata["error"] = self.error
        return BaseTextEnvStepOutput(observations=[], reward=self.reward, done=True, metadata=metadata)

    @property
    def reward(self) -> float:
        return self.breakdown.reward if self.breakdown is not None else 0.0

    def _end(
        self, breakdown: RewardBreakdown | None, terminated_by: TerminatedBy, exc: Exception | None = None
    ) -> None:
        """The trajectory ended (finished, errored or cut by SkyRL): record it, exactly once. A spent
        user budget is recorded, then raised: it stops the training run, it is not a bad episode."""
        self.breakdown, self.terminated_by = breakdown, terminated_by
        self.error = None if exc is None else describe_error(exc)
        self._record()
        if isinstance(exc, BudgetExceededError):
            raise exc

    def _record(self) -> None:
        location = self.settings["recording_dir"]
        if not location:
            return
        assert self.terminated_by is not None
        result = EpisodeResult(
            self.task,
            self.trial,
            self.messages,
            self.trace,
            self.breakdown,
            self.terminated_by,
            list(self.user.calls),
            self.error,
        )
        run_id = f"{self.settings['run_id']}-{socket.gethostname()}-{os.getpid()}"
        record_run(str(location), run_id, self.run_record())
        recording_writer(str(location)).add(episode_row(result, run_id, POLICY_AGENT, self.settings["user_strategy"]))

    def run_record(self) -> dict[str, Any]:
        """What ``taurl replay`` needs to rebuild this env's episodes: the run config as ``taurl run``
        records it, the parser's ``pick``, and the whole env_config (no secrets: URLs redacted)."""
        env_config = {**self.settings, "user_base_url": redact_url(self.settings["user_base_url"])}
        return {**self.run_config.to_record(), "pick": self.settings["pick"], "env_config": env_config}

    def get_metrics(self) -> dict[str, Any]:
        """Every key on every trajectory (SkyRL averages each key over the trajectories that report
        it): ``ended_<how>`` is 0 or 1 for every ending, so its average is a true rate. SkyRL asks
        just before ``close``; a trajectory not ended by then is being cut, and counts as truncated."""
        ending = self.terminated_by or TerminatedBy.TRUNCATED
        b = self.breakdown
        metrics: dict[str, Any] = {
            "turns": self.turns,
            "tool_calls": sum(
                1 for s in self.trace if not s.action.is_respond and not s.action.is_parse_error and not s.by_user
            ),
            "parse_errors": sum(1 for s in self.trace if s.action.is_parse_error),
            "tool_errors": sum(1 for s in self.trace if s.error and not s.action.is_parse_error and not s.by_user),
            "user_cost_usd": self.user.cost_usd,
            "reward": self.reward,
            "db_match": float(b is not None and b.db_match),
            "outputs_score": b.outputs_score if b is not None else 0.0,
            "actions_score": b.actions_score if b is not None else 0.0,
            "env_errors": float(ending is TerminatedBy.ERROR),
        }
        metrics.update({f"ended_{how}": float(how is ending) for how in TerminatedBy})
        return metrics

    def close(self) -> None:
        """SkyRL closes a trajectory it cut (``max_input_length``) without ``done``: record it as
        truncated, with what it did so far. The process's writer batches it with others (no segment of its
        own, no wait): it is in the recording within the commit window."""
        if self.terminated_by is None and self.messages:
            self._end(None, TerminatedBy.TRUNCATED)


TauBenchEnv = ToolUseEnv  # its former name
