"""Make the golden recordings in recordings/: taurl's own episodes against serve-sim, replayed by CI.

    python tools/make_golden_recordings.py [--out recordings]

Every domain with every user strategy, the oracle, tool-calling and text agents, and the error
paths (unknown tool, bad arguments, parse error, transfer to a human, the step limit). Everything
runs offline against the deterministic local simulator; the result is compacted into one segment.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from taurl.domains import DOMAIN_NAMES
from taurl.episodes.config import Endpoint, RunConfig
from taurl.episodes.runner import execute
from taurl.llm.cache import CacheMode
from taurl.record.compact import compact
from taurl.registry import get_domain
from taurl.sim.server import SimServer


@dataclass(frozen=True)
class Scenario:
    name: str
    agent: str
    agent_model: str | None
    user: str
    domains: tuple[str, ...] = DOMAIN_NAMES
    tasks: int = 1
    max_steps: int = 30


SCENARIOS = (
    Scenario("oracle", "oracle", None, "scripted", tasks=2),
    *(Scenario(f"{user}-user", "tool-calling", "sim-agent", user) for user in ("llm", "react", "verify", "reflection")),
    Scenario("text-agent", "text", "sim-agent-text", "llm"),
    Scenario("unknown-tool", "tool-calling", "sim-agent-badtool", "llm", ("retail", "airline")),
    Scenario("bad-arguments", "tool-calling", "sim-agent-badargs", "llm", ("retail", "airline")),
    Scenario("parse-error", "text", "sim-agent-malformed", "llm", ("retail", "airline")),
    Scenario("transfer", "tool-calling", "sim-agent-transfer", "llm", ("retail", "airline")),
    Scenario("max-steps", "tool-calling", "sim-agent-chatty", "llm", ("retail",), max_steps=5),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "recordings")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SimServer() as server:
        staging = Path(tmp) / "recording"
        for scenario in SCENARIOS:
            for domain in scenario.domains:
                if domain not in DOMAIN_NAMES:
                    continue
                ids = [t.id for t in get_domain(domain).tasks("test")][: scenario.tasks]
                config = RunConfig(
                    domain=domain,
                    split="test",
                    task_ids=ids,
                    agent=scenario.agent,
                    agent_endpoint=Endpoint(scenario.agent_model, server.base_url) if scenario.agent_model else None,
                    user=scenario.user,
                    user_endpoint=Endpoint("sim-user", server.base_url),
                    cache_mode=CacheMode.RECORD,
                    cache_dir=Path(tmp) / "cache",
                    max_steps=scenario.max_steps,
                )
                summary = execute(config, staging, run_id=f"golden-{scenario.name}-{domain}")
                if summary.errors:
                    print(f"{scenario.name}/{domain} failed: {summary.errors[0].error}", file=sys.stderr)
                    return 1
                print(
                    f"{scenario.name:14} {domain:10} {len(summary.results)} episode(s), rewards {[r.reward for r in summary.results]}"
                )
        compact(staging)
        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(staging, args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {args.out} ({size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
