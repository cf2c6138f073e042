"""τ²-bench's simulation results files (``tau2 run ... --save-to``): ``{info, tasks, simulations}``.

Each simulation is played again through taurl on the ``tau2:<domain>`` domain: its agent turns by a
replay agent (τ²'s first assistant message is the orchestrator's fixed greeting, not the agent's),
its user turns by τ²'s own user simulator (:class:`taurl.backends.tau2.user.Tau2User`) whose model
answers with the recorded user messages, text or tool calls. The user's requests are therefore built
by the same τ² code that built them in the run, through taurl's ChatClient: they are recorded with the
episode and the imported episode replays offline like one taurl ran (``taurl replay``). τ²'s results
keep the user model's answers but not its requests, so a request that differs from the one τ² sent
(e.g. another τ² version building the prompt) cannot be detected; the answers, the tool calls, the
tool outputs (compared with τ²'s recorded ones) and the reward are checked.

Differences in representation: an assistant message with several tool calls is split into one turn
per call (taurl's agents take one action per turn; the calls run in the same order); a
``transfer_to_human_agents`` call ends taurl's episode (τ² lets the conversation go on until the
user says ``###TRANSFER###``; what follows it is not imported).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.core.types import Task
from taurl.importers.recorded_replies import RecordedReplies

IMPORT_AGENT = "imported:tau2"
GREETING = "Hi! How can I help you today?"  # τ²'s orchestrator opens every conversation with it


@dataclass(frozen=True)
class Tau2Simulation:
    """One τ² simulation as its results file holds it."""

    simulation_id: str
    task: Task
    trial: int
    reward: float | None  # τ²'s, None when it did not evaluate the simulation
    termination: str
    messages: list[dict[str, Any]]
    skipped: bool = False  # τ²'s run failed on it (--skip-failed-samples): no messages, reward 0

    @property
    def conversation(self) -> list[dict[str, Any]]:
        """The messages after the task's message history (which τ² puts first, and taurl's episode
        starts from, like τ²'s)."""
        from taurl.backends.tau2.state import tau2_task

        initial = tau2_task(self.task).initial_state
        return self.messages[len((initial.message_history or []) if initial else []) :]

    @property
    def agent_messages(self) -> list[dict[str, Any]]:
        """The agent's turns as OpenAI assistant messages, one tool call each."""
        turns: list[dict[str, Any]] = []
        assistant = [m for m in self.conversation if m["role"] == "assistant"]
        if assistant and not assistant[0].get("tool_calls") and assistant[0].get("content") == GREETING:
            assistant = assistant[1:]
        for message in assistant:
            calls = message.get("tool_calls") or []
            if not calls:
                turns.append({"role": "assistant", "content": message.get("content") or ""})
            for index, call in enumerate(calls):
                turns.append(
                    {
                        "role": "assistant",
                        "content": message.get("content") if index == 0 else None,
                        "tool_calls": [_openai_call(call)],
                    }
                )
        return turns

    @property
    def user_replies(self) -> list[dict[str, Any]]:
        """The user model's answers, in order: text, or tool calls (telecom's dual control)."""
        replies = []
        for message in self.conversation:
            if message["role"] != "user":
                continue
            reply: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
            if message.get("tool_calls"):
                reply["tool_calls"] = [_openai_call(call) for call in message["tool_calls"]]
            replies.append(reply)
        return replies

    def tool_outputs(self, requestor: str) -> list[str]:
        """τ²'s recorded tool outputs for ``requestor``'s calls, in order."""
        return [
            m.get("content") or ""
            for m in self.conversation
            if m["role"] == "tool" and (m.get("requestor") or "assistant") == requestor
        ]


def _openai_call(call: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": call.get("id") or "",
        "type": "function",
        "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments") or {})},
    }


@dataclass(frozen=True)
class Tau2Results:
    domain: str  # τ²'s name (airline, mock, ...)
    user_model: str
    agent_model: str
    simulations: list[Tau2Simulation]
    info: dict[str, Any] = field(default_factory=dict)


