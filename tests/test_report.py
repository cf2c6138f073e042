"""`taurl report` (HTML page: numbers equal to `taurl sql`, renders in headless Chromium) and `taurl show`."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from html.parser import HTMLParser
from math import comb
from pathlib import Path

import pytest

from taurl.config import Endpoint, RunConfig
from taurl.domains import get_domain
from taurl.record.store import RecordingStore
from taurl.runner import execute
from taurl.sim.server import SimServer

CHROMIUM = Path("/usr/bin/chromium")
RUNS = ("oracle", "sim")
TRIALS = 2


def taurl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # rich wraps at the terminal width: keep lines whole
    result = subprocess.run(
        [sys.executable, "-m", "taurl.cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def sql(recording: Path, query: str) -> list[dict]:
    """Rows as `taurl sql --format json` prints them: the reference the report's numbers must equal."""
    return json.loads(taurl("sql", "--recording", str(recording), "--format", "json", query).stdout)


def lookup(recording: Path, query: str) -> list[dict]:
    """Rows read in-process, for what a test needs to know rather than check."""
    columns, rows = RecordingStore(recording).query(query)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def taurl_in_process(*args: str):
    """The CLI without a new interpreter (error paths only: fast, same code)."""
    from typer.testing import CliRunner

    from taurl.cli import app

    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    """Two runs over the same retail tasks: the oracle (scripted user, no model calls) and the simulator's
    tool-calling agent with its LLM user (model calls, some served from the response cache)."""
    root = tmp_path_factory.mktemp("report")
    task_ids = [t.id for t in get_domain("retail").tasks("test")][:4]
    common = dict(domain="retail", split="test", task_ids=task_ids, trials=TRIALS, cache_dir=root / "cache")
    assert not execute(RunConfig(**common), root / "rec", run_id="oracle").errors
    with SimServer() as server:
        live = RunConfig(
            **common,
            agent="tool-calling",
            agent_endpoint=Endpoint("sim-agent", server.base_url),
            user="llm",
            user_endpoint=Endpoint("sim-user", server.base_url),
        )
        assert not execute(live, root / "rec", run_id="sim").errors
    return root / "rec"


@pytest.fixture(scope="module")
def report(recording) -> Path:
    out = recording.parent / "report.html"
    taurl("report", str(recording), "--out", str(out))
    return out


