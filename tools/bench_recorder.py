"""Recorder and store benchmark, every number measured in this run.

    python tools/bench_recorder.py [--episodes 5000] [--big-messages 1000000]

1. ingest: episode rows -> Arrow (columnar) -> Parquet segment, in messages/s, against row-at-a-time
   DuckDB INSERTs of the same messages (the baseline);
2. recorder cost per message (µs) and as a share of a live episode step against serve-sim
   (tool-calling sim-agent, llm sim-user, real openai client over HTTP, cache off), and the wall time of
   a recorded `taurl run` against an unrecorded one: the median of 8 interleaved pairs, against the goal
   of at most 3% slower;
3. a GROUP BY over ~1M recorded messages through `taurl sql` (a subprocess, start-up included) and in-process;
4. response-cache set/get rates (diskcache, JSON values).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from taurl.core.types import Action, EpisodeResult, RewardBasis, RewardBreakdown, Step, Task, TerminatedBy
from taurl.record.location import resolve
from taurl.record.schema import episode_row, rows_to_table
from taurl.record.segments import write_segment
from taurl.record.writer import RecordingWriter


def synthetic_episode(index: int, turns: int = 10) -> EpisodeResult:
    task = Task(
        id=f"t{index % 500}",
        domain="retail",
        instruction="You want to return an item.",
        actions=(Action("get_order_details", {"order_id": "#W1"}),),
    )
    messages = [
        {"role": "system", "content": "policy " * 50},
        {"role": "user", "content": "Hi, I need help with order #W1."},
    ]
    trace = []
    for turn in range(turns - 1):
        call = {
            "id": f"call_{turn}",
            "type": "function",
            "function": {"name": "get_order_details", "arguments": '{"order_id": "#W1"}'},
        }
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        observation = json.dumps({"order_id": "#W1", "status": "delivered", "items": [{"item_id": str(turn)}]})
        messages.append(
            {"role": "tool", "tool_call_id": f"call_{turn}", "name": "get_order_details", "content": observation}
        )
        trace.append(Step(Action("get_order_details", {"order_id": "#W1"}), observation, "get_order_details"))
    breakdown = RewardBreakdown(
        1.0,
        RewardBasis.DB_OUTPUTS,
        RewardBasis.AUTO,
        True,
        (),
        (),
        (),
        1.0,
        (0,),
        (),
        False,
        False,
        TerminatedBy.USER_STOP,
    )
    return EpisodeResult(task, index, messages[: turns * 2], trace, breakdown, TerminatedBy.USER_STOP)


def bench_ingest(episodes: int) -> float:
    results = [synthetic_episode(i) for i in range(episodes)]
    rows = [episode_row(r, "bench", "oracle", "scripted") for r in results]
    messages = sum(len(r["messages"]) for r in rows)
    rows_to_table(rows[:1000])  # warm-up: the first conversion pays one-time costs
    with tempfile.TemporaryDirectory() as tmp:
        location = resolve(tmp)
        start = time.perf_counter()
        for batch in range(0, len(rows), 1000):
            write_segment(location, f"episodes-bench-{batch:08d}.parquet", rows_to_table(rows[batch : batch + 1000]))
        batched = messages / (time.perf_counter() - start)
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE messages (episode_id VARCHAR, idx INTEGER, role VARCHAR, content VARCHAR, tool_calls_json VARCHAR, tool_call_id VARCHAR, name VARCHAR)"
    )
    sample = [
        (row["episode_id"], m["idx"], m["role"], m["content"], m["tool_calls_json"], m["tool_call_id"], m["name"])
        for row in rows[:250]
        for m in row["messages"]
    ]
    start = time.perf_counter()
    for values in sample:
        con.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?, ?)", values)
    row_at_a_time = len(sample) / (time.perf_counter() - start)
    print(
        f"ingest          batched {batched:>12,.0f} messages/s   row-at-a-time DuckDB {row_at_a_time:>9,.0f} messages/s   ratio {batched / row_at_a_time:,.0f}x"
    )
    return 1e6 / batched


LIVE_PAIRS = 8
LIVE_GOAL = 0.03  # a recorded run at most 3% slower than the same run unrecorded


def bench_live_share(per_message_us: float) -> None:
    """A live run against serve-sim, recorded and not, in pairs; then the recorder's work for exactly
    those episodes, as `taurl run` does it (group commit), timed separately."""
    from taurl.episodes.config import Endpoint, RunConfig
    from taurl.episodes.runner import execute
    from taurl.llm.cache import CacheMode
    from taurl.registry import get_domain
    from taurl.sim.server import SimServer

    with SimServer() as server, tempfile.TemporaryDirectory() as tmp:
        ids = [t.id for t in get_domain("retail").tasks("test")][:10]
        config = RunConfig(
            domain="retail",
            task_ids=ids,
            agent="tool-calling",
            agent_endpoint=Endpoint("sim-agent", server.base_url),
            user="llm",
            user_endpoint=Endpoint("sim-user", server.base_url),
            cache_mode=CacheMode.OFF,
        )
        execute(config)  # warm-up: connections, imports
        execute(config, Path(tmp) / "warm-up")
        plain, recorded = [], []
        for rep in range(LIVE_PAIRS):  # interleaved, so drift in the machine's load hits both alike
            start = time.perf_counter()
            live = execute(config)
            plain.append(time.perf_counter() - start)
            start = time.perf_counter()
            execute(config, Path(tmp) / f"rec{rep}")  # a new run into a new recording, as `taurl run` makes one
            recorded.append(time.perf_counter() - start)
        live_time = min(plain)
        slower = statistics.median(r / p - 1 for r, p in zip(recorded, plain, strict=True))
        start = time.perf_counter()
        with RecordingWriter(Path(tmp) / "loop", group_commit=True) as writer:
            for result in live.results:
                writer.add(episode_row(result, "live", "tool-calling", "llm"))
            on_loop = time.perf_counter() - start
        in_background = time.perf_counter() - start
    steps = sum(r.steps for r in live.results)
    messages = sum(len(r.messages) for r in live.results)
    print(
        f"live episode    {live_time / steps * 1000:.2f} ms/step against serve-sim ({steps} steps, {messages} messages)\n"
        f"recorder        batched {per_message_us:.2f} µs/message = {per_message_us * messages / 1e6 / live_time * 100:.3f}% of live time; "
        f"as `taurl run` records (group commit): {on_loop / messages * 1e6:.1f} µs/message on the episode loop = "
        f"{on_loop / live_time * 100:.2f}%, {in_background / messages * 1e6:.0f} µs/message until on disk; "
        f"wall time recorded vs not: {(min(recorded) - live_time) / live_time * 100:+.1f}% (fastest of each)\n"
        f"recorded run    median of {LIVE_PAIRS} pairs {slower * 100:+.1f}% wall time against unrecorded "
        f"(goal at most {LIVE_GOAL * 100:.0f}%: ratio {slower / LIVE_GOAL:.2f} {'ok' if slower <= LIVE_GOAL else 'MISSED'})"
    )


def bench_group_by(total_messages: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        location = resolve(tmp)
        template = [episode_row(synthetic_episode(i), "big", "oracle", "scripted") for i in range(1000)]
        written = 0
        batch = 0
        while written < total_messages:
            rows = []
            for row in template:
                copy = dict(row)
                copy["episode_id"] = f"{batch}-{row['episode_id']}"
                rows.append(copy)
            write_segment(location, f"episodes-big-{batch:06d}.parquet", rows_to_table(rows))
            written += sum(len(r["messages"]) for r in rows)
            batch += 1
        query = "SELECT role, count(*) AS n, avg(length(content)) AS chars FROM messages GROUP BY role ORDER BY n DESC"
        from taurl.record.store import RecordingStore

        store = RecordingStore(tmp)
        start = time.perf_counter()
        columns, result = store.query(query)
        in_process = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "taurl.cli", "sql", "--recording", tmp, "--format", "json", query],
            check=True,
            capture_output=True,
        )
        cli = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import taurl.cli"], check=True)
        startup = time.perf_counter() - start
    print(
        f"group-by        {written:,} messages in {batch} segments: {in_process * 1000:.0f} ms in process, "
        f"{cli * 1000:.0f} ms through `taurl sql` ({startup * 1000:.0f} ms of it is Python start-up)"
    )


def bench_cache(entries: int) -> None:
    from taurl.llm.cache import ResponseCache

    with tempfile.TemporaryDirectory() as tmp:
        cache = ResponseCache(tmp)
        entry = {
            "request": {"messages": [{"role": "user", "content": "x" * 500}]},
            "response": {"role": "assistant", "content": "y" * 200},
            "usage": {},
        }
        start = time.perf_counter()
        for i in range(entries):
            cache.set(f"key-{i}", entry)
        sets = entries / (time.perf_counter() - start)
        start = time.perf_counter()
        for i in range(entries):
            cache.get(f"key-{i}")
        gets = entries / (time.perf_counter() - start)
    print(f"response cache  set {sets:,.0f}/s   get {gets:,.0f}/s   ({entries:,} entries, JSON values)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=5000)
    parser.add_argument("--big-messages", type=int, default=1_000_000)
    parser.add_argument("--cache-entries", type=int, default=5000)
    args = parser.parse_args()
    per_message_us = bench_ingest(args.episodes)
    bench_live_share(per_message_us)
    bench_group_by(args.big_messages)
    bench_cache(args.cache_entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
