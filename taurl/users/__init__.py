"""User simulators: the deterministic scripted user here; LLM users through the ChatClient."""
