"""τ-bench's canonical database hash, the one definition used everywhere in taurl.

dict -> tuple of (key, value) pairs sorted by key; list -> tuple; set -> sorted tuple;
the Python ``str()`` of that, sha256 of its UTF-8 bytes, hex digest. Reproducing it exactly
is what lets τ-bench's own ``gold_data_hash`` values check taurl's tools.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def to_hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((key, to_hashable(item)) for key, item in sorted(value.items()))
    if isinstance(value, list):
        return tuple(to_hashable(item) for item in value)
    if isinstance(value, set):
        return tuple(sorted(to_hashable(item) for item in value))
    return value


def canonical_hash(value: Any) -> str:
    """τ-bench's ``consistent_hash(to_hashable(value))``."""
    return hashlib.sha256(str(to_hashable(value)).encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """Key-sorted, whitespace-free JSON: the one serialisation taurl hashes requests and records with."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
