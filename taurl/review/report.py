"""A self-contained HTML report over one or more recordings.

Every number comes from SQL over the recording views (:class:`RecordingStore.query`); Python only
formats it, and pass^k goes through :func:`taurl.episodes.rollout.pass_hat_k`. Charts are PNGs drawn with
matplotlib's Agg canvas and embedded as data URIs, so the page is one file that opens anywhere.
Intervals are seeded bootstraps over tasks (:mod:`taurl.review.report_stats`); the episode table and
transcripts are rendered in the page from embedded JSON (:mod:`taurl.review.report_explorer`).
A number a test may check carries ``data-metric``, ``data-run`` (and ``data-domain`` where it is per
domain) and shows its value as the element's text.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taurl import __version__
from taurl.episodes.rollout import pass_hat_k
from taurl.paths import writable_file, write_atomically
from taurl.record import codec
from taurl.record.predicates import finished_sql, passed_sql, unfinished_sql
from taurl.record.store import QueryLimits, RecordingStore
from taurl.review.report_explorer import CSS as EXPLORER_CSS
from taurl.review.report_explorer import explorer
from taurl.review.report_stats import Interval, mean_reward_interval, paired, pass_hat_interval
from taurl.review.report_training import training_section
from taurl.review.show import call_text

INSTALL_HINT = "pip install 'taurl[report]'"
TOP_ACTIONS = 10
TOOLS_SHOWN = 40
CHANGED_TASKS_SHOWN = 100

# One temporary view that every query reads: success is τ-bench's (taurl.core.reward.passed: the reward
# within 1e-6 of 1), and the three reward components are judged from the breakdown whatever the basis. An
# episode that did not finish (errored, interrupted, truncated) scores 0 and counts as failed, as τ-bench
# counts it, unless the report excludes them (τ²'s "infrastructure errors excluded").
SCORED_VIEW = f"""
CREATE OR REPLACE TEMP VIEW scored AS
SELECT *,
    {passed_sql()} AS success,
    {unfinished_sql()} AS unfinished,
    coalesce(NOT db_match, false) AS db_failed,
    coalesce(json_array_length(breakdown_json, '$.outputs_missing') > 0, false) AS outputs_failed,
    coalesce(json_array_length(breakdown_json, '$.actions_missing') > 0, false) AS actions_failed
FROM episodes
WHERE {{where}}
"""


class ReportError(ValueError):
    """A report that cannot be made: says why and what to do."""


Row = dict[str, Any]


def rows(store: RecordingStore, sql: str, params: list[Any] | None = None) -> list[Row]:
    columns, values = store.query(sql, params)
    return [dict(zip(columns, row, strict=True)) for row in values]


# ---------------------------------------------------------------- formatting


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def fmt_reward(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def fmt_count(value: int | None) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_usd(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}"


def fmt_mean(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def fmt_interval(value: Interval | None) -> str:
    return "—" if value is None else f"[{value.low:.3f}, {value.high:.3f}]"


def fmt_when(value: Any) -> str:
    return "—" if value is None else str(value)[:19]


def fmt_duration(ms: float | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    return (
        f"{seconds:.1f} s"
        if seconds < 120
        else f"{seconds / 60:.1f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


def fmt_delta(value: float | None, fmt: Callable[[Any], str]) -> str:
    if value is None:
        return "—"
    text = fmt(abs(value))
    return f"+{text}" if value > 0 else (f"−{text}" if value < 0 else text)


def trend(delta: float | None, better: int) -> str:
    """The CSS classes of a difference: green when it is an improvement, red when it is a regression."""
    if not delta or not better:
        return "num"
    return "num up" if delta * better > 0 else "num down"


def metric(value_text: str, name: str, run: str, domain: str | None = None, css: str = "", **extra: str) -> str:
    """A cell that shows one checkable number, with the attributes that name it (``extra``: more data-*)."""
    attrs = {"data-metric": name, "data-run": run, **({"data-domain": domain} if domain is not None else {})}
    attrs |= {f"data-{k}": v for k, v in extra.items()} | ({"class": css} if css else {})
    rendered = " ".join(f'{k}="{esc(v)}"' for k, v in attrs.items())
    return f"<td {rendered}>{esc(value_text)}</td>"


def cell(text: Any, css: str = "") -> str:
    return f'<td class="{css}">{esc(text)}</td>' if css else f"<td>{esc(text)}</td>"


def table(headers: Sequence[str], body: Sequence[str]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    rows_html = "".join(f"<tr>{row}</tr>" for row in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>"


def section(anchor: str, title: str, intro: str, *parts: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2><p class="intro">{intro}</p>{"".join(parts)}</section>'


def note(text: str) -> str:
    return f'<p class="note">{text}</p>'


# ---------------------------------------------------------------- pass^k


@dataclass(frozen=True)
class TaskTrials:
    n: int  # trials of the task
    c: int  # successful trials


def pass_hat(tasks: Sequence[TaskTrials], k: int) -> float | None:
    """pass^k over tasks that may have different trial counts: the mean of each task's own
    C(c, k) / C(n, k), which is τ-bench's formula when every task has the same n."""
    if not tasks or k > min(t.n for t in tasks):
        return None
    return sum(pass_hat_k([t.c], t.n, k) for t in tasks) / len(tasks)


def task_trials(value: list[dict[str, int]]) -> list[TaskTrials]:
    return [TaskTrials(int(t["n"]), int(t["c"])) for t in value]


