"""Worst cases of the text-policy parser: time per input size against json.loads in the same run.

    python tools/bench_parser.py [--sizes 10000 100000 1000000] [--repeat 3]

Each pattern is repeated up to the size (in characters) and read by ``taurl.agent.parser.parse``; the
baseline is ``json.loads`` of a JSON document of the same size (a list of short strings), timed in the
same run. The parser reads its input a bounded number of times, so its time grows linearly like the
baseline's: the ratio stays about the same from 10 KB to 1 MB (a quadratic step would multiply it by 10
at each size). Exits 1 if a 1 MB input takes a second or more.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from taurl.agent.parser import parse

# (name, repeated text): a model stuck repeating the start of a call, and texts aimed at each regex and loop
PATTERNS = [
    ("object start", '{"name":'),
    ("fenced object start", '```json\n{"name":'),
    ("Action: {", "Action: {\n"),
    ("Action Input: {", "Action: x\nAction Input: {\n"),
    ("fenced Action", "Action: ```json\n[]\n"),
    ("<tool_call>", "<tool_call>"),
    ("fenced <tool_call>", "<tool_call>```json\n{}" + " " * 64),
    ("function wrapper", '{"function": {'),
    ("object with data", '{"name": "x", "id": '),
    ("bad escape", '{"name": "\\'),
    ("backslash quote", '"\\'),
    ("braces", "{"),
    ("unclosed <think>", "<think>{"),
    ("end tokens", "<|im_end|>"),
    ("fenced calls", '```json\n{"name": "f", "arguments": {}}\n```\n'),
]


def timed(function, argument, repeat: int) -> float:
    """Median seconds of ``function(argument)`` over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def repeated(pattern: str, size: int) -> str:
    return (pattern * (size // len(pattern) + 1))[:size]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (median)")
    args = parser.parse_args()
    # a list of 12-character items ('"abcdefgh", '): a JSON document of (just under) each size
    baselines = {size: timed(json.loads, json.dumps(["abcdefgh"] * (size // 12)), args.repeat) for size in args.sizes}
    slowest = 0.0
    print(f"{'pattern':22} {'size':>9} {'parse ms':>10} {'json.loads ms':>14} {'ratio':>7}  result")
    for name, pattern in PATTERNS:
        for size in args.sizes:
            text = repeated(pattern, size)
            seconds = timed(parse, text, args.repeat)
            if size >= 1_000_000:
                slowest = max(slowest, seconds)
            baseline = baselines[size]
            print(
                f"{name:22} {size:>9,} {seconds * 1000:>10.1f} {baseline * 1000:>14.2f} "
                f"{seconds / baseline:>6.0f}x  {parse(text).format}"
            )
    return 1 if slowest >= 1.0 else 0


if __name__ == "__main__":
    sys.exit(main())
