"""The report's training section: a training run's steps (``train_steps``), charted and tabled.

Per run that has steps: reward and pass rate per step (and the held-out pass^1 where it was evaluated),
then one row per step with what the step did (groups without signal, loss, gradient norm, tokens, time).
Nothing when the recordings hold no training run.
"""

from __future__ import annotations

from taurl.record.store import RecordingStore
from taurl.review.report.charts import step_chart
from taurl.review.report.markup import MISSING, cell, esc, fmt_count, fmt_rate, fmt_reward, metric, section, table
from taurl.review.report.queries import training_steps


def training_section(store: RecordingStore, colours: dict[str, str]) -> str:
    """The section's HTML, or "" when no recording holds a training run."""
    steps = training_steps(store)
    if not steps:
        return ""
    runs = sorted({s["run_id"] for s in steps})
    charts = "".join(
        f'<figure class="chart">{step_chart(run, colours.get(run, "#4C72B0"), [s for s in steps if s["run_id"] == run])}'
        "</figure>"
        for run in runs
    )

    def number(value: float | None, digits: int = 3) -> str:
        return MISSING if value is None else f"{value:.{digits}g}"

    body = [
        cell(s["run_id"])
        + cell(str(s["step"]), "num")
        + metric(fmt_reward(s["reward_mean"]), "train_reward", s["run_id"], step=str(s["step"]))
        + cell(number(s["reward_std"]), "num")
        + metric(fmt_rate(s["pass_rate"]), "train_pass_rate", s["run_id"], step=str(s["step"]))
        + cell(f"{s['groups_zero_signal']}/{s['groups']}", "num")
        + cell(fmt_count(s["errored"]), "num")
        + cell(number(s["loss"]), "num")
        + cell(number(s["grad_norm"]), "num")
        + cell(f"{fmt_count(s['agent_tokens'])}/{fmt_count(s['tokens'])}", "num")
        + cell(f"{s['seconds_total']:.1f} s", "num")
        + cell(fmt_reward(s["eval_pass_1"]), "num")
        for s in steps
    ]
    headers = [
        "run", "step", "mean reward", "std", "pass rate", "groups without signal", "errored", "loss",
        "gradient norm", "agent / all tokens", "time", "held-out pass^1",
    ]  # fmt: skip
    return section(
        "training",
        "Training",
        f"{len(runs)} training run(s) ({esc(', '.join(runs))}): each step's trajectories, their mean reward and "
        "pass rate; groups without signal (every sample scored alike) contribute no gradient. Held-out pass^1 "
        "where the run evaluated.",
        f'<div class="charts">{charts}</div>',
        table(headers, body),
    )
