"""What a recording holds cannot drive the terminal: `taurl show` prints control characters as escapes."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from taurl.episodes.config import RunConfig
from taurl.episodes.runner import execute
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.review.show import load, render
from taurl.review.terminal import printable

HOSTILE = "clear\x1b[2J title\x1b]0;pwned\x07 nul\x00 csi\x9b1m \u202eevil\u2066"
RAW = ("\x1b", "\x07", "\x00", "\x9b", "\u202e", "\u2066")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("a\x00b\x7fc\x9bd", "a\\x00b\\x7fc\\x9bd"),
        ("line\r\n", "line\\x0d\n"),
        ("\u202eabc\u202c \u2067x\u2069", "\\u202eabc\\u202c \\u2067x\\u2069"),
        ("lone \ud800", "lone \\ud800"),
        ("tabs\tand\nnewlines, é, 中文, emoji 🙂", "tabs\tand\nnewlines, é, 中文, emoji 🙂"),
    ],
)
def test_printable_shows_what_a_terminal_would_act_on(text, shown):
    assert printable(text) == shown


def test_show_prints_a_hostile_transcript_as_visible_escapes(tmp_path):
    config = RunConfig(domain="retail", task_ids=[get_domain("retail").tasks("test")[0].id])
    execute(config, tmp_path / "rec")
    store = RecordingStore(tmp_path / "rec")
    (episode_id,) = store.query("SELECT episode_id FROM episodes")[1][0]
    episode = load(store, episode_id)
    store.close()
    episode.row["task_id"] = f"[bold]{HOSTILE}"  # markup in a recorded value is printed, not applied
    task = json.loads(episode.row["task_json"])
    task["instruction"] = HOSTILE
    episode.row["task_json"] = json.dumps(task)
    for message in episode.messages:
        message["content"] = HOSTILE
    call = {"function": {"name": f"tool{HOSTILE}", "arguments": f"not json {HOSTILE}"}}
    episode.messages.append({"role": "assistant", "content": "", "tool_calls_json": json.dumps([call])})
    episode.messages.append({"role": f"model{HOSTILE}", "content": HOSTILE, "tool_calls_json": None})

    out = io.StringIO()
    render(Console(file=out, color_system=None, width=400), episode, full=True)
    shown = out.getvalue()
    assert not any(char in shown for char in RAW), repr(shown)
    assert "clear\\x1b[2J title\\x1b]0;pwned\\x07 nul\\x00 csi\\x9b1m \\u202eevil\\u2066" in shown
    assert f"[bold]{printable(HOSTILE)}" in shown
