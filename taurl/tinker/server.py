"""A local Tinker training server: SkyRL 0.4.0's Tinker API and engine (JAX backend by default, which runs on
a CPU) in their own process group, bound to 127.0.0.1, with the database and checkpoints under one workdir.

The server's Python needs ``skyrl[tinker,jax]`` and taurl (``make tinker-env`` builds ``.venv-tinker``); the
caller's does not. ``start`` returns once the engine has loaded the base model, not when the API first
answers; ``stop`` ends every process of the group.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Self

from taurl.tinker.skyrl_launch import PARENT_ENV, READY_ENV

# The tinker SDK refuses API keys without this prefix; the local server checks none.
LOCAL_API_KEY = "tml-local"
TINKER_VENV_PYTHON = Path(__file__).resolve().parents[2] / ".venv-tinker" / "bin" / "python"
STOP_GRACE_SECONDS = 20.0
LOG_TAIL_LINES = 6


class TinkerServerError(RuntimeError):
    """The local Tinker server could not start, or could not be stopped."""


class LocalTinkerServer:
    """SkyRL 0.4.0's Tinker API server on 127.0.0.1, started and stopped by taurl.

    ``base_model`` is a local checkpoint directory (or a hub name where the hub is reachable); the SDK's
    ``base_model`` argument must name it the same way. ``backend_config`` is the backend's own settings,
    e.g. for ``jax``: ``max_lora_adapters`` (N allows N-1 training clients: slot 0 serves the base model),
    ``max_lora_rank``, ``train_micro_batch_size`` and ``sample_max_num_sequences`` (fixing these keeps
    JAX from compiling again for every batch shape).
    """

    def __init__(
        self,
        base_model: str,
        workdir: Path,
        python: str | None = None,
        backend: str = "jax",
        backend_config: dict | None = None,
        port: int | None = None,
        log: Path | None = None,
    ):
        self.base_model = base_model
        self.workdir = Path(workdir)
        self.python = python or (str(TINKER_VENV_PYTHON) if TINKER_VENV_PYTHON.exists() else sys.executable)
        self.backend = backend
        self.backend_config = dict(backend_config or {})
        self.port = port
        self.log = Path(log) if log else self.workdir / "tinker-server.log"
        self.base_url: str | None = None
        self._process: subprocess.Popen | None = None

    def command(self, port: int) -> list[str]:
        return [
            self.python,
            "-m",
            "taurl.tinker.skyrl_launch",
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--base-model",
            self.base_model,
            "--backend",
            self.backend,
            "--backend-config",
            json.dumps(self.backend_config),
            "--database-url",
            f"sqlite:///{self.workdir.resolve() / 'tinker.db'}",
            "--checkpoints-base",
            str(self.workdir.resolve() / "checkpoints"),
        ]

    def start(self, timeout: float = 300) -> str:
        """Start the server and wait until its engine serves requests; return its base URL.

        On Linux the server exits when the thread that started it exits (the kernel's parent-death signal
        follows the forking thread): call this from a thread that outlives the server, e.g. the main one."""
        if self._process is not None:
            raise TinkerServerError(f"the local Tinker server is already running at {self.base_url}")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        ready = self.workdir / "engine.ready"
        ready.unlink(missing_ok=True)
        port = self.port or free_port()
        # skyrl logs through rich, which wraps lines at 80 columns when not on a terminal
        env = {
            **os.environ,
            READY_ENV: str(ready),
            PARENT_ENV: str(os.getpid()),
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "240",
        }
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                start_new_session=True,  # its own process group: stop() ends the engine too
            )
        atexit.register(self.stop)
        self.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            code = self._process.poll()
            if code is not None:
                self.stop()
                raise TinkerServerError(
                    f"the local Tinker server exited with code {code} while starting ({self.log}): {self.log_tail()}"
                )
            if ready.exists() and self.healthy():
                return self.base_url
            if time.monotonic() > deadline:
                self.stop()
                raise TinkerServerError(
                    f"the local Tinker server's engine was not ready after {timeout:.0f} s "
                    f"({self.log}): {self.log_tail()}"
                )
            time.sleep(0.5)

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v1/healthz", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False

    def log_tail(self) -> str:
        """The log's last non-empty lines, joined into one line."""
        try:
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "(no log)"
        return " | ".join(lines[-LOG_TAIL_LINES:]) or "(empty log)"

    def stop(self) -> None:
        """Terminate the server's whole process group (API and engine), killing what outlives a grace period."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        group = process.pid
        signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while group_members(group) and time.monotonic() < deadline:
            time.sleep(0.2)
        if group_members(group):
            signal_group(group, signal.SIGKILL)
            process.wait()
            deadline = time.monotonic() + 5
            while group_members(group) and time.monotonic() < deadline:
                time.sleep(0.1)
        if left := group_members(group):
            raise TinkerServerError(f"processes {left} of the local Tinker server outlived SIGKILL")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except ProcessLookupError:
        pass


def group_members(group: int) -> list[int]:
    """Live (not zombie) processes of a process group, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # after the command name in parentheses: state, ppid, pgrp
        state, _ppid, pgrp = text[text.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == group and state != "Z":
            members.append(int(stat.parent.name))
    return sorted(members)