# ---------------------------------------------------------------- charts


def figure_class():
    """matplotlib's Figure (an optional dependency, imported only when a report is made)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ReportError(
            f"the HTML report draws its charts with matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    return Figure


def _figure(width: float, height: float):
    return figure_class()(figsize=(width, height), dpi=100, layout="constrained")


def png(figure) -> str:
    """The figure as an <img> with a base64 PNG data URI (Agg canvas: no display, no global pyplot state)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def run_colour(index: int) -> str:
    palette = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
    return palette[index % len(palette)]


def reward_histogram(run: str, colour: str, bins: list[Row]) -> str:
    figure = _figure(3.7, 2.4)
    ax = figure.add_subplot()
    ax.bar([b["bin"] / 10 + 0.05 for b in bins], [b["episodes"] for b in bins], width=0.09, color=colour)
    ax.set_xlim(0, 1)
    ax.set_xticks([i / 10 for i in range(11)])
    ax.set_xlabel("reward")
    ax.set_xticklabels([f"{i / 10:g}" for i in range(11)], fontsize=8)
    ax.yaxis.set_major_locator(integer_ticks())
    ax.set_ylabel("episodes")
    ax.set_title(run, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return png(figure)


def length_boxes(stats: list[Row], colours: dict[str, str]) -> str:
    """Horizontal box plots (long run ids fit) whose statistics SQL computed: matplotlib only draws them."""
    figure = _figure(11.0, 1.0 + 0.45 * len(stats))
    for index, (column, label) in enumerate((("turns", "assistant turns"), ("tool_calls", "tool calls"))):
        ax = figure.add_subplot(1, 2, index + 1)
        boxes = [
            {
                "label": s["run_id"],
                "whislo": s[f"{column}_min"],
                "q1": s[f"{column}_q"][0],
                "med": s[f"{column}_q"][1],
                "q3": s[f"{column}_q"][2],
                "whishi": s[f"{column}_max"],
                "mean": s[f"{column}_mean"],
            }
            for s in reversed(stats)  # first run on top
        ]
        artists = ax.bxp(boxes, showmeans=True, showfliers=False, patch_artist=True, orientation="horizontal")
        for box, s in zip(artists["boxes"], reversed(stats), strict=True):
            box.set_facecolor(colours[s["run_id"]])
            box.set_alpha(0.7)
        if index:
            ax.set_yticklabels([])
        ax.set_title(f"{label} per episode", fontsize=10)
        ax.xaxis.set_major_locator(integer_ticks())
        ax.spines[["top", "right"]].set_visible(False)
    return png(figure)


def integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=6, integer=True)


# ---------------------------------------------------------------- the report


