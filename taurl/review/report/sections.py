"""The report's sections: each one a ``<section>`` of the page, its numbers from
:mod:`taurl.review.report.queries`, its charts from :mod:`taurl.review.report.charts`.

pass^k goes through :func:`taurl.episodes.rollout.pass_hat_k` (:mod:`taurl.review.report.stats`), and
intervals are seeded bootstraps over tasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import taurl.review.report.queries as queries
from taurl import __version__
from taurl.record.store import RecordingStore
from taurl.review.report.charts import length_boxes, reward_histogram
from taurl.review.report.markup import (
    cell,
    esc,
    example_cell,
    fmt_count,
    fmt_delta,
    fmt_duration,
    fmt_interval,
    fmt_mean,
    fmt_rate,
    fmt_reward,
    fmt_usd,
    fmt_when,
    gold_call_text,
    metric,
    note,
    section,
    table,
    task_link,
    trend,
)
from taurl.review.report.stats import mean_reward_interval, paired, pass_hat, pass_hat_interval, task_trials

CHANGED_TASKS_SHOWN = 100


def header(store: RecordingStore, sources: Sequence[str], colours: dict[str, str], commit: str | None) -> str:
    """The page's head: where the runs come from, what made the page, and one row per run (who played it, when)."""
    runs = queries.runs(store)
    body = [
        f'<td><span class="swatch" style="background:{colours[r["run_id"]]}"></span>{esc(r["run_id"])}</td>'
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
    shown = ", ".join(f"<code>{esc(s)}</code>" for s in sources)
    made_by = f"made by taurl {esc(__version__)}" + (f" (commit <code>{esc(commit)}</code>)" if commit else "")
    return (
        f"<header><h1>taurl report</h1><p>{len(colours)} run(s) from {shown}; {made_by}. "
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


def summary(store: RecordingStore) -> str:
    groups = queries.outcomes(store, by_domain=True)
    most = max(g["min_trials"] for g in groups)
    headers = ["run", "domain", "episodes", "tasks", "trials/task", "mean reward", "95% CI", "db match"]
    headers += [h for k in range(1, most + 1) for h in (f"pass^{k}", "95% CI")]
    body = []
    for g in groups:
        run, domain = g["run_id"], g["domain"]
        trials = str(g["min_trials"]) if g["min_trials"] == g["max_trials"] else f"{g['min_trials']}–{g['max_trials']}"
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


def distributions(store: RecordingStore, colours: dict[str, str]) -> str:
    bins = queries.reward_bins(store)
    charts = [reward_histogram(run, colour, [b for b in bins if b["run_id"] == run]) for run, colour in colours.items()]
    stats = queries.length_stats(store)
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
        f'<figure class="chart wide">{length_boxes(stats, colours)}</figure>',
        means,
    )


def failures(store: RecordingStore, exclude_errors: bool) -> str:
    causes = queries.failure_causes(store)
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
    ended = queries.endings(store)
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
        + (" (left out of this report: --exclude-errors)" if exclude_errors else "")
        + ". “None of these”: scored 0 for another reason (cut off at the step limit with --zero-on-max-steps).",
        cause_table,
        "<h3>How episodes ended</h3>",
        ended_table,
        "<h3>First wrong action</h3>",
        note(
            "For each failed episode, the first gold action (in the task's order) that the agent did not perform; "
            f"the {queries.TOP_ACTIONS} most common per run, with one example."
        ),
        first_wrong_actions(store),
    )


def first_wrong_actions(store: RecordingStore) -> str:
    found = queries.first_wrong_actions(store)
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


def cost(store: RecordingStore) -> str:
    costs = queries.costs(store)
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


def tools(store: RecordingStore) -> str:
    found = queries.tool_calls(store)
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
        f"{queries.TOOLS_SHOWN}), with the calls that failed: bad arguments (a missing, extra or ill-typed argument), "
        "an unknown tool name, a tool error (the tool refused, or raised), and replies that clearly attempted a "
        "call but could not be parsed (one row, “(unparseable reply)”). A failed call leaves the database "
        "unchanged and the episode goes on; filter the episode table “with errors” to read them.",
        table(
            ["run", "tool", "calls", "bad arguments", "unknown tool", "tool errors", "parse errors", "error rate"],
            body,
        ),
    )


def rescores(store: RecordingStore) -> str:
    found = queries.rescores(store)
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


def faults(store: RecordingStore) -> str:
    found = queries.faults(store)
    intro = (
        "Whose fault each failed episode was, as <code>taurl judge RECORDING --rubric faults</code> recorded it "
        "(the judge's verdicts and model calls are in the recording and replay offline). Failures the simulated "
        "user caused matter most for RL: those episodes teach the policy the wrong thing."
    )
    if not found:
        return section("faults", "Fault attribution", intro + " None here.")
    failed = queries.failed_per_run(store)
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


def comparison(store: RecordingStore, a: str, b: str) -> str:
    overall = {o["run_id"]: o for o in queries.outcomes(store, by_domain=False)}
    costs = queries.costs(store)
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
        paired_section(store, a, b),
        "<h3>Whole runs</h3>",
        table(["", a, b, "Δ"], body),
        "<h3>Tasks whose reward changed</h3>",
        changed_tasks(store, a, b),
    )


def paired_section(store: RecordingStore, a: str, b: str) -> str:
    """Per-task mean reward on the tasks both runs ran, with a sign test and a bootstrap interval; a
    warning when the runs cover different domains or tasks (then the whole-run numbers compare unlike)."""
    tasks = queries.task_rewards(store, a, b)
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
        cell("95% CI of mean Δ (paired bootstrap)") + metric(fmt_interval(result.interval), "paired_ci", b, baseline=a),
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


def changed_tasks(store: RecordingStore, a: str, b: str) -> str:
    changed = queries.changed_tasks(store, a, b)
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
