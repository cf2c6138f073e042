"""A user model that answers with another system's recorded user messages (τ-bench's, τ²'s), while
the requests are built by taurl's own ChatClient: each imported episode's user requests are keyed
exactly as a live run's user would send them, so the episode replays from them offline."""

from __future__ import annotations

from typing import Any


class RecordedReplies:
    """Stands in for the user's model; ``entries`` keeps each answered request as a cache entry."""

    def __init__(self, client: Any, replies: list[dict[str, Any]], source: str):
        self.client = client
        self.model = client.model
        self.replies = list(replies)
        self.source = source  # named when the recording runs out, e.g. "the τ-bench trajectory"
        self.entries: dict[str, dict[str, Any]] = {}

    def complete(self, messages, tools=None, namespace="default", sample_index=0, **params):
        request = self.client.request(messages, tools, namespace, sample_index, **params)
        if not self.replies:
            raise LookupError(f"{self.source} has no further user message")
        entry = {"request": request.canonical(), "response": self.replies.pop(0), "usage": {}}
        self.entries[request.key()] = entry
        return self.client.completion_from_entry(
            request, request.key(), entry, cache_hit=False, latency_ms=0.0, attempts=0
        )