@dataclass
class Report:
    store: RecordingStore
    sources: list[str]
    compare: tuple[str, str] | None = None
    exclude_errors: bool = False

    def __post_init__(self) -> None:
        where = finished_sql() if self.exclude_errors else "TRUE"
        self.store.connect().execute(SCORED_VIEW.format(where=where))
        self.run_ids = [r["run_id"] for r in rows(self.store, "SELECT DISTINCT run_id FROM scored ORDER BY run_id")]
        if not self.run_ids:
            raise ReportError(f"no episodes in {', '.join(self.sources)}: nothing to report")
        self.colours = {run: run_colour(i) for i, run in enumerate(self.run_ids)}
        if self.compare is not None:
            unknown = [r for r in self.compare if r not in self.run_ids]
            if unknown:
                raise ReportError(
                    f"--compare: no run {', '.join(map(repr, unknown))} in the recordings (runs: {', '.join(self.run_ids)})"
                )
        elif len(self.run_ids) >= 2:
            self.compare = (self.run_ids[0], self.run_ids[1])

    # ---- data

    def outcomes(self, by_domain: bool) -> list[Row]:
        """Episodes, mean reward, db-match rate and per-task trial counts, per run (and domain)."""
        keys = "run_id, domain" if by_domain else "run_id"
        return rows(
            self.store,
            f"""
            WITH per_task AS (
                SELECT run_id, domain, task_id, count(*) AS n, count(*) FILTER (WHERE success) AS c,
                       sum(reward) AS r
                FROM scored GROUP BY run_id, domain, task_id
            ), per_group AS (
                SELECT {keys}, list(struct_pack(n := n, c := c, r := r) ORDER BY domain, task_id) AS tasks,
                       min(n) AS min_trials, max(n) AS max_trials
                FROM per_task GROUP BY {keys}
            )
            SELECT {keys}, count(*) AS episodes, count(DISTINCT (domain, task_id)) AS tasks_run,
                   avg(reward) AS mean_reward, avg(coalesce(db_match, false)::DOUBLE) AS db_match_rate,
                   count(*) FILTER (WHERE NOT success) AS failed,
                   avg(turns) AS mean_turns, avg(n_tool_calls) AS mean_tool_calls,
                   any_value(per_group.tasks) AS tasks, any_value(min_trials) AS min_trials,
                   any_value(max_trials) AS max_trials
            FROM scored JOIN per_group USING ({keys})
            GROUP BY {keys} ORDER BY {keys}
            """,
        )

    def costs(self) -> dict[str, Row]:
        result = rows(
            self.store,
            """
            WITH calls AS (
                SELECT run_id, count(*) AS model_calls, avg(cache_hit::DOUBLE) AS cache_hit_rate,
                       count(*) FILTER (WHERE starts_with(namespace, 'user')) AS user_calls,
                       sum(prompt_tokens) FILTER (WHERE starts_with(namespace, 'user')) AS user_prompt_tokens,
                       sum(completion_tokens) FILTER (WHERE starts_with(namespace, 'user')) AS user_completion_tokens
                FROM model_calls GROUP BY run_id
            ), spent AS (
                SELECT run_id, sum(user_cost_usd) AS user_cost_usd, sum(agent_cost_usd) AS agent_cost_usd
                FROM scored GROUP BY run_id
            )
            SELECT spent.*, coalesce(calls.model_calls, 0) AS model_calls, calls.cache_hit_rate,
                   coalesce(calls.user_calls, 0) AS user_calls, calls.user_prompt_tokens,
                   calls.user_completion_tokens
            FROM spent LEFT JOIN calls USING (run_id) ORDER BY run_id
            """,
        )
        return {r["run_id"]: r for r in result}

    # ---- sections

    def header(self) -> str:
        runs = rows(
            self.store,
            """
            SELECT s.run_id, any_value(s.agent) AS agent, any_value(s.user_strategy) AS user_strategy,
                   string_agg(DISTINCT s.domain, ', ' ORDER BY s.domain) AS domains, count(*) AS episodes,
                   any_value(s.agent_model) AS agent_model, any_value(s.user_model) AS user_model,
                   any_value(r.taurl_version) AS taurl_version, min(s.started_at) AS started_at,
                   max(s.finished_at) AS finished_at,
                   date_diff('millisecond', min(s.started_at), max(s.finished_at)) AS duration_ms,
                   avg(s.duration_ms) AS episode_ms
            FROM scored s LEFT JOIN runs r USING (run_id) GROUP BY s.run_id ORDER BY s.run_id
            """,
        )
        body = [
            f'<td><span class="swatch" style="background:{self.colours[r["run_id"]]}"></span>{esc(r["run_id"])}</td>'
            + cell(
                r["agent"]
                + (f" ({r['agent_model']})" if r["agent_model"] and r["agent"] not in ("oracle", "silent") else "")
            )
            + cell(
                r["user_strategy"]
                + (f" ({r['user_model']})" if r["user_model"] and r["user_strategy"] != "scripted" else "")
            )
            + cell(r["domains"])
            + metric(fmt_count(r["episodes"]), "episodes", r["run_id"])
            + cell(r["taurl_version"] or "—")
            + cell(fmt_when(r["started_at"]), "num")
            + cell(fmt_when(r["finished_at"]), "num")
            + metric(fmt_duration(r["duration_ms"]), "duration", r["run_id"])
            + metric(fmt_duration(r["episode_ms"]), "episode_duration", r["run_id"])
            for r in runs
        ]
        sources = ", ".join(f"<code>{esc(s)}</code>" for s in self.sources)
        commit = source_commit()
        made_by = f"made by taurl {esc(__version__)}" + (f" (commit <code>{esc(commit)}</code>)" if commit else "")
        return (
            f"<header><h1>taurl report</h1><p>{len(self.run_ids)} run(s) from {sources}; {made_by}. "
            "Times are UTC; a run's duration spans its first episode's start to its last one's end.</p>"
            + table(
                [
                    "run",
                    "agent",
                    "user simulator",
                    "domains",
                    "episodes",
                    "recorded by taurl",
                    "started",
                    "finished",
                    "duration",
                    "mean episode",
                ],
                body,
            )
            + "</header>"
        )

    def summary(self) -> str:
        groups = self.outcomes(by_domain=True)
        most = max(g["min_trials"] for g in groups)
        headers = ["run", "domain", "episodes", "tasks", "trials/task", "mean reward", "95% CI", "db match"]
        headers += [h for k in range(1, most + 1) for h in (f"pass^{k}", "95% CI")]
        body = []
        for g in groups:
            run, domain = g["run_id"], g["domain"]
            trials = (
                str(g["min_trials"]) if g["min_trials"] == g["max_trials"] else f"{g['min_trials']}–{g['max_trials']}"
            )
            tasks = task_trials(g["tasks"])
            passes = [pass_hat(tasks, k) for k in range(1, most + 1)]
            n, c = [t.n for t in tasks], [t.c for t in tasks]
            reward_ci = mean_reward_interval([t["r"] for t in g["tasks"]], n)
            body.append(
                cell(run)
                + cell(domain)
                + metric(fmt_count(g["episodes"]), "episodes", run, domain)
                + metric(fmt_count(g["tasks_run"]), "tasks", run, domain)
                + metric(trials, "trials_per_task", run, domain)
                + metric(fmt_reward(g["mean_reward"]), "mean_reward", run, domain)
                + metric(fmt_interval(reward_ci), "mean_reward_ci", run, domain, css="ci")
                + metric(fmt_rate(g["db_match_rate"]), "db_match_rate", run, domain)
                + "".join(
                    metric(fmt_reward(p), f"pass_hat_{k}", run, domain)
                    + metric(fmt_interval(pass_hat_interval(c, n, k)), f"pass_hat_{k}_ci", run, domain, css="ci")
                    if p is not None
                    else cell("—", "num") + cell("", "ci")
                    for k, p in enumerate(passes, start=1)
                )
            )
        return section(
            "summary",
            "Outcomes per run and domain",
            "pass^k is τ-bench's: the chance that all of k trials of a task succeed (reward 1), averaged over "
            "tasks, for k up to the trials per task. db match: the final database equals the gold one. "
            "95% CI: a bootstrap interval (2,000 resamples of the tasks, each with all its trials; seeded, so the "
            "same recording gives the same interval). Few tasks give wide intervals: read differences inside them "
            "as noise.",
            table(headers, body),
        )

    def distributions(self) -> str:
        bins = rows(
            self.store,
            """
            SELECT run_id, least(floor(reward * 10), 9)::INTEGER AS bin, count(*) AS episodes
            FROM scored GROUP BY ALL ORDER BY run_id, bin
            """,
        )
        charts = [
            reward_histogram(run, self.colours[run], [b for b in bins if b["run_id"] == run]) for run in self.run_ids
        ]
        stats = rows(
            self.store,
            """
            SELECT run_id,
                   min(turns) AS turns_min, max(turns) AS turns_max, avg(turns) AS turns_mean,
                   quantile_cont(turns, [0.25, 0.5, 0.75]) AS turns_q,
                   min(n_tool_calls) AS tool_calls_min, max(n_tool_calls) AS tool_calls_max,
                   avg(n_tool_calls) AS tool_calls_mean, quantile_cont(n_tool_calls, [0.25, 0.5, 0.75]) AS tool_calls_q
            FROM scored GROUP BY run_id ORDER BY run_id
            """,
        )
        means = table(
            ["run", "mean turns", "mean tool calls"],
            [
                cell(s["run_id"])
                + metric(fmt_mean(s["turns_mean"]), "mean_turns", s["run_id"])
                + metric(fmt_mean(s["tool_calls_mean"]), "mean_tool_calls", s["run_id"])
                for s in stats
            ],
        )
        return section(
            "distributions",
            "Rewards, turns and tool calls",
            "Reward histogram per run (ten bins of width 0.1; a reward of 1 falls in the last), then the "
            "assistant turns and tool calls of each episode: box from the first to the third quartile, line at the "
            "median, triangle at the mean, whiskers at the minimum and maximum.",
            '<div class="charts">' + "".join(f'<figure class="chart">{c}</figure>' for c in charts) + "</div>",
            f'<figure class="chart wide">{length_boxes(stats, self.colours)}</figure>',
            means,
        )

    def failures(self) -> str:
        causes = rows(
            self.store,
            """
            SELECT run_id, count(*) AS episodes, count(*) FILTER (WHERE NOT success) AS failed,
                   count(*) FILTER (WHERE NOT success AND db_failed) AS db_mismatch,
                   count(*) FILTER (WHERE NOT success AND outputs_failed) AS outputs_missing,
                   count(*) FILTER (WHERE NOT success AND actions_failed) AS actions_incomplete,
                   count(*) FILTER (WHERE unfinished) AS unfinished,
                   count(*) FILTER (
                       WHERE NOT success AND NOT (unfinished OR db_failed OR outputs_failed OR actions_failed)
                   ) AS other
            FROM scored GROUP BY run_id ORDER BY run_id
            """,
        )
        cause_names = ["db_mismatch", "outputs_missing", "actions_incomplete", "unfinished", "other"]
        cause_table = table(
            [
                "run",
                "episodes",
                "failed",
                "database mismatch",
                "outputs missing",
                "actions incomplete",
                "did not finish",
                "none of these",
            ],
            [
                cell(c["run_id"])
                + metric(fmt_count(c["episodes"]), "episodes", c["run_id"])
                + metric(fmt_count(c["failed"]), "failed", c["run_id"])
                + "".join(metric(fmt_count(c[name]), f"failed_{name}", c["run_id"]) for name in cause_names)
                for c in causes
            ],
        )
        ended = rows(
            self.store,
            """
            SELECT run_id, terminated_by, count(*) AS episodes, count(*) FILTER (WHERE NOT success) AS failed
            FROM scored GROUP BY ALL ORDER BY run_id, episodes DESC, terminated_by
            """,
        )
        ended_table = table(
            ["run", "ended by", "episodes", "of them failed"],
            [
                cell(e["run_id"])
                + cell(e["terminated_by"])
                + metric(fmt_count(e["episodes"]), "terminated", e["run_id"], terminated_by=e["terminated_by"])
                + cell(fmt_count(e["failed"]), "num")
                for e in ended
            ],
        )
        return section(
            "failures",
            "Why episodes failed",
            "Among failed episodes (reward below 1): which reward component did not hold. An episode can fail "
            "several; a component outside the episode's reward basis still counts here as a symptom. "
            "“Did not finish”: the episode errored, was interrupted or truncated; it scores 0"
            + (" (left out of this report: --exclude-errors)" if self.exclude_errors else "")
            + ". “None of these”: scored 0 for another reason (cut off at the step limit with --zero-on-max-steps).",
            cause_table,
            "<h3>How episodes ended</h3>",
            ended_table,
            "<h3>First wrong action</h3>",
            note(
                "For each failed episode, the first gold action (in the task's order) that the agent did not perform; "
                f"the {TOP_ACTIONS} most common per run, with one example."
            ),
            self.first_wrong_actions(),
        )

    def first_wrong_actions(self) -> str:
        found = rows(
            self.store,
            f"""
            WITH missed AS (
                SELECT run_id, domain, task_id,
                    list_filter(CAST(json_extract(task_json, '$.actions') AS JSON[]),
                                lambda a: json_extract_string(a, '$.name') <> 'respond')
                        [list_min(CAST(json_extract(breakdown_json, '$.actions_missing') AS INTEGER[])) + 1] AS action
                FROM scored WHERE NOT success AND actions_failed
            ), counted AS (
                SELECT run_id, json_extract_string(action, '$.name') AS tool, count(*) AS episodes,
                       count(DISTINCT (domain, task_id)) AS tasks,
                       arg_min(action::VARCHAR, (domain, task_id)) AS example,
                       min(domain || '/' || task_id) AS example_task
                FROM missed GROUP BY ALL
            )
            SELECT * FROM counted
            QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY episodes DESC, tool) <= {TOP_ACTIONS}
            ORDER BY run_id, episodes DESC, tool
            """,
        )
        if not found:
            return note("No failed episode missed a gold action.")
        return table(
            ["run", "first missed gold action", "episodes", "tasks", "example"],
            [
                cell(f["run_id"])
                + f"<td><code>{esc(f['tool'])}</code></td>"
                + metric(fmt_count(f["episodes"]), "first_missed_action", f["run_id"], action=f["tool"])
                + cell(fmt_count(f["tasks"]), "num")
                + example_cell(gold_call_text(f["example"]), f["example_task"])
                for f in found
            ],
        )

    def cost(self) -> str:
        costs = self.costs()
        body = [
            cell(run)
            + metric(fmt_count(c["model_calls"]), "model_calls", run)
            + metric(fmt_rate(c["cache_hit_rate"]), "cache_hit_rate", run)
            + metric(fmt_count(c["user_calls"]), "user_calls", run)
            + metric(fmt_count(c["user_prompt_tokens"]), "user_prompt_tokens", run)
            + metric(fmt_count(c["user_completion_tokens"]), "user_completion_tokens", run)
            + metric(fmt_usd(c["user_cost_usd"]), "user_cost_usd", run)
            + metric(fmt_usd(c["agent_cost_usd"]), "agent_cost_usd", run)
            for run, c in costs.items()
        ]
        return section(
            "cost",
            "Simulated-user cost and response cache",
            "Model calls recorded with the episodes: the cache hit rate is over every call of the run (a hit was "
            "served from the response cache, costing nothing new); tokens and calls of the simulated user are "
            "those whose namespace starts with “user”. Scripted users and the oracle make no calls (—).",
            table(
                [
                    "run",
                    "model calls",
                    "cache hit rate",
                    "user calls",
                    "user prompt tokens",
                    "user completion tokens",
                    "user cost",
                    "agent cost",
                ],
                body,
            ),
        )

    def tools(self) -> str:
        found = rows(
            self.store,
            f"""
            SELECT s.run_id, CASE WHEN st.name = '__parse_error__' THEN '(unparseable reply)' ELSE st.name END AS tool,
                   count(*) AS calls,
                   count(*) FILTER (WHERE st.error = 'bad_arguments') AS bad_arguments,
                   count(*) FILTER (WHERE st.error = 'unknown_tool') AS unknown_tool,
                   count(*) FILTER (WHERE st.error IN ('tool_error', 'tool_exception')) AS tool_errors,
                   count(*) FILTER (WHERE st.error = 'parse_error') AS parse_errors,
                   count(*) FILTER (WHERE st.error IS NOT NULL) AS errors
            FROM steps st JOIN scored s USING (episode_id)
            WHERE st.name <> 'respond' AND st.requestor IS NULL  -- the agent's (not a τ² user's own calls)
            GROUP BY s.run_id, tool
            QUALIFY row_number() OVER (PARTITION BY s.run_id ORDER BY calls DESC, tool) <= {TOOLS_SHOWN}
            ORDER BY s.run_id, calls DESC, tool
            """,
        )
        if not found:
            return section("tools", "Tool calls and their errors", "No episode called a tool.")
        kinds = ["bad_arguments", "unknown_tool", "tool_errors", "parse_errors"]
        body = [
            cell(t["run_id"])
            + f"<td><code>{esc(t['tool'])}</code></td>"
            + metric(fmt_count(t["calls"]), "tool_calls", t["run_id"], tool=t["tool"])
            + "".join(
                metric(fmt_count(t[k]), k, t["run_id"], css="num bad" if t[k] else "num", tool=t["tool"]) for k in kinds
            )
            + metric(
                fmt_rate(t["errors"] / t["calls"]),
                "error_rate",
                t["run_id"],
                css=trend(-t["errors"], 1),
                tool=t["tool"],
            )
            for t in found
        ]
        return section(
            "tools",
            "Tool calls and their errors",
            "Per run, each tool the agent called (most called first; at most "
            f"{TOOLS_SHOWN}), with the calls that failed: bad arguments (a missing, extra or ill-typed argument), "
            "an unknown tool name, a tool error (the tool refused, or raised), and replies that clearly attempted a "
            "call but could not be parsed (one row, “(unparseable reply)”). A failed call leaves the database "
            "unchanged and the episode goes on; filter the episode table “with errors” to read them.",
            table(
                ["run", "tool", "calls", "bad arguments", "unknown tool", "tool errors", "parse errors", "error rate"],
                body,
            ),
        )

    def rescores(self) -> str:
        found = rows(
            self.store,
            f"""
            SELECT s.run_id, r.rescore_id, string_agg(DISTINCT r.reward_basis, ', ') AS bases, count(*) AS episodes,
                   avg(s.reward) AS original, avg(r.reward) AS rescored,
                   count(*) FILTER (WHERE s.success) AS passed_original,
                   count(*) FILTER (WHERE {passed_sql("r.reward")}) AS passed_rescored,
                   count(*) FILTER (WHERE abs(r.reward - s.reward) > 1e-9) AS changed
            FROM (SELECT DISTINCT episode_id, rescore_id, reward, reward_basis FROM rescores
                  WHERE rescore_id NOT LIKE 'faults-%') r
                JOIN scored s USING (episode_id)
            GROUP BY ALL ORDER BY s.run_id, r.rescore_id
            """,
        )
        intro = (
            "Rewards recomputed by <code>taurl rescore</code> (another basis or reward config, no model run), "
            "beside the rewards the episodes were recorded with; the episode table shows each episode's too."
        )
        if not found:
            return section(
                "rescores", "Rescores", intro + " None here: try <code>taurl rescore RECORDING --basis actions</code>."
            )
        body = [
            cell(r["run_id"])
            + f"<td><code>{esc(r['rescore_id'])}</code></td>"
            + cell(r["bases"])
            + metric(fmt_count(r["episodes"]), "rescored_episodes", r["run_id"], rescore=r["rescore_id"])
            + metric(fmt_reward(r["original"]), "original_mean_reward", r["run_id"], rescore=r["rescore_id"])
            + metric(fmt_reward(r["rescored"]), "rescored_mean_reward", r["run_id"], rescore=r["rescore_id"])
            + cell(f"{r['passed_original']} → {r['passed_rescored']}", "num")
            + metric(fmt_count(r["changed"]), "rescored_changed", r["run_id"], rescore=r["rescore_id"])
            for r in found
        ]
        return section(
            "rescores",
            "Rescores",
            intro,
            table(["run", "rescore", "basis", "episodes", "recorded mean", "rescored mean", "passed", "changed"], body),
        )

    def faults(self) -> str:
        found = rows(
            self.store,
            """
            SELECT s.run_id, json_extract_string(r.breakdown_json, '$.category') AS category,
                   json_extract_string(r.breakdown_json, '$.kind') AS kind, count(DISTINCT s.episode_id) AS episodes
            FROM rescores r JOIN scored s USING (episode_id)
            WHERE r.rescore_id LIKE 'faults-%' AND NOT s.success
            GROUP BY ALL ORDER BY 1, 4 DESC, 2, 3
            """,
        )
        intro = (
            "Whose fault each failed episode was, as <code>taurl judge RECORDING --rubric faults</code> recorded it "
            "(the judge's verdicts and model calls are in the recording and replay offline). Failures the simulated "
            "user caused matter most for RL: those episodes teach the policy the wrong thing."
        )
        if not found:
            return section("faults", "Fault attribution", intro + " None here.")
        failed = {
            r["run_id"]: r["failed"]
            for r in rows(
                self.store, "SELECT run_id, count(*) FILTER (WHERE NOT success) AS failed FROM scored GROUP BY 1"
            )
        }
        body = [
            cell(f["run_id"])
            + cell(f["category"], "down" if f["category"] == "user_error" else "")
            + cell(f["kind"])
            + metric(fmt_count(f["episodes"]), "faults", f["run_id"], category=f["category"], kind=f["kind"])
            + cell(fmt_rate(f["episodes"] / failed[f["run_id"]]) if failed.get(f["run_id"]) else "-", "num")
            for f in found
        ]
        return section(
            "faults", "Fault attribution", intro, table(["run", "whose fault", "kind", "episodes", "of failed"], body)
        )

    def comparison(self) -> str:
        if self.compare is None:
            return ""
        a, b = self.compare
        overall = {o["run_id"]: o for o in self.outcomes(by_domain=False)}
        costs = self.costs()
        trials = min(overall[a]["min_trials"], overall[b]["min_trials"])
        # (label, metric name, format, value of a run, +1 when higher is better / -1 when lower is / 0)
        lines: list[tuple[str, str, Callable[[Any], str], Callable[[str], Any], int]] = [
            ("episodes", "episodes", fmt_count, lambda r: overall[r]["episodes"], 0),
            ("tasks", "tasks", fmt_count, lambda r: overall[r]["tasks_run"], 0),
            ("mean reward", "mean_reward", fmt_reward, lambda r: overall[r]["mean_reward"], 1),
            *(
                (
                    f"pass^{k}",
                    f"pass_hat_{k}",
                    fmt_reward,
                    lambda r, k=k: pass_hat(task_trials(overall[r]["tasks"]), k),
                    1,
                )
                for k in range(1, trials + 1)
            ),
            ("db match", "db_match_rate", fmt_rate, lambda r: overall[r]["db_match_rate"], 1),
            ("failed episodes", "failed", fmt_count, lambda r: overall[r]["failed"], -1),
            ("mean turns", "mean_turns", fmt_mean, lambda r: overall[r]["mean_turns"], 0),
            ("mean tool calls", "mean_tool_calls", fmt_mean, lambda r: overall[r]["mean_tool_calls"], 0),
            ("cache hit rate", "cache_hit_rate", fmt_rate, lambda r: costs[r]["cache_hit_rate"], 1),
            ("user cost", "user_cost_usd", fmt_usd, lambda r: costs[r]["user_cost_usd"], -1),
        ]
        body = []
        for label, name, fmt, get, better in lines:
            left, right = get(a), get(b)
            delta = None if left is None or right is None else right - left
            body.append(
                cell(label)
                + metric(fmt(left), name, a, side="a")
                + metric(fmt(right), name, b, side="b")
                + metric(fmt_delta(delta, fmt), f"delta_{name}", b, css=trend(delta, better), baseline=a)
            )
        return section(
            "compare",
            f"Comparison: {a} → {b}",
            f"Δ is <b>{esc(b)}</b> minus <b>{esc(a)}</b>; choose the runs with <code>--compare RUN_A RUN_B</code>. "
            "First the two runs paired on the tasks they share (the fair comparison), then the whole of each run.",
            self.paired_section(a, b),
            "<h3>Whole runs</h3>",
            table(["", a, b, "Δ"], body),
            "<h3>Tasks whose reward changed</h3>",
            self.changed_tasks(a, b),
        )

    def paired_section(self, a: str, b: str) -> str:
        """Per-task mean reward on the tasks both runs ran, with a sign test and a bootstrap interval; a
        warning when the runs cover different domains or tasks (then the whole-run numbers compare unlike)."""
        tasks = rows(
            self.store,
            """
            SELECT run_id, domain, task_id, avg(reward) AS mean_reward FROM scored
            WHERE run_id IN ($1, $2) GROUP BY ALL ORDER BY domain, task_id
            """,
            [a, b],
        )
        by_run = {
            run: {(t["domain"], t["task_id"]): t["mean_reward"] for t in tasks if t["run_id"] == run} for run in (a, b)
        }
        shared = sorted(by_run[a].keys() & by_run[b].keys())
        domains = {run: sorted({d for d, _ in by_run[run]}) for run in (a, b)}
        only = {run: len(by_run[run]) - len(shared) for run in (a, b)}
        warnings = []
        if domains[a] != domains[b]:
            warnings.append(
                f"The runs cover different domains ({esc(a)}: {esc(', '.join(domains[a]))}; {esc(b)}: "
                f"{esc(', '.join(domains[b]))})."
            )
        if only[a] or only[b]:
            warnings.append(
                f"The task sets differ: {only[a]} task(s) only in {esc(a)}, {only[b]} only in {esc(b)}, "
                f"{len(shared)} shared. The whole-run numbers below are over different tasks; only the paired "
                "numbers compare like with like."
            )
        banner = f'<p class="warning" data-metric="comparison_warning" data-run="{esc(b)}">{" ".join(warnings)}</p>'
        if not shared:
            return (
                banner.replace("</p>", " They share no task: no paired comparison is made.</p>")
                if warnings
                else note("No shared task.")
            )
        result = paired([by_run[b][t] - by_run[a][t] for t in shared])
        assert result is not None  # shared is not empty
        mean_a = sum(by_run[a][t] for t in shared) / len(shared)
        mean_b = sum(by_run[b][t] for t in shared) / len(shared)
        verdict = (
            "a difference unlikely to be chance (p < 0.05)"
            if result.sign_test_p < 0.05
            else "no difference the sign test can tell from chance (p ≥ 0.05)"
        )
        body = [
            cell("shared tasks") + metric(fmt_count(result.tasks), "paired_tasks", b, baseline=a),
            cell(f"mean reward of {a}") + metric(fmt_reward(mean_a), "paired_mean_a", b, baseline=a),
            cell(f"mean reward of {b}") + metric(fmt_reward(mean_b), "paired_mean_b", b, baseline=a),
            cell("mean Δ per task")
            + metric(
                fmt_delta(result.mean_delta, fmt_reward),
                "paired_mean_delta",
                b,
                css=trend(result.mean_delta, 1),
                baseline=a,
            ),
            cell("95% CI of mean Δ (paired bootstrap)")
            + metric(fmt_interval(result.interval), "paired_ci", b, baseline=a),
            cell("tasks better / worse / same")
            + metric(f"{result.wins} / {result.losses} / {result.ties}", "paired_wins_losses", b, baseline=a),
            cell("sign test, two-sided p") + metric(f"{result.sign_test_p:.3g}", "sign_test_p", b, baseline=a),
        ]
        return (
            (banner if warnings else "")
            + note(
                f"Each shared task's mean reward over its trials in each run; Δ = {esc(b)} − {esc(a)}. The sign test "
                f"counts tasks that got better against tasks that got worse (ties left out): {verdict}."
            )
            + table(["paired on shared tasks", ""], body)
        )

    def changed_tasks(self, a: str, b: str) -> str:
        changed = rows(
            self.store,
            """
            WITH t AS (
                SELECT run_id, domain, task_id, avg(reward) AS mean_reward,
                       count(*) FILTER (WHERE success) || '/' || count(*) AS passed
                FROM scored WHERE run_id IN ($1, $2) GROUP BY ALL
            )
            SELECT domain, task_id, a.mean_reward AS reward_a, a.passed AS passed_a,
                   b.mean_reward AS reward_b, b.passed AS passed_b, b.mean_reward - a.mean_reward AS delta
            FROM (SELECT * FROM t WHERE run_id = $1) a FULL JOIN (SELECT * FROM t WHERE run_id = $2) b
                USING (domain, task_id)
            WHERE a.mean_reward IS NULL OR b.mean_reward IS NULL OR abs(b.mean_reward - a.mean_reward) > 1e-9
            ORDER BY abs(delta) DESC NULLS LAST, domain, task_id
            """,
            [a, b],
        )
        if not changed:
            return note("Every task both runs share has the same mean reward in each.")
        better = sum(1 for c in changed if c["delta"] is not None and c["delta"] > 0)
        worse = sum(1 for c in changed if c["delta"] is not None and c["delta"] < 0)
        only = len(changed) - better - worse
        summary = note(
            f"{len(changed)} task(s) changed: {better} better, {worse} worse"
            + (f", {only} in one run only" if only else "")
            + (f"; the {CHANGED_TASKS_SHOWN} largest changes are shown" if len(changed) > CHANGED_TASKS_SHOWN else "")
            + ". Mean reward over the task's trials, and successful trials."
        )
        body = [
            cell(c["domain"])
            + task_link(c["task_id"])
            + cell(f"{fmt_reward(c['reward_a'])} ({c['passed_a'] or '—'})", "num")
            + cell(f"{fmt_reward(c['reward_b'])} ({c['passed_b'] or '—'})", "num")
            + cell(fmt_delta(c["delta"], fmt_reward), trend(c["delta"], 1))
            for c in changed[:CHANGED_TASKS_SHOWN]
        ]
        return summary + table(["domain", "task", a, b, "Δ"], body)

    def render(self) -> str:
        training = training_section(self.store, self.colours)
        sections = [
            self.summary(),
            training,
            explorer(self.store),
            self.tools(),
            self.failures(),
            self.distributions(),
            self.cost(),
            self.rescores(),
            self.faults(),
            self.comparison(),
        ]
        nav = [
            ("summary", "outcomes"),
            *([("training", "training")] if training else []),
            ("episodes", "episodes"),
            ("tools", "tool errors"),
            ("failures", "failures"),
            ("distributions", "distributions"),
            ("cost", "cost"),
            ("rescores", "rescores"),
            ("faults", "faults"),
        ]
        if self.compare is not None:
            nav.append(("compare", "comparison"))
        links = " · ".join(f'<a href="#{anchor}">{esc(label)}</a>' for anchor, label in nav)
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>taurl report: {esc(', '.join(self.run_ids))}</title><style>{CSS}{EXPLORER_CSS}</style></head><body>"
            + self.header()
            + f"<nav>{links}</nav><main>"
            + "".join(sections)
            + "</main></body></html>\n"
        )


