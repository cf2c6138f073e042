"""The ``train`` extra resolves on Python 3.12 the way the README installs it (torch first, then
``--no-build-isolation``): ``make train-resolution`` writes pip's dry-run report, and fails on a pin
conflict; this test reads what that resolution would install."""

import json
import re
import tomllib

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skyrl

TRAIN_VENV = REPO / ".venv-train"
REPORT = TRAIN_VENV / "train-resolution.json"
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^;\s]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


@pytest.fixture(scope="module")
def report():
    if not REPORT.exists():
        pytest.skip(f"no resolution report at {REPORT} (make train-resolution writes it where Python 3.12 exists)")
    return json.loads(REPORT.read_text())


@pytest.fixture(scope="module")
def resolved(report):
    """name -> version of everything the install would end with: what it installs and what was there first."""
    versions = {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}
    for dist_info in (TRAIN_VENV / "lib" / "python3.12" / "site-packages").glob("*.dist-info"):
        name, _, version = dist_info.name.removesuffix(".dist-info").partition("-")
        versions.setdefault(canonical(name), version)
    return versions


def project_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    for spec in [*project["dependencies"], *project["optional-dependencies"]["train"]]:
        match = PIN.match(spec)
        assert match, f"{spec!r}: every core and train requirement is pinned with =="
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def test_the_report_is_of_this_pyproject(report):
    (taurl,) = [i for i in report["install"] if i["metadata"]["name"] == "taurl"]
    assert taurl["requested_extras"] == ["train"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    required = [r for r in taurl["metadata"]["requires_dist"] if "extra ==" not in r]
    assert required == project["dependencies"]  # make redoes the dry run whenever pyproject.toml changes


def test_every_pin_holds_in_the_resolution(resolved):
    pins = project_pins()
    assert {name: resolved.get(name) for name in pins} == pins


def test_the_stack_skyrl_train_0_3_1_runs_on(resolved):
    assert resolved["skyrl-train"] == "0.3.1" and resolved["vllm"] == "0.11.0" and resolved["torch"] == "2.8.0"
    assert resolved["flash-attn"] == "2.8.3"  # its metadata built against the torch installed first
    assert int(resolved["transformers"].split(".")[0]) < 5  # 5.x breaks skyrl-train 0.3.1's generator
    major, minor = (int(part) for part in resolved["omegaconf"].split(".")[:2])
    assert (major, minor) < (2, 4) and resolved["hydra-core"] == "1.3.2"
