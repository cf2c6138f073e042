"""The ``skyrl04`` extra (SkyRL 0.4.0's GPU stack), and with it ``tinker-fsdp`` (that stack behind SkyRL's
Tinker server), resolves on Python 3.12 the way the README installs it (torch 2.13.0 and flash-attn's build dependencies first, then ``--no-build-isolation``):
``make skyrl04-resolution`` writes pip's dry-run report (``--ignore-installed``: the whole set a fresh
install gets) and fails on a pin conflict; this test reads what that install would hold."""

import json
import re
import tomllib

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.skyrl

REPORT = REPO / ".venv-skyrl04" / "skyrl04-resolution.json"
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^;\s]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@pytest.fixture(scope="module")
def report():
    if not REPORT.exists():
        pytest.skip(f"no resolution report at {REPORT} (make skyrl04-resolution writes it where Python 3.12 exists)")
    return json.loads(REPORT.read_text())


@pytest.fixture(scope="module")
def resolved(report):
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"] for i in report["install"]}


def test_the_report_is_of_this_pyproject(report):
    (taurl,) = [i for i in report["install"] if i["metadata"]["name"] == "taurl"]
    assert set(taurl["requested_extras"]) == {"skyrl04", "tinker", "tinker-fsdp"}  # tinker-fsdp names the other two
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extra = [r for r in taurl["metadata"]["requires_dist"] if 'extra == "skyrl04"' in r]
    assert len(extra) == len(project["optional-dependencies"]["skyrl04"])
    required = [r for r in taurl["metadata"]["requires_dist"] if "extra ==" not in r]
    assert required == project["dependencies"]  # make redoes the dry run whenever pyproject.toml changes


def test_every_core_and_skyrl04_pin_holds_in_the_resolution(resolved):
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = {}
    extras = project["optional-dependencies"]
    for spec in [*project["dependencies"], *extras["skyrl04"], *extras["tinker"], *extras["tinker-fsdp"]]:
        match = PIN.match(spec)
        if match:
            pins[canonical(match.group(1))] = match.group(2)
    assert len(pins) >= 20
    assert {name: resolved.get(name) for name in pins} == pins


def test_the_stack_skyrl_0_4_0_runs_on(resolved):
    assert resolved["skyrl"] == "0.4.0" and resolved["vllm"] == "0.30.0" and resolved["torch"] == "2.13.0"
    assert resolved["flash-attn"] == "2.8.3"  # source only: its metadata built with --no-build-isolation
    assert version("5.6.1") <= version(resolved["transformers"]) <= version("5.16.1")  # skyrl 0.4.0's range
    assert resolved["ray"] == "2.57.0" and resolved["hydra-core"] == "1.3.4"
    assert version(resolved["omegaconf"]) < (2, 4)  # hydra-core 1.3's bound
    assert resolved["skyrl-gym"] == "0.4.0"
    assert "skyrl-train" not in resolved  # 0.3.1's package is not part of this install


def test_the_tinker_server_resolves_beside_skyrls_trainer(resolved):
    """``skyrl.tinker.api`` with ``--backend fsdp``: the server's own requirements and the client's."""
    assert resolved["tinker"] == "0.25.0" and resolved["aiohttp"] == "3.14.5"
    assert {"fastapi", "sqlmodel", "aiosqlite", "uvicorn"} <= set(resolved)
    assert "jax" not in resolved  # the CPU backend is not part of the GPU install
