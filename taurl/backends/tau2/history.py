"""A τ² task's message history (``initial_state.message_history``): the conversation before the episode.

τ²'s orchestrator starts such a task from its history instead of its fixed first agent message: the
agent sees the history's messages it may see (``is_valid_agent_history_message``: its own turns and
tool results, the user's text), the user those it may see, and the history's last message says who
speaks next. taurl supports the histories whose last message is text: the agent's (the user answers
it: the episode's opening) or the user's (that message is the opening, the agent answers it). The
history's tool calls ran on the episode's state when it was set up (:func:`.state.start_state`).
"""

from __future__ import annotations

import json
from typing import Any

from taurl.backends.tau2 import package
from taurl.backends.tau2.state import tau2_task
from taurl.core import messages as msg
from taurl.core.messages import Message
from taurl.core.types import Task
from taurl.domains.base import DataError


def package_history(task: Task) -> list[Any]:
    """The task's τ² message history (τ²'s message objects; empty without one), checked to end in text."""
    initial = tau2_task(task).initial_state
    history = list((initial.message_history or []) if initial is not None else [])
    if history:
        last = history[-1]
        _check_last(task, last.role, bool(last.is_tool_call()), bool(last.content))
    return history


def _check_last(task: Task, role: str, calls: bool, text: bool) -> None:
    if role not in ("assistant", "user") or calls or not text:
        raise DataError(
            f"task {task.domain}/{task.id}: its τ² message history ends in a {role} tool message or call; "
            "taurl starts an episode only from a history that ends in text (the agent's or the user's)"
        )


def agent_history(task: Task) -> list[Message]:
    """The history as the agent sees it, in taurl's message schema (OpenAI chat messages), up to the
    episode's opening: a history that ends in the user's text leaves that text out (it is the opening).
    Read from the task's JSON (``metadata["tau2_task"]``): no τ² package needed (``taurl show``)."""
    initial = (task.metadata.get("tau2_task") or {}).get("initial_state") or {}
    history = list(initial.get("message_history") or [])
    if history:
        last = history[-1]
        _check_last(task, str(last.get("role")), bool(last.get("tool_calls")), bool(last.get("content")))
    if history and history[-1].get("role") == "user":
        history = history[:-1]
    messages: list[Message] = []
    names: dict[str, str] = {}
    for message in history:
        role, content, calls = message.get("role"), message.get("content"), message.get("tool_calls") or []
        if role == "user" and not calls and content:
            messages.append(msg.user(content))
        elif role == "assistant" and calls:
            names.update({call.get("id", ""): call["name"] for call in calls})
            messages.append(
                {
                    "role": "assistant",
                    "content": content,
                    "tool_calls": [
                        {
                            "id": c.get("id", ""),
                            "type": "function",
                            "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments") or {})},
                        }
                        for c in calls
                    ],
                }
            )
        elif role == "assistant" and content:
            messages.append(msg.assistant_text(content))
        elif role == "tool" and message.get("requestor", "assistant") == "assistant":
            messages.append(msg.tool(message.get("id", ""), names.get(message.get("id", ""), ""), content or ""))
    return messages


def user_history(task: Task) -> tuple[list[Any], str | None, str | None]:
    """For τ²'s user simulator: the history it starts from (τ²'s messages it may see), then either the
    agent's text it answers first (``to_answer``) or, when the history ends in the user's own text,
    that text (``opening``)."""
    history = package_history(task)
    if not history:
        return [], None, None
    visible = package("tau2.user.base").is_valid_user_history_message
    last = history[-1]
    if last.role == "user":
        return [m for m in history if visible(m)], None, last.content
    return [m for m in history[:-1] if visible(m)], last.content, None