def source_commit() -> str | None:
    """The git commit of taurl's source tree, when it is a checkout (else None: an installed wheel)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        found = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.strip() or None if found.returncode == 0 else None


def task_link(task_id: str) -> str:
    """A task cell that filters the episode table to the task's episodes."""
    return f'<td><a href="#episodes" data-show-task="{esc(task_id)}">{esc(task_id)}</a></td>'


def example_cell(call: str, task: str, limit: int = 160) -> str:
    """A gold call, cut to ``limit`` characters (the whole call is in the tooltip), and its task (a link to
    the task's episodes)."""
    shown = call if len(call) <= limit else call[: limit - 1] + "…"
    task_id = task.split("/", 1)[-1]
    return (
        f'<td class="example"><code title="{esc(call)}">{esc(shown)}</code> '
        f'(<a href="#episodes" data-show-task="{esc(task_id)}">{esc(task)}</a>)</td>'
    )


def gold_call_text(action_json: str) -> str:
    """A gold action (as the query extracts it from the task) as ``name(key=value, ...)``, values in JSON."""
    action = codec.action(action_json)
    return call_text(action.name, action.kwargs)


def build_report(
    recordings: Sequence[str | Path],
    compare: tuple[str, str] | None = None,
    exclude_errors: bool = False,
    limits: QueryLimits | None = None,
) -> str:
    """The report's HTML for the recordings (raises RecordingError or ReportError)."""
    figure_class()  # fail before any query if matplotlib is missing
    store = RecordingStore(list(recordings), limits)
    try:
        return Report(store, [str(r) for r in recordings], compare, exclude_errors).render()
    finally:
        store.close()


