"""Where spend is counted: in this process (default), or in one named Ray actor shared by every
worker of a distributed run, so a dollar or token budget holds for the whole run."""

from __future__ import annotations

import threading
from typing import Protocol


class SpendLedger(Protocol):
    def spent(self) -> tuple[int, float]:
        """(tokens, dollars) spent so far."""

    def charge(self, tokens: int, cost: float) -> None: ...


class LocalLedger:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens = 0
        self._cost = 0.0

    def spent(self) -> tuple[int, float]:
        with self._lock:
            return self._tokens, self._cost

    def charge(self, tokens: int, cost: float) -> None:
        with self._lock:
            self._tokens += tokens
            self._cost += cost


class _Tally:
    """The Ray actor's state (one instance per run, found by name from any worker)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.cost = 0.0

    def spent(self) -> tuple[int, float]:
        return self.tokens, self.cost

    def charge(self, tokens: int, cost: float) -> None:
        self.tokens += tokens
        self.cost += cost


class RayLedger:
    """A named, detached Ray actor: every process of the Ray cluster that uses the same name shares it."""

    def __init__(self, name: str):
        import ray

        if not ray.is_initialized():
            raise RuntimeError(
                f"a shared spend ledger ({name}) needs Ray: call ray.init() first, or use a per-process budget"
            )
        actor = ray.remote(num_cpus=0)(_Tally)
        self._actor = actor.options(name=name, namespace="taurl", lifetime="detached", get_if_exists=True).remote()
        self._ray = ray

    def spent(self) -> tuple[int, float]:
        return tuple(self._ray.get(self._actor.spent.remote()))

    def charge(self, tokens: int, cost: float) -> None:
        self._ray.get(self._actor.charge.remote(tokens, cost))


def ledger_for(name: str | None) -> SpendLedger:
    """``None``: this process only; ``"ray:<name>"``: the Ray actor of that name."""
    if name is None:
        return LocalLedger()
    kind, _, actor = name.partition(":")
    if kind != "ray" or not actor:
        raise ValueError(f"unknown spend ledger {name!r}: use 'ray:<name>' to share a budget across Ray workers")
    return RayLedger(actor)
