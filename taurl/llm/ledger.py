"""Where spend is counted: one ledger per process (default), or one named Ray actor shared by every
worker of a distributed run, so a dollar or token budget holds for the whole run.

A ledger holds what is spent and what calls in flight have reserved. A call reserves its worst
case before it is sent and settles (reservation released, actual usage charged) when it ends, so
concurrent calls cannot all pass a check against what is already spent. Reserve-or-refuse is one
atomic step: under a lock here, one actor method in Ray (actor methods run one at a time).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Refusal:
    """Why a reservation was not granted: the budget it would break and the ledger at that moment.

    ``final``: spent + asked alone breaks it, so no call settling can make room."""

    budget: str  # "token" or "dollar"
    limit: float
    spent: float
    reserved: float
    asked: float
    final: bool


class SpendLedger(Protocol):
    def spent(self) -> tuple[int, float]:
        """(tokens, dollars) spent so far."""

    def reserved(self) -> tuple[int, float]:
        """(tokens, dollars) held by calls in flight."""

    def reserve(
        self, tokens: int, cost: float, max_tokens: int | None, max_cost: float | None, wait: float
    ) -> Refusal | None:
        """Hold (tokens, cost) if spent + reserved + them fits the budgets; while only reservations
        stand in the way, wait up to ``wait`` seconds for calls in flight to settle."""

    def settle(self, reserved_tokens: int, reserved_cost: float, tokens: int, cost: float) -> None:
        """Release a reservation and charge what the call actually used."""


class _Tally:
    """The ledger's state and rules; the Ray actor's class (one instance per run, found by name)."""

    def __init__(self) -> None:
        self.tokens = 0
        self.cost = 0.0
        self.reserved_tokens = 0
        self.reserved_cost = 0.0

    def spent(self) -> tuple[int, float]:
        return self.tokens, self.cost

    def reserved(self) -> tuple[int, float]:
        return self.reserved_tokens, self.reserved_cost

    def reserve(self, tokens: int, cost: float, max_tokens: int | None, max_cost: float | None) -> Refusal | None:
        if max_tokens is not None and self.tokens + self.reserved_tokens + tokens > max_tokens:
            return Refusal(
                "token", max_tokens, self.tokens, self.reserved_tokens, tokens, self.tokens + tokens > max_tokens
            )
        if max_cost is not None and self.cost + self.reserved_cost + cost > max_cost:
            return Refusal("dollar", max_cost, self.cost, self.reserved_cost, cost, self.cost + cost > max_cost)
        self.reserved_tokens += tokens
        self.reserved_cost += cost
        return None

    def settle(self, reserved_tokens: int, reserved_cost: float, tokens: int, cost: float) -> None:
        self.reserved_tokens -= reserved_tokens
        self.reserved_cost = max(0.0, self.reserved_cost - reserved_cost)  # no float residue below zero
        self.tokens += tokens
        self.cost += cost


class LocalLedger:
    def __init__(self) -> None:
        self._tally = _Tally()
        self._settled = threading.Condition()

    def spent(self) -> tuple[int, float]:
        with self._settled:
            return self._tally.spent()

    def reserved(self) -> tuple[int, float]:
        with self._settled:
            return self._tally.reserved()

    def reserve(
        self, tokens: int, cost: float, max_tokens: int | None, max_cost: float | None, wait: float
    ) -> Refusal | None:
        deadline = time.monotonic() + wait
        with self._settled:
            while True:
                refusal = self._tally.reserve(tokens, cost, max_tokens, max_cost)
                remaining = deadline - time.monotonic()
                if refusal is None or refusal.final or remaining <= 0:
                    return refusal
                self._settled.wait(remaining)

    def settle(self, reserved_tokens: int, reserved_cost: float, tokens: int, cost: float) -> None:
        with self._settled:
            self._tally.settle(reserved_tokens, reserved_cost, tokens, cost)
            self._settled.notify_all()


class RayLedger:
    """A named, detached Ray actor: every process of the Ray cluster that uses the same name shares it."""

    POLL_SECONDS = 0.05  # how often a call blocked only by others' reservations asks again

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

    def reserved(self) -> tuple[int, float]:
        return tuple(self._ray.get(self._actor.reserved.remote()))

    def reserve(
        self, tokens: int, cost: float, max_tokens: int | None, max_cost: float | None, wait: float
    ) -> Refusal | None:
        deadline = time.monotonic() + wait
        while True:
            refusal = self._ray.get(self._actor.reserve.remote(tokens, cost, max_tokens, max_cost))
            if refusal is None or refusal.final or time.monotonic() >= deadline:
                return refusal
            time.sleep(self.POLL_SECONDS)

    def settle(self, reserved_tokens: int, reserved_cost: float, tokens: int, cost: float) -> None:
        self._ray.get(self._actor.settle.remote(reserved_tokens, reserved_cost, tokens, cost))


_LEDGERS: dict[str | None, SpendLedger] = {}
_LEDGERS_LOCK = threading.Lock()


def ledger_for(name: str | None) -> SpendLedger:
    """The one ledger of this name in this process, shared by every client whatever its endpoint or
    model. ``None``: this process's own; ``"ray:<name>"``: the Ray actor of that name."""
    with _LEDGERS_LOCK:
        if name not in _LEDGERS:
            _LEDGERS[name] = _new_ledger(name)
        return _LEDGERS[name]


def _new_ledger(name: str | None) -> SpendLedger:
    if name is None:
        return LocalLedger()
    kind, _, actor = name.partition(":")
    if kind != "ray" or not actor:
        raise ValueError(f"unknown spend ledger {name!r}: use 'ray:<name>' to share a budget across Ray workers")
    return RayLedger(actor)
