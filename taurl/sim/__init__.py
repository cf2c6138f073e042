"""Offline simulation of an OpenAI-compatible endpoint: deterministic models and fault injection."""

from taurl.sim.models import MODELS, Reply, ToolCall
from taurl.sim.server import FAULTS, SimServer, build_app, serve

__all__ = ["FAULTS", "MODELS", "Reply", "SimServer", "ToolCall", "build_app", "serve"]
