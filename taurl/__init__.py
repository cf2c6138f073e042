"""taurl: offline-first rollout recorder with replay-based reward testing for τ-bench-style environments."""

__version__ = "0.1.0"