def write_report(
    recordings: Sequence[str | Path],
    out: Path,
    compare: tuple[str, str] | None = None,
    exclude_errors: bool = False,
    limits: QueryLimits | None = None,
) -> Path:
    """Write the report whole or not at all; an ``out`` that cannot be written is refused before any query
    (:class:`taurl.paths.OutputPathError`)."""
    writable_file(out)
    return write_atomically(out, build_report(recordings, compare, exclude_errors, limits))


CSS = """
:root { --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --head: #f6f8fa; --up: #1a7f37; --down: #cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg);
       margin: 0 auto; padding: 24px 32px 48px; max-width: 1240px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 6px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 22px 0 6px; }
p { margin: 4px 0 10px; }
.intro, .note, .muted { color: var(--muted); }
.intro { max-width: 900px; }
nav { margin: 14px 0 0; padding: 8px 12px; background: var(--head); border-radius: 6px; }
nav a { color: #0969da; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 12px; }
th, td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num, td[data-metric] { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.up { color: var(--up); font-weight: 600; }
td.down { color: var(--down); font-weight: 600; }
td.ci { color: var(--muted); font-size: 12px; }
td.example { max-width: 620px; word-break: break-word; font-size: 12px; }
code { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; background: var(--head); padding: 1px 4px;
       border-radius: 4px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
figure.chart { margin: 6px 0; padding: 6px; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figure.chart img { display: block; max-width: 100%; height: auto; }
figure.wide { display: inline-block; }
p.warning { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: 8px 12px; }
"""
