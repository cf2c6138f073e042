"""sim-judge's one rule, whichever prompt asks it (taurl's judge prompt or τ²'s NL-assertion prompt): an
assertion holds when its key words are all in the conversation."""

from __future__ import annotations

import re

_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")
_WORD = re.compile(r"[a-z0-9][a-z0-9.#_@-]*[a-z0-9]|[a-z0-9]")
_COMMON = frozenset(
    "the that this with tells told says said mentions mention must should about their from have does into what "
    "which were been they them agent customer user when then than also only some each every asks asked".split()
)


def assertion_holds(assertion: str, transcript: str) -> bool:
    """Every quoted phrase of the assertion is in the transcript (case-insensitive); without quotes,
    every word of four or more characters that is not a common one."""
    haystack = transcript.lower()
    quoted = [a or b for a, b in _QUOTED.findall(assertion)]
    words = quoted or [w for w in _WORD.findall(assertion.lower()) if len(w) >= 4 and w not in _COMMON]
    return all(word.lower() in haystack for word in words)
