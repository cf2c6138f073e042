"""The store at training scale, every number measured in this run.

    python tools/bench_scale.py [--episodes 100000] [--writers 16] [--recording DIR] [--smaller 10000]

W concurrent ``taurl run`` processes (oracle agent, scripted user, every domain's train split, as many
trials as it takes) write N episodes into one recording, as a training job's rollout workers would.
Then, each in a fresh process as a user would run it: opening the store (scan + views), a new run's
resume check, three typical queries (pass rate by domain and run, top failing tools, tokens per
model) in process and through ``taurl sql``, compaction, the same queries after it, and replay, with
wall time and peak memory. Every figure is printed beside its goal (issue: the store at training
scale) as a ratio, measured / goal: at most 1.00 meets it.

``--smaller N``: also build an N-episode recording the same way and print the peak memory of
compaction and replay at both sizes (flat means the ratio stays near 1).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from taurl.domains import DOMAIN_NAMES
from taurl.registry import get_domain

PYTHON = sys.executable
TAURL = [PYTHON, "-m", "taurl.cli"]
QUERIES = {
    "pass rate by domain and run": "SELECT domain, run_id, avg(passed::INT) AS pass_rate, count(*) AS episodes "
    "FROM episodes GROUP BY ALL ORDER BY ALL",
    "top failing tools": "SELECT name, count(*) AS errors FROM tool_calls WHERE error IS NOT NULL "
    "GROUP BY name ORDER BY errors DESC, name LIMIT 10",
    "tokens per model": "SELECT model, sum(prompt_tokens) AS prompt, sum(completion_tokens) AS completion, "
    "count(*) AS calls FROM model_calls GROUP BY model ORDER BY model",
}
GiB = 1024**3


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    goal: float | None = None

    def row(self) -> str:
        shown = f"{self.value / GiB:.2f} GiB" if self.unit == "bytes" else f"{self.value:,.2f} {self.unit}"
        if self.goal is None:
            return f"{self.name:<60} {shown:>16}"
        goal = f"{self.goal / GiB:.2f} GiB" if self.unit == "bytes" else f"{self.goal:,.2f} {self.unit}"
        ratio = self.value / self.goal
        return f"{self.name:<60} {shown:>16}   goal {goal:>12}   ratio {ratio:5.2f} {'ok' if ratio <= 1 else 'MISSED'}"


def timed(args: list[str]) -> tuple[float, int, subprocess.CompletedProcess, int]:
    """Wall seconds, peak memory (bytes) of the largest process and the processes' peaks added up, of one
    command and every process under it, however deep (wait4 sees only those a process waited for, not
    the workers a server process starts)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(args, stdout=out, stderr=err, text=True)
        peaks: dict[int, int] = {}
        done = threading.Event()
        sampler = threading.Thread(target=sample_peaks, args=(process.pid, done, peaks))
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        done_process = subprocess.CompletedProcess(args, os.waitstatus_to_exitcode(status), out.read(), err.read())
    if done_process.returncode != 0:
        raise SystemExit(
            f"{' '.join(args[:6])} ... failed ({done_process.returncode}): {done_process.stderr.strip()[-2000:]}"
        )
    peaks[process.pid] = usage.ru_maxrss * 1024  # the command's own (and its waited-for children's), exactly
    return wall, max(peaks.values()), done_process, sum(peaks.values())


def sample_peaks(pid: int, done: threading.Event, peaks: dict[int, int]) -> None:
    """Each process under ``pid``: its peak resident memory (VmHWM, bytes), read every 50 ms until ``done``."""
    while not done.wait(0.05):
        pending, seen = [pid], []
        while pending:
            current = pending.pop()
            seen.append(current)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{current}/task"):
                    with open(f"/proc/{current}/task/{task}/children") as children:
                        pending.extend(int(child) for child in children.read().split())
        for process in seen[1:]:
            with contextlib.suppress(OSError, ValueError), open(f"/proc/{process}/status") as status:
                hwm = next(line for line in status if line.startswith("VmHWM:"))
                peaks[process] = max(peaks.get(process, 0), int(hwm.split()[1]) * 1024)


def write(recording: Path, episodes: int, writers: int) -> float:
    """W concurrent oracle runs, each over one domain's train split, together about ``episodes``."""
    per_writer = math.ceil(episodes / writers)
    processes = []
    start = time.perf_counter()
    for index in range(writers):
        domain = DOMAIN_NAMES[index % len(DOMAIN_NAMES)]
        tasks = len(get_domain(domain).tasks("train"))
        trials = max(1, math.ceil(per_writer / tasks))
        args = [*TAURL, "run", "--domain", domain, "--split", "train", "--trials", str(trials)]
        args += ["--recording", str(recording), "--run-id", f"w{index:02d}", "--format", "json"]
        processes.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a writer failed ({process.returncode}): {err.strip()[-2000:]}")
    return time.perf_counter() - start


