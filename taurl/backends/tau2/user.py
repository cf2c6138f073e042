"""τ²'s own user simulator, its LLM calls answered by taurl's ChatClient (namespace ``user``).

The package's ``UserSimulator`` builds the prompts (its guidelines, the task's user scenario, the
flipped conversation) and calls ``generate``; that module-level function is routed, for the thread
running a :class:`Tau2User`, to the user's client, so its calls are cached, recorded and replayable
like those of taurl's own users. On telecom (dual control) the user has tools acting on its device:
a tool call it makes runs on the episode's state (:meth:`Tau2User.attach`), is logged there with
requestor ``user`` (the ACTION check sees it) and in ``tool_calls``, and its result goes back to it
until it answers in text. Each such call is also a step of the episode's trace (``tool_steps``,
requestor ``user``), so it is recorded; on replay the recorded model calls bring the same tool calls
back, they run again on the replayed state and their results are compared.

:class:`Tau2ScriptedUser` is ``--user scripted`` on a τ² domain: no model, it opens with the task's
user scenario and, at the agent's first reply, makes the task's user-side gold tool calls (telecom's
device actions) on the episode's state, then stops. With the oracle agent (the assistant's gold
actions, then its reply) that plays the gold trajectory, agent side first: on telecom that reaches
the gold's databases on every task.

A task with a message history (:mod:`.history`) starts from it: the simulator sees its part of the
history and answers the history's last agent message (or that history's last user message opens).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from taurl.backends.routing import UserRoute, UserSimulatorError, route_calls
from taurl.backends.tau2 import package
from taurl.backends.tau2.history import user_history
from taurl.backends.tau2.state import Tau2State, ToolCallRecord, tau2_task
from taurl.core.domain import UserSimulator
from taurl.core.hashing import canonical_json
from taurl.core.reward_judge import ChatModel
from taurl.core.types import STOP_TOKEN, Action, ModelCall, Step, Task
from taurl.llm.client import ModelCallError

NAMESPACE = "user"
FIRST_AGENT_MESSAGE = "Hi! How can I help you today?"  # τ²'s orchestrator opens every conversation so
MAX_TOOL_ROUNDS = 10  # the user's tool calls in a row before its turn fails

_ROUTE = UserRoute()


def _simulator_module() -> Any:
    """``tau2.user.user_simulator`` with its ``generate`` routed to the Tau2User on the calling thread."""
    module = package("tau2.user.user_simulator")
    # τ²'s generate(model, messages, tools=None, **kwargs)
    route_calls(
        module, "generate", _ROUTE, lambda user, model, messages, tools=None, **_: user._answer(messages, tools)
    )
    return module


class Tau2User(UserSimulator):
    """One τ² user per episode; ``calls`` are its model calls, ``tool_calls`` its own tool calls."""

    def __init__(self, client: ChatModel, sample_index: int = 0):
        self.client = client
        self.sample_index = sample_index
        self.calls: list[ModelCall] = []
        self.tool_calls: list[ToolCallRecord] = []
        self.tool_steps: list[Step] = []  # the same calls as steps of the episode (requestor "user")
        self._state: Tau2State | None = None
        self._asked: Counter[str] = Counter()
        self._simulator: Any = None
        self._user_state: Any = None

    def attach(self, state: Tau2State) -> None:
        """The episode's state, on which this user's tool calls run."""
        self._state = state

    def reset(self, task: Task) -> str:
        module = _simulator_module()
        user_tools = self._state.env.get_user_tools() if self._state and self._state.env.user_tools else None
        self._simulator = module.UserSimulator(tools=user_tools, instructions=task.instruction, llm=self.client.model)
        history, to_answer, opening = user_history(task)
        self._user_state = self._simulator.get_init_state(history or None)
        self._asked.clear()
        self.calls, self.tool_calls, self.tool_steps = [], [], []
        if opening is not None:  # the history ends in the user's own message: the agent answers it
            return opening
        return self.step(FIRST_AGENT_MESSAGE if to_answer is None else to_answer)

    def step(self, agent_message: str) -> str:
        if self._simulator is None:
            raise RuntimeError("call reset(task) before step()")
        message = package("tau2.data_model.message")
        incoming: Any = message.AssistantMessage(role="assistant", content=agent_message)
        for _ in range(MAX_TOOL_ROUNDS):
            reply = self._generate(incoming)
            if not reply.is_tool_call():
                return reply.content or ""
            results = [self._run_tool(call) for call in reply.tool_calls]
            incoming = results[0] if len(results) == 1 else message.MultiToolMessage(role="tool", tool_messages=results)
        raise UserSimulatorError(f"τ²'s user simulator made {MAX_TOOL_ROUNDS} rounds of tool calls without replying")

    def _generate(self, incoming: Any) -> Any:
        with _ROUTE.to(self):
            try:
                reply, self._user_state = self._simulator.generate_next_message(incoming, self._user_state)
            except ModelCallError:
                raise
            except Exception as exc:
                raise UserSimulatorError(f"τ²'s user simulator failed: {type(exc).__name__}: {exc}") from exc
        return reply

    def _run_tool(self, call: Any) -> Any:
        if self._state is None:
            raise UserSimulatorError("τ²'s user called a tool, but no episode state is attached to it")
        record = self._state.call("user", call.name, call.arguments, call.id)
        self.tool_calls.append(record)
        self.tool_steps.append(user_step(record))
        return package("tau2.data_model.message").ToolMessage(
            id=call.id, role="tool", content=record.content, requestor="user", error=record.error
        )

    def _answer(self, messages: list[Any], tools: Any) -> Any:
        """The package's ``generate`` for this user: τ²'s messages in, τ²'s AssistantMessage out."""
        llm_utils = package("tau2.utils.llm_utils")
        message = package("tau2.data_model.message")
        plain = llm_utils.to_litellm_messages(messages)
        schemas = [tool.openai_schema for tool in tools] if tools else None
        request = canonical_json([plain, schemas])
        draw = self._asked[request]
        self._asked[request] += 1
        completion = self.client.complete(
            plain, tools=schemas, namespace=NAMESPACE, sample_index=self.sample_index + draw
        )
        self.calls.append(completion.call)
        calls = [
            message.ToolCall(
                id=c["id"], name=c["function"]["name"], arguments=json.loads(c["function"]["arguments"] or "{}")
            )
            for c in completion.message.get("tool_calls") or ()
        ]
        return message.AssistantMessage(
            role="assistant", content=completion.message.get("content"), tool_calls=calls or None
        )