def load_results(path: Path | str) -> Tau2Results:
    """A τ² results file. Each simulation's task is the results file's own copy of it (the run's
    task set, which may be a τ² or τ³ checkout's), made a taurl task as the domain makes its own."""
    from taurl.backends import TAU2_PREFIX
    from taurl.backends.tau2 import package
    from taurl.backends.tau2.domain import ALL_TASKS
    from taurl.backends.tau2.domain import _task as taurl_task

    data = json.loads(Path(path).read_text())
    info = data.get("info") or {}
    domain = info["environment_info"]["domain_name"]
    package_task = package("tau2.data_model.tasks").Task
    tasks = {
        str(t["id"]): taurl_task(package_task.model_validate(t), f"{TAU2_PREFIX}{domain}", ALL_TASKS)
        for t in data["tasks"]
    }
    simulations = []
    for sim in data["simulations"]:
        reward_info = sim.get("reward_info")
        simulations.append(
            Tau2Simulation(
                str(sim["id"]),
                tasks[str(sim["task_id"])],
                int(sim.get("trial") or 0),
                None if reward_info is None else float(reward_info["reward"]),
                str(sim["termination_reason"]),
                list(sim["messages"]),
                bool(sim.get("skipped")),
            )
        )
    user_info = info.get("user_info") or {}
    agent_info = info.get("agent_info") or {}
    return Tau2Results(domain, str(user_info.get("llm") or ""), str(agent_info.get("llm") or ""), simulations, info)


def import_config(results: Tau2Results) -> Any:
    """The settings τ²'s simulations are played again with (a RunConfig), as the recording keeps them: the
    trials independent user samples, the user's replies only from the simulations."""
    from taurl.backends import TAU2_PREFIX
    from taurl.episodes.config import DEFAULT_CACHE_DIR, Endpoint, RunConfig
    from taurl.llm.cache import CacheMode

    return RunConfig(
        domain=f"{TAU2_PREFIX}{results.domain}",
        split="base",
        agent=IMPORT_AGENT,
        user="llm",
        user_endpoint=Endpoint(results.user_model or "tau2-user"),
        independent_user_samples=True,
        cache_mode=CacheMode.REPLAY,
        cache_dir=DEFAULT_CACHE_DIR,
        seed=None,
    )


def agent_system_message(domain: Any) -> dict[str, Any]:
    """The system prompt τ²'s ``llm_agent`` gives its model (τ²'s results do not keep it)."""
    from taurl.backends.tau2 import package

    agent = package("tau2.agent.llm_agent").LLMAgent(tools=domain.base.get_tools(), domain_policy=domain.policy)
    return {"role": "system", "content": agent.system_prompt}


@dataclass
class ImportedSimulation:
    simulation: Tau2Simulation
    result: Any  # EpisodeResult, or None when the simulation could not be played
    error: str | None = None
    outputs_differing: int = 0  # tool outputs taurl's re-execution gave otherwise than τ²'s record

    @property
    def agrees(self) -> bool:
        return self.result is not None and self.result.reward == self.simulation.reward


def import_simulations(results: Tau2Results, config: Any) -> list[ImportedSimulation]:
    """Play each simulation through taurl and score it with taurl's τ² evaluation (see the module)."""
    from taurl.agent.replay import RecordingExhaustedError, ReplayAgent
    from taurl.backends.tau2.user import Tau2User
    from taurl.core.reward import RewardConfig
    from taurl.episodes.config import chat_client
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.llm.client import ModelCallError
    from taurl.registry import get_domain

    domain = get_domain(config.domain)
    system = agent_system_message(domain)
    client = chat_client(config.user_endpoint, config)
    imported = []
    for sim in results.simulations:
        if sim.skipped:
            imported.append(ImportedSimulation(sim, None, "skipped by τ² (its run failed on it; nothing recorded)"))
            continue
        turns = sim.agent_messages
        agent = ReplayAgent(system, turns, IMPORT_AGENT)
        user = Tau2User(RecordedReplies(client, sim.user_replies, "the τ² simulation"), sample_index=sim.trial)  # type: ignore[arg-type]
        rollout = RolloutConfig({}, max(1, len(turns)), RewardConfig(basis=None))
        try:
            result = run_episode(EpisodeSpec(sim.task, sim.trial), agent, user, rollout)
        except (RecordingExhaustedError, LookupError, ModelCallError) as exc:
            imported.append(ImportedSimulation(sim, None, f"{type(exc).__name__}: {exc}"))
            continue
        ours = [s.observation for s in result.trace if not s.action.is_respond and not s.by_user]
        theirs = sim.tool_outputs("assistant")
        differing = sum(a != b for a, b in zip(ours, theirs, strict=False))
        imported.append(ImportedSimulation(sim, result, result.error, differing))
    return imported
