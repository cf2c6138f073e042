"""Text from a recording made safe to print: a model's output is untrusted input to the terminal.

An escape sequence in a transcript could clear the screen, retitle the window or hide text; a bidi
override could make printed text read differently from what was recorded (the "Trojan Source"
trick). Both are shown as visible escapes instead, so what the terminal shows is what was recorded.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates, and lone
# surrogates (which no encoder can write to the terminal)
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on, rather than show, written as an escape
    (``\\x1b``, ``\\u202e``); newlines and tabs are kept."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