def user_step(record: ToolCallRecord) -> Step:
    """A user's tool call as a step of the episode's trace."""
    return Step(
        Action(record.name, dict(record.arguments)),
        record.content,
        record.name,
        "tool_error" if record.error else None,
        requestor="user",
    )


def user_gold(task: Task) -> tuple[Action, ...]:
    """The task's gold tool calls of the user's own (telecom's device actions; none elsewhere)."""
    criteria = tau2_task(task).evaluation_criteria
    gold = (criteria.actions or ()) if criteria else ()
    return tuple(Action(a.name, dict(a.arguments)) for a in gold if a.requestor == "user")


class Tau2ScriptedUser(UserSimulator):
    """``--user scripted`` on a τ² domain: the task's user scenario, then, at the agent's first reply,
    the task's user-side gold tool calls on the episode's state (none outside telecom), then stop.
    It asks no model."""

    def __init__(self) -> None:
        self.tool_steps: list[Step] = []
        self._state: Tau2State | None = None
        self._pending: tuple[Action, ...] = ()

    def attach(self, state: Tau2State) -> None:
        self._state = state

    def reset(self, task: Task) -> str:
        self._pending = user_gold(task)
        self.tool_steps = []
        _, _, opening = user_history(task)
        return opening if opening is not None else task.instruction

    def step(self, agent_message: str) -> str:
        if self._pending and self._state is None:
            raise UserSimulatorError("the scripted τ² user has tool calls to make, but no episode state is attached")
        for index, action in enumerate(self._pending):
            record = self._state.call("user", action.name, action.kwargs, f"user_gold_{index}")  # type: ignore[union-attr]
            self.tool_steps.append(user_step(record))
        self._pending = ()
        return STOP_TOKEN
