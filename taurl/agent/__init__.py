"""Agents: the policy side of an episode (oracle here; model-backed agents through the ChatClient)."""
