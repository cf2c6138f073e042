"""`taurl report` (HTML page: numbers equal to `taurl sql`, renders in headless Chromium) and `taurl show`."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections import defaultdict
from html.parser import HTMLParser
from math import comb
from pathlib import Path

import pytest

from taurl.episodes.config import Endpoint, RunConfig
from taurl.episodes.runner import execute
from taurl.record.store import RecordingStore
from taurl.registry import get_domain
from taurl.sim.server import SimServer
from tests.conftest import taurl

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RUNS = ("oracle", "sim")
TRIALS = 2


def sql(recording: Path, query: str) -> list[dict]:
    """Rows as `taurl sql --format json` prints them: the reference the report's numbers must equal."""
    return json.loads(taurl("sql", "--recording", str(recording), "--format", "json", query, check=True).stdout)


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
    taurl("report", str(recording), "--out", str(out), check=True)
    return out


class Page(HTMLParser):
    """The parts of the page the tests read: checkable numbers (also with all their attributes, in
    ``cells``), images, section ids, external references, embedded JSON data blocks by id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.metrics: dict[tuple[str, str, str | None], list[str]] = defaultdict(list)
        self.cells: list[tuple[dict[str, str | None], str]] = []
        self.data: dict[str, object] = {}
        self._script: str | None = None
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
        if tag == "link" or (tag == "script" and a.get("src")):
            self.external.append(tag)
        if tag == "script" and a.get("type") == "application/json":
            self._script, self._text = a["id"], []

    def handle_data(self, data):
        if self._open is not None or self._script is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if self._script is not None:
            self.data[self._script] = json.loads("".join(self._text))
            self._script = None
        if self._open is not None:
            a, text = self._open, "".join(self._text)
            self.metrics[(a["data-metric"], a["data-run"], a.get("data-domain"))].append(text)
            self.cells.append((a, text))
            self._open = None

    def cell(self, name: str, **attrs: str) -> str:
        """The text of the one number named ``name`` whose data-* attributes include ``attrs``."""
        (found,) = [
            text
            for a, text in self.cells
            if a["data-metric"] == name and all(a.get(f"data-{k}") == v for k, v in attrs.items())
        ]
        return found

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
    assert page.sections == [
        "summary",
        "episodes",
        "tools",
        "failures",
        "distributions",
        "cost",
        "rescores",
        "faults",
        "compare",
    ]
    assert page.external == []  # self-contained: no stylesheet, script, image or link elsewhere (scripts inline)
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
    from taurl.review.report import build_report

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


@pytest.mark.slow
@pytest.mark.browser
def test_report_renders_in_headless_chromium(report, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (Debian) to check the page renders")
    import matplotlib.image

    shot = tmp_path / "report.png"
    flags = [
        *CHROMIUM_FLAGS,
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


def test_episode_table_and_transcripts_hold_every_episode(recording, report):
    page = Page(report.read_text())
    table = page.data["episode-rows"]
    columns = table["columns"]
    shown = {row[0]: dict(zip(columns, row, strict=True)) for row in table["rows"]}
    expected = sql(
        recording,
        """
        SELECT e.episode_id, e.run_id, e.task_id, e.trial, e.reward, e.terminated_by,
               (SELECT count(*) FROM steps s WHERE s.episode_id = e.episode_id AND s.error IS NOT NULL) AS errors,
               (SELECT count(*) FROM messages m WHERE m.episode_id = e.episode_id) AS messages
        FROM episodes e
        """,
    )
    assert set(shown) == {e["episode_id"] for e in expected}
    for e in expected:
        row = shown[e["episode_id"]]
        assert (row["run"], row["task"], row["trial"], row["ended"]) == (
            e["run_id"],
            e["task_id"],
            e["trial"],
            e["terminated_by"],
        )
        assert row["reward"] == pytest.approx(e["reward"], abs=1e-4) and row["errors"] == e["errors"]
        transcript = page.data["episode-transcripts"][e["episode_id"]]
        assert len(transcript["m"]) + (transcript["sys"] is not None) == e["messages"]
    prompts = page.data["episode-prompts"]
    assert len(prompts) < len(expected)  # each system prompt stored once
    calls = lookup(recording, "SELECT episode_id, name, kwargs_json FROM tool_calls WHERE run_id = 'sim' LIMIT 1")
    (call,) = calls
    called = [c for m in page.data["episode-transcripts"][call["episode_id"]]["m"] for c in m[2] or []]
    assert call["name"] in [name for name, _ in called]


def test_tool_calls_and_their_errors_equal_what_taurl_sql_returns(recording, report):
    page = Page(report.read_text())
    counted = sql(
        recording,
        """
        SELECT run_id, name, count(*) AS calls, count(*) FILTER (WHERE error IS NOT NULL) AS errors
        FROM steps WHERE name NOT IN ('respond', '__parse_error__') GROUP BY ALL
        """,
    )
    assert counted
    for c in counted:
        assert number(page.cell("tool_calls", run=c["run_id"], tool=c["name"])) == c["calls"]
        rate = page.cell("error_rate", run=c["run_id"], tool=c["name"])
        assert number(rate) == pytest.approx(c["errors"] / c["calls"], abs=5e-4)


def test_intervals_are_seeded_and_bracket_the_estimate(recording):
    from taurl.review.report import build_report

    first, second = build_report([recording]), build_report([recording])
    assert first == second  # the bootstrap is seeded: the page is the same every time
    page = Page(first)
    for run in RUNS:
        low, high = (number(v) for v in page.values("mean_reward_ci", run, "retail")[0].strip("[]").split(","))
        (mean,) = page.values("mean_reward", run, "retail")
        assert low <= number(mean) <= high
    assert page.values("pass_hat_1_ci", "oracle", "retail") == ["[1.000, 1.000]"]  # every trial passes


def test_paired_comparison_equals_per_task_deltas_from_sql(recording, report):
    page = Page(report.read_text())
    tasks = sql(
        recording,
        """
        SELECT task_id, avg(reward) FILTER (WHERE run_id = 'sim') - avg(reward) FILTER (WHERE run_id = 'oracle') AS d
        FROM episodes GROUP BY task_id
        """,
    )
    deltas = [t["d"] for t in tasks]
    wins, losses = sum(d > 1e-9 for d in deltas), sum(d < -1e-9 for d in deltas)
    assert number(page.cell("paired_tasks", run="sim")) == len(tasks)
    shown = page.cell("paired_mean_delta", run="sim").replace("−", "-")
    assert number(shown) == pytest.approx(sum(deltas) / len(deltas), abs=5e-4)
    assert page.cell("paired_wins_losses", run="sim") == f"{wins} / {losses} / {len(deltas) - wins - losses}"
    n = wins + losses
    p = min(1.0, 2 * sum(comb(n, i) for i in range(min(wins, losses) + 1)) / 2**n) if n else 1.0
    assert number(page.cell("sign_test_p", run="sim")) == pytest.approx(p, rel=1e-3)
    assert not [a for a, _ in page.cells if a["data-metric"] == "comparison_warning"]  # same tasks, same domain


def oracle_recording(path: Path, runs: dict[str, tuple[str, list[int]]]) -> Path:
    """Oracle episodes written directly: run id -> (domain, indices of the domain's test tasks)."""
    from taurl.agent.oracle import OracleAgent
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter
    from taurl.users.scripted import ScriptedUser

    with RecordingWriter(path) as writer:
        for run_id, (domain, indices) in runs.items():
            tasks = get_domain(domain).tasks("test")
            for i in indices:
                result = run_episode(EpisodeSpec(tasks[i]), OracleAgent(), ScriptedUser(), RolloutConfig())
                writer.add(episode_row(result, run_id, "oracle", "scripted"))
    return path


def test_comparison_warns_when_task_sets_or_domains_differ(tmp_path):
    from taurl.review.report import build_report

    overlap = Page(
        build_report([oracle_recording(tmp_path / "a", {"a": ("retail", [0, 1, 2]), "b": ("retail", [1, 2, 3])})])
    )
    (warning,) = [text for a, text in overlap.cells if a["data-metric"] == "comparison_warning"]
    assert "1 task(s) only in a, 1 only in b, 2 shared" in warning
    assert overlap.cell("paired_tasks", run="b") == "2"
    apart = build_report([oracle_recording(tmp_path / "b", {"a": ("retail", [0]), "b": ("airline", [0])})])
    (warning,) = [text for a, text in Page(apart).cells if a["data-metric"] == "comparison_warning"]
    assert "different domains (a: retail; b: airline)" in warning and "no paired comparison is made" in warning
    assert "paired_tasks" not in apart


def test_rescores_are_shown_beside_the_recorded_rewards(tmp_path):
    from taurl.core.reward import RewardConfig
    from taurl.core.types import RewardBasis
    from taurl.record.writer import RecordingWriter
    from taurl.review.report import build_report
    from taurl.review.rescore import rescore, rescore_id

    rec = oracle_recording(tmp_path / "rec", {"r": ("retail", [0, 1])})
    config = RewardConfig(basis=RewardBasis.ACTIONS)
    results = rescore(RecordingStore(rec), config)
    RecordingWriter(rec).write_rescores([r.row for r in results], rescore_id(config))
    page = Page(build_report([rec]))
    identity = rescore_id(config)
    assert page.cell("rescored_episodes", run="r", rescore=identity) == "2"
    expected = sum(r.new_reward for r in results) / 2
    assert number(page.cell("rescored_mean_reward", run="r", rescore=identity)) == pytest.approx(expected, abs=5e-4)
    assert all(row[-1] is not None for row in page.data["episode-rows"]["rows"])  # each episode's rescore


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(
        [str(CHROMIUM), *flags, page.resolve().as_uri()], capture_output=True, text=True, timeout=90, check=True
    )


@pytest.mark.slow
@pytest.mark.browser
def test_clicking_an_episode_opens_its_transcript_in_headless_chromium(recording, report, tmp_path):
    """A script appended to a copy of the page filters to failed episodes and clicks the first row, as a
    person would; the DOM Chromium then holds (and the screenshot shows) that episode's transcript."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (Debian) to check the page renders")
    import matplotlib.image

    click = (
        "<script>const o = document.getElementById('f-outcome'); o.value = 'fail';"
        "o.dispatchEvent(new Event('input'));"
        "document.querySelector('#episode-table tbody tr').click();</script></body>"
    )
    clicked = tmp_path / "clicked.html"
    clicked.write_text(report.read_text().replace("</body>", click))
    dom = chromium(clicked, tmp_path, "--dump-dom").stdout
    opened = re.search(r'<div id="transcript">(.*?)</section>', dom, re.S)
    assert opened, "the transcript panel stayed hidden"
    panel = opened.group(1)
    (first,) = lookup(
        recording,
        "SELECT episode_id, task_id FROM episodes WHERE NOT passed ORDER BY run_id, domain, task_id, trial LIMIT 1",
    )
    assert first["episode_id"] in panel and first["task_id"] in panel
    for part in ("Reward", "Task", "Transcript", 'class="msg user', 'class="msg assistant', "→ "):
        assert part in panel, part
    # the same state as pixels: the blue-bordered panel is drawn
    shot = tmp_path / "clicked.png"
    chromium(clicked, tmp_path, f"--screenshot={shot}", "--window-size=1280,4000")
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)
    border = (abs(pixels - [0x09, 0x69, 0xDA]).sum(axis=-1) < 30).sum()  # ~600 without it: links, nav
    assert border > 3000  # the transcript panel's border (#0969da), absent while no episode is open


@pytest.fixture(scope="module")
def sim_episode(recording) -> dict:
    (row,) = lookup(
        recording, "SELECT episode_id, task_id FROM episodes WHERE run_id = 'sim' ORDER BY episode_id LIMIT 1"
    )
    return row


def test_show_prints_the_transcript_from_a_unique_prefix(recording, sim_episode):
    episode_id = sim_episode["episode_id"]
    out = taurl("show", episode_id[:8], "--recording", str(recording), check=True).stdout
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

    from taurl.review.show import EpisodeNotFoundError, resolve

    store = RecordingStore(recording)
    with pytest.raises(EpisodeNotFoundError, match="at least 6 characters"):
        resolve(store, sim_episode["episode_id"][:3])
    assert resolve(store, sim_episode["episode_id"][:6]) == sim_episode["episode_id"]


def test_errored_episodes_count_as_failures_unless_excluded(tmp_path):
    """An errored episode scores 0 and is its own failure cause; --exclude-errors leaves it out."""
    from taurl.agent.oracle import OracleAgent
    from taurl.core.types import EpisodeResult, TerminatedBy
    from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
    from taurl.record.schema import episode_row
    from taurl.record.writer import RecordingWriter
    from taurl.review.report import build_report
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
    out = taurl("report", str(tmp_path / "rec"), "--out", str(tmp_path / "r.html"), "--exclude-errors", check=True)
    assert "wrote" in out.stdout
