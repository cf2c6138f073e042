"""Every LLM call goes through :class:`ChatClient`: request key, cache modes, retries, limits, cost."""
