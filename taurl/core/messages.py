"""The one message schema: OpenAI chat messages. An assistant message with tool calls is a tool action
(its first call, as τ-bench executes it); text beside a call is not a reply to the user."""

from __future__ import annotations

import json
from typing import Any

from taurl.core.types import Action

Message = dict[str, Any]


def system(content: str) -> Message:
    return {"role": "system", "content": content}


def user(content: str) -> Message:
    return {"role": "user", "content": content}


def assistant_text(content: str) -> Message:
    return {"role": "assistant", "content": content}


def assistant_tool_call(action: Action, call_id: str, content: str | None = None) -> Message:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": action.name, "arguments": json.dumps(action.kwargs)},
            }
        ],
    }


def tool(call_id: str | None, name: str, content: str) -> Message:
    message: Message = {"role": "tool", "name": name, "content": content}
    if call_id is not None:
        message["tool_call_id"] = call_id
    return message


def tool_response_text(content: str) -> Message:
    """A tool result as the user turn Qwen2.5's chat template renders it, for text-only endpoints."""
    return {"role": "user", "content": f"<tool_response>\n{content}\n</tool_response>"}


def action_of(message: Message) -> Action:
    """The action an assistant message takes. Native call arguments that are not a JSON object are a
    parse error the model is told about, like malformed text calls."""
    calls = message.get("tool_calls") or []
    if not calls:
        return Action.respond(message.get("content") or "")
    function = calls[0]["function"]
    raw = function.get("arguments") or "{}"
    try:
        kwargs = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        return Action.parse_error(f"the arguments of your {function['name']} call are not valid JSON ({exc})", str(raw))
    if not isinstance(kwargs, dict):
        return Action.parse_error(f"the arguments of your {function['name']} call must be a JSON object", str(raw))
    return Action(function["name"], kwargs)
