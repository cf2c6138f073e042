"""A package's own user simulator with its model calls answered by taurl: the package's LLM function is
wrapped once per process, and a call made on a thread where a taurl user is routing goes to that user (its
ChatClient, cache and record); any other call goes to the original, so the package behaves as it always
does outside taurl's episodes."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from taurl.llm.client import ModelCallError

_LOCK = threading.Lock()


class UserSimulatorError(ModelCallError):
    """A package's user simulator failed on what its model said: the episode fails, not the run."""


class UserRoute(threading.local):
    """The taurl user answering a package's model calls on this thread (None: not a taurl episode)."""

    user: Any = None

    @contextlib.contextmanager
    def to(self, user: Any) -> Iterator[None]:
        previous = self.user
        self.user = user
        try:
            yield
        finally:
            self.user = previous


def route_calls(module: ModuleType, name: str, route: UserRoute, answer: Callable[..., Any]) -> None:
    """Wrap ``module.<name>`` (once) so that a call on a thread where ``route`` names a user returns
    ``answer(user, *args, **kwargs)``: the call's own arguments, after the user."""
    with _LOCK:
        original = getattr(module, name)
        if getattr(original, "taurl_original", None) is not None:
            return

        def routed(*args: Any, **kwargs: Any) -> Any:
            user = route.user
            if user is None:
                return original(*args, **kwargs)
            return answer(user, *args, **kwargs)

        routed.taurl_original = original  # type: ignore[attr-defined]
        setattr(module, name, routed)
