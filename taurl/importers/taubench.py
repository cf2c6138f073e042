"""τ-bench's results files: ``[{task_id, trial, reward, info: {task, ...}, traj: [chat messages]}]``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taurl.core.messages import action_of
from taurl.core.types import Action, RewardBasis, Task
from taurl.importers.recorded_replies import RecordedReplies


@dataclass(frozen=True)
class TauBenchRun:
    """One τ-bench episode as it was recorded."""

    task: Task
    trial: int
    reward: float
    messages: list[dict[str, Any]]

    @property
    def executed_actions(self) -> list[Action]:
        """What τ-bench executed: each assistant message's first tool call, or its text as a reply."""
        return [action_of(m) for m in self.messages if m.get("role") == "assistant"]

    @property
    def user_messages(self) -> list[str]:
        return [m.get("content") or "" for m in self.messages if m.get("role") == "user"]


def load_results(path: Path | str, domain: str, split: str = "test") -> list[TauBenchRun]:
    """Runs of a results file; the task is taken from the run itself (``info.task``), since published
    runs were made with older task texts than τ-bench's current ones. A file ``taurl export tau-bench``
    wrote also says (``info.taurl``) which reward basis each task asked for and its tool set; τ-bench's
    own files are scored under its ``db+outputs`` with its tools."""
    rows = json.loads(Path(path).read_text())
    runs = []
    for row in rows:
        spec = row["info"]["task"]
        exported = row["info"].get("taurl") or {}
        task = Task(
            id=str(row["task_id"]),
            domain=domain,
            split=split,
            user_id=spec.get("user_id"),
            instruction=spec["instruction"],
            actions=tuple(Action.from_dict(a) for a in spec.get("actions", [])),
            outputs=tuple(spec.get("outputs", [])),
            reward_basis=RewardBasis(exported.get("reward_basis", RewardBasis.DB_OUTPUTS)),
            tool_set=exported.get("tool_set", "default"),
        )
        runs.append(TauBenchRun(task, int(row.get("trial", 0)), float(row["reward"]), list(row["traj"])))
    return runs


IMPORT_AGENT = "imported:tau-bench"
TAU_BENCH_MAX_STEPS = 30  # τ-bench's runner default


def import_config(domain: str, split: str, data_dir: str, user_model: str, cache_dir: Path | None = None) -> Any:
    """The settings τ-bench's runs are played again with (a RunConfig), as the recording keeps them: τ-bench's
    step limit and reward, its trials independent user samples, the user's replies only from the runs."""
    from taurl.episodes.config import DEFAULT_CACHE_DIR, Endpoint, RunConfig
    from taurl.llm.cache import CacheMode

    return RunConfig(
        domain=domain,
        split=split,
        agent=IMPORT_AGENT,
        user="llm",
        user_endpoint=Endpoint(user_model),
        independent_user_samples=True,
        cache_mode=CacheMode.REPLAY,
        cache_dir=cache_dir or DEFAULT_CACHE_DIR,
        seed=None,
        basis=RewardBasis.DB_OUTPUTS,
        zero_on_max_steps=True,
        max_steps=TAU_BENCH_MAX_STEPS,
        data_dirs={domain: data_dir},
    )


def cache_user_requests(entries: dict[str, dict[str, Any]], cache_dir: Path) -> None:
    """The runs' simulated-user requests as response cache entries, so a live run with the same user replays them."""
    from taurl.llm.cache import response_cache

    cache = response_cache(cache_dir)  # the process's one cache object for the directory, which the run opened too
    for key, entry in entries.items():
        cache.set(key, entry)


def _normalized(message: dict[str, Any]) -> dict[str, Any]:
    """A τ-bench trajectory message in taurl's message schema (only the executed first tool call kept)."""
    out: dict[str, Any] = {"role": message["role"], "content": message.get("content")}
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        out["tool_calls"] = [{"id": call.get("id"), "type": "function", "function": dict(call["function"])}]
    for key in ("tool_call_id", "name"):
        if message.get(key):
            out[key] = message[key]
    return out


@dataclass
class ImportedEpisode:
    run: TauBenchRun
    result: Any  # EpisodeResult, or None when the trajectory could not be played
    error: str | None = None

    @property
    def agrees(self) -> bool:
        return self.result is not None and self.result.reward == self.run.reward


def import_runs(
    runs: list[TauBenchRun], data_dir: Path | str, config: Any
) -> tuple[list[ImportedEpisode], dict[str, dict[str, Any]]]:
    """Play each run through taurl (its executed calls, its user messages through taurl's ``llm`` user),
    keep τ-bench's own tool outputs, and score the final state. Returns the episodes and the user
    requests as cache entries."""
    from taurl.agent.replay import RecordingExhaustedError, ReplayAgent
    from taurl.core.reward import InvalidTaskError, RewardConfig
    from taurl.domains import DataError
    from taurl.episodes.config import chat_client
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.users.llm import LLMUser

    rollout = RolloutConfig(
        {config.domain: str(data_dir)}, TAU_BENCH_MAX_STEPS, RewardConfig(basis=None, zero_on_max_steps=True)
    )
    client = chat_client(config.user_endpoint, config)
    episodes, entries = [], {}
    for run in runs:
        messages = [_normalized(m) for m in run.messages]
        answers = [{"role": "assistant", "content": m} for m in run.user_messages]
        replies = RecordedReplies(client, answers, "the τ-bench trajectory")
        agent = ReplayAgent(messages[0], [m for m in messages if m["role"] == "assistant"], IMPORT_AGENT)
        try:
            # τ-bench's trials are independent user samples: one sample index per trial keeps their keys apart
            result = run_episode(
                EpisodeSpec(run.task, run.trial), agent, LLMUser(replies, sample_index=run.trial), rollout
            )
        except (RecordingExhaustedError, LookupError, InvalidTaskError, DataError) as exc:
            episodes.append(ImportedEpisode(run, None, f"{type(exc).__name__}: {exc}"))
            continue
        entries.update(replies.entries)
        episodes.append(ImportedEpisode(run, _with_recorded_outputs(result, messages)))
    return episodes, entries


def _with_recorded_outputs(result: Any, messages: list[dict[str, Any]]) -> Any:
    """The episode as τ-bench recorded it: its messages, and its tool outputs in the trace."""
    import dataclasses

    from taurl.core.types import Step

    observations = iter(m for m in messages if m["role"] in ("tool", "user"))
    next(observations)  # the opening user message
    trace = []
    for step in result.trace:
        recorded = next(observations, None)
        observation = recorded["content"] if recorded is not None and not step.action.is_respond else step.observation
        error = "tool_error" if not step.action.is_respond and str(observation).startswith("Error") else step.error
        trace.append(Step(step.action, observation, step.source, error))
    return dataclasses.replace(result, messages=messages[: len(result.messages)], trace=trace)
