"""The canonical request and its key: the one definition of "the same LLM call".

The key is the sha256 of canonical JSON of what changes the answer: namespace, model, messages
(role, content, tool calls and names; tool-call ids renumbered by position, since they are
arbitrary), tools, sampling parameters (seed included) and the sample index. Never keys or headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from taurl.core.hashing import canonical_json, sha256_hex

SAMPLING_PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "seed",
    "n",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
)


def _canonical_arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return canonical_json(json.loads(arguments))
        except json.JSONDecodeError:
            return arguments
    return canonical_json(arguments)


def canonical_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids: dict[str, str] = {}

    def call_id(original: str | None) -> str:
        key = original or f"<missing {len(ids)}>"
        if key not in ids:
            ids[key] = f"call_{len(ids)}"
        return ids[key]

    result = []
    for message in messages:
        item: dict[str, Any] = {"role": message["role"], "content": message.get("content") or ""}
        if message.get("name") and message["role"] != "tool":
            item["name"] = message["name"]
        if message.get("tool_calls"):
            item["tool_calls"] = [
                {
                    "id": call_id(c.get("id")),
                    "name": c["function"]["name"],
                    "arguments": _canonical_arguments(c["function"].get("arguments", "{}")),
                }
                for c in message["tool_calls"]
            ]
        if message["role"] == "tool":
            item["tool_call_id"] = call_id(message.get("tool_call_id"))
        result.append(item)
    return result


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    namespace: str = "default"
    sample_index: int = 0

    def __post_init__(self) -> None:
        unknown = set(self.params) - set(SAMPLING_PARAMS)
        if unknown:
            raise ValueError(f"unsupported request parameter(s) {sorted(unknown)}; known: {', '.join(SAMPLING_PARAMS)}")

    def canonical(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "model": self.model,
            "messages": canonical_messages(self.messages),
            "tools": self.tools or [],
            "params": {k: v for k, v in sorted(self.params.items()) if v is not None},
            "sample_index": self.sample_index,
        }

    def key(self) -> str:
        return sha256_hex(canonical_json(self.canonical()))

    def api_kwargs(self) -> dict[str, Any]:
        """Arguments for ``client.chat.completions.create``."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.tools:
            kwargs["tools"] = self.tools
        kwargs.update({k: v for k, v in self.params.items() if v is not None})
        return kwargs


def describe_difference(wanted: dict[str, Any], recorded: dict[str, Any]) -> str:
    """Where two canonical requests first differ, in words (field, message index, values)."""
    for name in ("namespace", "model", "tools", "params", "sample_index"):
        if wanted.get(name) != recorded.get(name):
            return f"{name} differs: wanted {_short(wanted.get(name))}, recorded {_short(recorded.get(name))}"
    mine, theirs = wanted.get("messages", []), recorded.get("messages", [])
    for index, (a, b) in enumerate(zip(mine, theirs, strict=False)):
        if a != b:
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    return (
                        f"message {index} ({a.get('role')}) field {key!r} differs: "
                        f"wanted {_short(a.get(key))}, recorded {_short(b.get(key))}"
                    )
    if len(mine) != len(theirs):
        return f"message count differs: wanted {len(mine)}, recorded {len(theirs)} (common prefix identical)"
    return "no difference"


def _short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return repr(text if len(text) <= limit else text[:limit] + "…")


def common_prefix(wanted: dict[str, Any], recorded: dict[str, Any]) -> int:
    """How alike two canonical requests are: equal top-level fields, then the shared message prefix."""
    score = sum(wanted.get(k) == recorded.get(k) for k in ("namespace", "model", "tools", "params")) * 1000
    for a, b in zip(wanted.get("messages", []), recorded.get("messages", []), strict=False):
        if a != b:
            break
        score += 1
    return score