def in_process(recording: Path, body: str) -> float:
    """Seconds the snippet ``body`` reports (it prints one float), run in a fresh process."""
    code = textwrap.dedent(
        """
        import sys, time, warnings
        warnings.simplefilter("ignore")
        from taurl.record.store import RecordingStore
        from taurl.episodes.runner import recorded_attempts
        recording = sys.argv[1]
        """
    ) + textwrap.dedent(body)
    _, _, done, _ = timed([PYTHON, "-c", code, str(recording)])
    return float(done.stdout.strip().splitlines()[-1])


def measure_queries(recording: Path, stage: str, goal_in: float | None, goal_cli: float | None) -> list[Figure]:
    figures = []
    for name, sql in QUERIES.items():
        seconds = in_process(
            recording,
            f"""
            store = RecordingStore(recording)
            store.connect()
            start = time.perf_counter()
            store.query({sql!r})
            print(time.perf_counter() - start)
            """,
        )
        figures.append(Figure(f"{name} ({stage}, in process)", seconds, "s", goal_in))
        wall, _, _, _ = timed([*TAURL, "sql", "--recording", str(recording), "--format", "json", sql])
        figures.append(Figure(f"{name} ({stage}, taurl sql)", wall, "s", goal_cli))
    return figures


def segments(recording: Path) -> int:
    return len(list(recording.glob("episodes-*.parquet")))


def build(recording: Path, episodes: int, writers: int) -> list[Figure]:
    if recording.exists():
        shutil.rmtree(recording)
    seconds = write(recording, episodes, writers)
    count = in_process(
        recording,
        """
        store = RecordingStore(recording)
        print(store.query("SELECT count(*) FROM episodes")[1][0][0])
        """,
    )
    return [
        Figure(f"episodes written by {writers} writers", count, "episodes"),
        Figure("writing them", seconds, "s"),
        Figure("segments before compaction", segments(recording), "segments", 300),
    ]


def measure(recording: Path) -> tuple[list[Figure], dict[str, int]]:
    figures = [
        Figure(
            "opening the store (scan + views)",
            in_process(
                recording,
                """
                start = time.perf_counter()
                RecordingStore(recording).connect()
                print(time.perf_counter() - start)
                """,
            ),
            "s",
            1.0,
        ),
        Figure(
            "a new run's resume check",
            in_process(
                recording,
                """
                start = time.perf_counter()
                recorded_attempts(recording, "a-new-run")
                print(time.perf_counter() - start)
                """,
            ),
            "s",
            1.0,
        ),
    ]
    figures += measure_queries(recording, "before compaction", None, None)
    wall, compact_peak, _, _ = timed([*TAURL, "compact", str(recording)])
    figures += [Figure("compaction", wall, "s"), Figure("compaction peak memory", compact_peak, "bytes", GiB)]
    figures += measure_queries(recording, "compacted", 1.0, 1.5)
    wall, replay_peak, done, replay_total = timed([*TAURL, "replay", str(recording), "--format", "json"])
    replayed = done.stdout.count('"episode_id"')
    figures += [
        Figure("replay", wall, "s"),
        Figure("replay rate (through the CLI)", replayed / wall, "episodes/s"),
        Figure("replay peak memory (its largest process)", replay_peak, "bytes", GiB),
        Figure("replay peak memory (its processes' peaks added up)", replay_total, "bytes"),
    ]
    return figures, {"compaction": compact_peak, "replay": replay_peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--recording", type=Path, help="where to write (default: a temporary directory, removed)")
    parser.add_argument("--smaller", type=int, help="also measure peak memory at this many episodes")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="taurl-bench-scale-"))
    recording = args.recording or work / "recording"
    try:
        print(f"{args.episodes:,} episodes from {args.writers} writers into {recording}", flush=True)
        figures = build(recording, args.episodes, args.writers)
        more, peaks = measure(recording)
        figures += more
        if args.smaller:
            small = work / "smaller"
            print(f"and {args.smaller:,} episodes for the memory comparison", flush=True)
            build(small, args.smaller, args.writers)
            _, small_peaks = measure(small)
            for what, peak in peaks.items():
                figures.append(
                    Figure(
                        f"{what} peak memory, {args.episodes:,} / {args.smaller:,} episodes",
                        peak / small_peaks[what],
                        "x",
                    )
                )
        for figure in figures:
            print(figure.row())
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
