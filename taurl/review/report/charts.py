"""The report's charts: PNGs drawn with matplotlib's Agg canvas (no display, no global pyplot state) and
embedded as data URIs, so the page is one file that opens anywhere. The numbers come from SQL
(:mod:`taurl.review.report.queries`); matplotlib only draws them.
"""

from __future__ import annotations

import base64
import io

from taurl.review.report.queries import ReportError, Row

INSTALL_HINT = "pip install 'taurl[report]'"


def figure_class():
    """matplotlib's Figure (an optional dependency, imported only when a report is made)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ReportError(
            f"the HTML report draws its charts with matplotlib, which is not installed: {INSTALL_HINT}"
        ) from exc
    return Figure


def new_figure(width: float, height: float):
    return figure_class()(figsize=(width, height), dpi=100, layout="constrained")


def png(figure) -> str:
    """The figure as an <img> with a base64 PNG data URI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="chart" src="data:image/png;base64,{data}">'


def integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=6, integer=True)


def run_colour(index: int) -> str:
    palette = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C"]
    return palette[index % len(palette)]


def reward_histogram(run: str, colour: str, bins: list[Row]) -> str:
    figure = new_figure(3.7, 2.4)
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
    """Horizontal box plots (long run ids fit) whose statistics SQL computed."""
    figure = new_figure(11.0, 1.0 + 0.45 * len(stats))
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


def step_chart(run: str, colour: str, steps: list[Row]) -> str:
    """A training run's mean reward and pass rate per step, and its held-out pass^1 where it evaluated."""
    figure = new_figure(5.6, 2.8)
    ax = figure.add_subplot()
    x = [s["step"] for s in steps]
    ax.plot(x, [s["reward_mean"] for s in steps], marker="o", color=colour, label="mean reward")
    ax.plot(x, [s["pass_rate"] for s in steps], marker="s", linestyle="--", color=colour, alpha=0.6, label="pass rate")
    evaluated = [s for s in steps if s["eval_pass_1"] is not None]
    if evaluated:
        ax.plot(
            [s["step"] for s in evaluated], [s["eval_pass_1"] for s in evaluated], marker="^", linestyle=":",
            color="#333333", label="held-out pass^1",
        )  # fmt: skip
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("step")
    ax.xaxis.set_major_locator(integer_ticks())
    ax.set_title(run, fontsize=10)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return png(figure)
