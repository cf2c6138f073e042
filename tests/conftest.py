from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TAUBENCH = SHARED / "taubench"
CTU = SHARED / "ctu"


def require(path: Path) -> Path:
    """Skip the calling test cleanly where the reference data in ../shared is absent."""
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path


@pytest.fixture
def counter_domain(tmp_path):
    """A tiny domain built in the test, so core behaviour is checked independently of real domains."""
    from tests.counter_domain import make_domain

    data = tmp_path / "data"
    data.mkdir()
    (data / "counters.json").write_text(json.dumps({"a": {"id": "a", "value": 1}, "b": {"id": "b", "value": 5}}))
    return make_domain(tmp_path)
