"""SkyRL 0.4.0's Tinker API server and engine, as ``python -m taurl.tinker.skyrl_launch api|engine FLAGS``,
run by ``LocalTinkerServer`` in an environment that has ``skyrl[tinker,jax]``.

``python -m skyrl.tinker.api`` starts its engine with ``uv run`` inside a uv project, found from the command
line of the API's parent process; in a plain virtualenv that fails. Here the API starts the engine with this
same interpreter instead, through ``engine``, which also writes the file named by ``$TAURL_TINKER_ENGINE_READY``
once the engine has loaded the base model and is about to serve requests (the API answers ``/healthz`` about
45 s earlier). FLAGS are skyrl's own: ``EngineConfig``'s fields as ``--kebab-case`` options, plus ``--host``
and ``--port`` for ``api``.

On Linux each process asks the kernel for SIGTERM when its parent exits (the API's parent is the process that
started the server, the engine's is the API), so a server whose owner was killed does not linger.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

READY_ENV = "TAURL_TINKER_ENGINE_READY"
PARENT_ENV = "TAURL_TINKER_PARENT_PID"
PR_SET_PDEATHSIG = 1


def exit_with_parent() -> None:
    """SIGTERM this process when its parent (the pid in ``$TAURL_TINKER_PARENT_PID``) exits; Linux only."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # the parent was gone before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def engine_command(config) -> list[str]:
    from skyrl.tinker.config import config_to_argv

    return [sys.executable, "-m", "taurl.tinker.skyrl_launch", "engine", *config_to_argv(config)]


def run_api(argv: list[str]) -> None:
    import uvicorn
    from skyrl.tinker import api
    from skyrl.tinker.config import EngineConfig, add_model
    from skyrl.utils.log import get_uvicorn_log_config

    parser = argparse.ArgumentParser(prog="skyrl_launch api")
    add_model(parser, EngineConfig)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = vars(parser.parse_args(argv))
    api.app.state.engine_config = EngineConfig.model_validate(
        {name: value for name, value in args.items() if name in EngineConfig.model_fields}
    )
    # the API's lifespan builds the engine's command through this module-level function
    api._build_uv_run_cmd_engine = lambda _parent_command, config: engine_command(config)
    os.environ[PARENT_ENV] = str(os.getpid())  # for the engine
    uvicorn.run(
        api.app,
        host=args["host"],
        port=args["port"],
        log_config=get_uvicorn_log_config(),
        timeout_keep_alive=api.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS,
    )


def run_engine(argv: list[str]) -> None:
    from skyrl.tinker.config import EngineConfig, add_model
    from skyrl.tinker.engine import TinkerEngine

    parser = argparse.ArgumentParser(prog="skyrl_launch engine")
    add_model(parser, EngineConfig)
    engine = TinkerEngine(EngineConfig.model_validate(vars(parser.parse_args(argv))))
    if ready := os.environ.get(READY_ENV):
        Path(ready).write_text(f"{os.getpid()}\n")
    engine.run()


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in ("api", "engine"):
        sys.exit("usage: python -m taurl.tinker.skyrl_launch api|engine [skyrl EngineConfig flags]")
    exit_with_parent()
    (run_api if argv[0] == "api" else run_engine)(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
