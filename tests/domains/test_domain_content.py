"""Every domain's built-in content: reproducible from its seeded generator, and sound to train on."""

import json
import os
import subprocess
import sys

from tests.conftest import REPO

TAURL = [sys.executable, "-m", "taurl.cli"]


def test_regenerating_the_built_in_data_gives_the_same_bytes():
    out = subprocess.run(
        [sys.executable, "tools/generate_data.py", "--check"], cwd=REPO, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr


def test_domains_validate_passes_for_every_domain():
    out = subprocess.run([*TAURL, "domains", "validate", "--format", "json"], cwd=REPO, capture_output=True, text=True)
    results = json.loads(out.stdout)
    failures = {r["domain"]: r["failures"] for r in results if not r["ok"]}
    assert out.returncode == 0 and not failures, failures
    for r in results:
        assert {"domain", "train", "test", "gold_errors", "oracle_mean", "do_nothing_pass_rate"} <= set(r)
        assert r["train"] >= 200 and r["test"] >= 50 and r["gold_errors"] == 0 and r["oracle_mean"] == 1.0
        assert r["do_nothing_pass_rate"] <= 0.05


def test_domains_list_and_show_describe_tools_and_policy():
    wide = {**os.environ, "COLUMNS": "200"}  # rich wraps tables to the terminal's width
    listing = subprocess.run(
        [*TAURL, "domains", "list"], cwd=REPO, capture_output=True, text=True, check=True, env=wide
    ).stdout
    for name in ("airline", "retail", "telecom", "healthcare", "doordash"):
        assert name in listing
    shown = subprocess.run(
        [*TAURL, "domains", "show", "retail"], cwd=REPO, capture_output=True, text=True, check=True, env=wide
    ).stdout
    assert "cancel_pending_order" in shown and "policy" in shown
