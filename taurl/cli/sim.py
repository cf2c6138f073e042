"""taurl serve-sim."""

from __future__ import annotations

from typing import Annotated

import typer

from taurl.cli.common import console, fail

app = typer.Typer()


@app.command("serve-sim")
def serve_sim_command(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    faults: Annotated[
        str,
        typer.Option(
            help="Comma-separated faults for the first requests: 429, 500, 503, timeout, malformed, truncated, ok."
        ),
    ] = "",
    timeout_delay: Annotated[float, typer.Option(help="Seconds a 'timeout' fault waits before answering.")] = 5.0,
    access_log: Annotated[
        bool, typer.Option(help="Print a line for every request (by default only warnings and errors).")
    ] = False,
) -> None:
    """A local OpenAI-compatible server with deterministic user and agent models (sim-user, sim-agent, ...)."""
    from taurl.sim.server import serve

    if host not in ("127.0.0.1", "localhost", "::1"):
        raise fail("serve-sim listens on loopback only (127.0.0.1, localhost or ::1)")
    fault_list = [f.strip() for f in faults.split(",") if f.strip()]
    console.print(f"serve-sim on http://{host}:{port}/v1 (models: sim-user, sim-agent, sim-agent-text, ...)")
    try:
        serve(host, port, fault_list, timeout_delay, access_log)
    except ValueError as exc:
        raise fail(str(exc)) from exc