class Page(HTMLParser):
    """The parts of the page the tests read: checkable numbers, images, section ids, external references."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.metrics: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
        self.images: list[str] = []
        self.sections: list[str] = []
        self.external: list[str] = []
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-metric" in a:
            self._open, self._text = a, []
        if tag == "img":
            self.images.append(a["src"])
        if tag == "section":
            self.sections.append(a["id"])
        for name in ("src", "href"):
            if a.get(name) and not a[name].startswith(("data:", "#")):
                self.external.append(a[name])
        if tag in ("link", "script"):
            self.external.append(tag)

    def handle_data(self, data):
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._open is not None:
            a = self._open
            self.metrics[(a["data-metric"], a["data-run"], a.get("data-domain"))].append("".join(self._text))
            self._open = None

    def values(self, name: str, run: str, domain: str | None = None) -> list[str]:
        found = self.metrics.get((name, run, domain))
        assert found, f"no element with data-metric={name} data-run={run} data-domain={domain}"
        return found


def number(text: str) -> float:
    """A shown number as a float: '0.125', '1,234', '62.5%' (a fraction), '$0.0100'."""
    text = text.replace(",", "").lstrip("$")
    return float(text.rstrip("%")) / 100 if text.endswith("%") else float(text)


def test_report_has_every_section_inline_charts_and_data_attributes(report):
    page = Page(report.read_text())
    assert page.sections == ["summary", "distributions", "failures", "cost", "compare"]
    assert page.external == []  # self-contained: no stylesheet, script, image or link elsewhere
    assert len(page.images) == len(RUNS) + 1  # a reward histogram per run, one turns/tool-calls chart
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")
    for run in RUNS:
        for name in ("episodes", "mean_reward", "db_match_rate", *(f"pass_hat_{k}" for k in range(1, TRIALS + 1))):
            page.values(name, run, "retail")
        for name in ("cache_hit_rate", "user_cost_usd", "failed_db_mismatch", "failed_actions_incomplete"):
            page.values(name, run)
    text = report.read_text()
    for heading in ("Why episodes failed", "How episodes ended", "First wrong action", "Comparison: oracle → sim"):
        assert heading in text
    assert page.values("first_missed_action", "sim")  # the simulator's agent misses gold actions


def test_report_numbers_equal_what_taurl_sql_returns(recording, report):
    page = Page(report.read_text())
    # one query (one CLI start): a row per task, with its run/domain totals and the run's cache hit rate
    tasks = sql(
        recording,
        """
        WITH t AS (
            SELECT run_id, domain, task_id, count(*) AS n, count(*) FILTER (WHERE abs(reward - 1) <= 1e-6) AS c,
                   sum(reward) AS total
            FROM episodes GROUP BY ALL
        ), hits AS (SELECT run_id, avg(cache_hit::DOUBLE) AS cache_hit_rate FROM model_calls GROUP BY run_id)
        SELECT t.*, sum(n) OVER w AS episodes, sum(total) OVER w / sum(n) OVER w AS mean_reward, cache_hit_rate
        FROM t LEFT JOIN hits USING (run_id)
        WINDOW w AS (PARTITION BY run_id, domain)
        """,
    )
    groups = {
        (t["run_id"], t["domain"]): [u for u in tasks if (u["run_id"], u["domain"]) == (t["run_id"], t["domain"])]
        for t in tasks
    }
    assert {run for run, _ in groups} == set(RUNS)
    for (run, domain), own in groups.items():
        first = own[0]
        for domains in (domain, None):  # the per-domain table, and the per-run comparison (one domain here)
            assert {int(number(v)) for v in page.values("episodes", run, domains)} == {first["episodes"]}
            for shown in page.values("mean_reward", run, domains):
                assert number(shown) == pytest.approx(first["mean_reward"], abs=5e-4)
        for k in range(1, TRIALS + 1):
            expected = sum(comb(t["c"], k) / comb(t["n"], k) for t in own) / len(own)
            (shown,) = page.values(f"pass_hat_{k}", run, domain)
            assert number(shown) == pytest.approx(expected, abs=5e-4)
    rates = {run: own[0]["cache_hit_rate"] for (run, _), own in groups.items()}
    assert rates["oracle"] is None and set(page.values("cache_hit_rate", "oracle")) == {"—"}  # no model calls
    assert 0 < rates["sim"] < 1  # some user/agent calls were served from the cache
    for shown in page.values("cache_hit_rate", "sim"):
        assert number(shown) == pytest.approx(rates["sim"], abs=5e-4)
    means = {run: own[0]["mean_reward"] for (run, _), own in groups.items()}
    (delta,) = page.values("delta_mean_reward", "sim")
    assert number(delta.replace("−", "-")) == pytest.approx(means["sim"] - means["oracle"], abs=5e-4)


def test_compare_chooses_the_runs_and_names_an_unknown_one(recording, tmp_path):
    from taurl.report import build_report

    swapped = Page(build_report([recording], ("sim", "oracle")))
    assert ("delta_mean_reward", "oracle", None) in swapped.metrics
    result = taurl_in_process(
        "report", str(recording), "--out", str(tmp_path / "r.html"), "--compare", "oracle", "nope"
    )
    assert result.exit_code == 2
    assert "no run 'nope'" in result.stderr and "oracle, sim" in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_report_without_matplotlib_says_how_to_install_it(recording, tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None; from taurl.cli import main; "
        f"sys.argv = ['taurl', 'report', {str(recording)!r}, '--out', {str(tmp_path / 'r.html')!r}]; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "pip install 'taurl[report]'" in " ".join(result.stderr.split())


def test_report_renders_in_headless_chromium(report, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (Debian) to check the page renders")
    import matplotlib.image

    shot = tmp_path / "report.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1280,2000",
    ]
    subprocess.run([str(CHROMIUM), *flags, report.resolve().as_uri()], capture_output=True, timeout=90, check=True)
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.05  # not a blank page
    colours = {tuple(p) for p in (pixels[::4, ::4].reshape(-1, 3) * 255).round().astype(int).tolist()}
    assert len(colours) > 100  # text, tables and charts, not a flat error page


@pytest.fixture(scope="module")
def sim_episode(recording) -> dict:
    (row,) = lookup(
        recording, "SELECT episode_id, task_id FROM episodes WHERE run_id = 'sim' ORDER BY episode_id LIMIT 1"
    )
    return row


def test_show_prints_the_transcript_from_a_unique_prefix(recording, sim_episode):
    episode_id = sim_episode["episode_id"]
    out = taurl("show", episode_id[:8], "--recording", str(recording)).stdout
    for expected in (episode_id, "retail/" + sim_episode["task_id"], "basis", "db match", "ended by"):
        assert expected in out
    assert re.search(r"run\s+sim\s+\(agent tool-calling, user llm\)", out)
    instruction = json.loads(
        lookup(recording, f"SELECT task_json FROM episodes WHERE episode_id = '{episode_id}'")[0]["task_json"]
    )["instruction"]
    assert instruction.split(".")[0] in out
    calls = lookup(recording, f"SELECT name FROM tool_calls WHERE episode_id = '{episode_id}' ORDER BY step")
    assert calls and f"→ {calls[0]['name']}(" in out  # tool calls as name(args)
    assert "more lines of system prompt" in out  # the policy is collapsed
    for role in ("system", "user", "assistant", "tool"):
        assert re.search(rf"^\s*{role} ", out, re.MULTILINE), role


def test_show_fails_clearly_for_an_unknown_or_too_short_id(recording, sim_episode):
    result = taurl_in_process("show", "ffffffffff", "--recording", str(recording))
    assert result.exit_code == 2
    assert "no episode id starts with 'ffffffffff'" in result.stderr
    assert "SELECT episode_id, task_id FROM episodes" in " ".join(result.stderr.split())

    from taurl.show import EpisodeNotFoundError, resolve

    store = RecordingStore(recording)
    with pytest.raises(EpisodeNotFoundError, match="at least 6 characters"):
        resolve(store, sim_episode["episode_id"][:3])
    assert resolve(store, sim_episode["episode_id"][:6]) == sim_episode["episode_id"]


def test_errored_episodes_count_as_failures_unless_excluded(tmp_path):
    """An errored episode scores 0 and is its own failure cause; --exclude-errors leaves it out."""
    from taurl.agent.oracle import OracleAgent
    from taurl.core.types import EpisodeResult, TerminatedBy
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter
    from taurl.report import build_report
    from taurl.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.users.scripted import ScriptedUser

    tasks = get_domain("retail").tasks("test")[:3]
    with RecordingWriter(tmp_path / "rec") as writer:
        for task in tasks[:2]:
            result = run_episode(EpisodeSpec(task), OracleAgent(), ScriptedUser(), RolloutConfig())
            writer.add(episode_row(result, "r", "oracle", "scripted"))
        broken = EpisodeResult(tasks[2], 0, [], [], None, TerminatedBy.ERROR, [], "ModelCallError: gone for good")
        writer.add(episode_row(broken, "r", "oracle", "scripted"))

    def numbers(page: str) -> dict[str, str]:
        return dict(re.findall(r'data-metric="([a-z_]+)" data-run="r">([^<]*)<', page))

    counted = numbers(build_report([tmp_path / "rec"]))
    assert (counted["episodes"], counted["failed"], counted["failed_unfinished"]) == ("3", "1", "1")
    excluded = numbers(build_report([tmp_path / "rec"], exclude_errors=True))
    assert (excluded["episodes"], excluded["failed"], excluded["failed_unfinished"]) == ("2", "0", "0")
    out = taurl("report", str(tmp_path / "rec"), "--out", str(tmp_path / "r.html"), "--exclude-errors")
    assert "wrote" in out.stdout
