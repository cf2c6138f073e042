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


def canonical_equal(a: Any, b: Any) -> bool:
    """Whether ``str(to_hashable(a)) == str(to_hashable(b))``, without building either text.

    Types must match (τ-bench's text tells 1 from 1.0 and from True); dicts compare regardless of
    key order, lists and tuples element by element, sets as sorted, floats by their repr."""
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(canonical_equal, a, b))
    if type(a) is not type(b):
        containers = (dict, list, tuple, set)
        if isinstance(a, containers) and isinstance(b, containers):  # e.g. {} and [] both print "()"
            return str(to_hashable(a)) == str(to_hashable(b))
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(canonical_equal(a[key], b[key]) for key in a)
    if isinstance(a, float):
        return repr(a) == repr(b)
    if isinstance(a, set):
        return str(to_hashable(a)) == str(to_hashable(b))
    return a == b


def canonical_hash(value: Any) -> str:
    """τ-bench's ``consistent_hash(to_hashable(value))``."""
    return hashlib.sha256(str(to_hashable(value)).encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    """Key-sorted, whitespace-free JSON: the one serialisation taurl hashes requests and records with."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
