"""One recorded episode as a readable transcript in the terminal (``taurl show``): how it scored
(each reward component; which database fields differ from the gold outcome), how it ended, its
errors, and every message.

Everything taken from the recording passes through :func:`printable` and is printed as ``Text``,
never as markup: a transcript can neither drive the terminal nor style itself.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from taurl.core.reward import passed
from taurl.record import codec
from taurl.record.store import QueryLimits, RecordingStore
from taurl.review.terminal import printable

MIN_PREFIX = 6
SYSTEM_LINES = 4
OBSERVATION_CHARS = 400
OBSERVATION_LINES = 8
TOOL_RESPONSE_TAG = "<tool_response>"
LIST_IDS_HINT = 'list the ids with: taurl sql --recording DIR "SELECT episode_id, task_id FROM episodes"'
DIFF_VALUE_CHARS = 120
ABSENT = "(absent)"
ROLE_STYLES = {"system": "dim", "user": "bold green", "assistant": "bold cyan", "tool": "bold magenta"}


class EpisodeNotFoundError(LookupError):
    """An id that names no episode, or more than one: the message says what to do."""


@dataclass
class Episode:
    row: dict[str, Any]
    messages: list[dict[str, Any]]
    step_errors: dict[str, int]  # error kind (bad_arguments, tool_error, parse_error, ...) -> steps
    steps: list[dict[str, Any]] = field(default_factory=list)  # step, name, kwargs_json, observation, requestor

    @property
    def breakdown(self) -> dict[str, Any]:
        return codec.breakdown(self.row)

    @property
    def task(self) -> dict[str, Any]:
        return codec.task_data(self.row)


def _dicts(store: RecordingStore, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    columns, rows = store.query(sql, params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def resolve(store: RecordingStore, given: str) -> str:
    """The full episode id for ``given``: the id itself, a prefix of at least MIN_PREFIX characters
    that only one episode has, or ``RUN/TASK/TRIAL`` (``RUN/TASK`` when the task has one trial)."""
    if "/" in given:
        return resolve_path(store, given)
    matches = _dicts(
        store,
        "SELECT DISTINCT episode_id, run_id, domain, task_id, trial FROM episodes "
        "WHERE starts_with(episode_id, $1) ORDER BY episode_id LIMIT 6",
        [given],
    )
    exact = [m for m in matches if m["episode_id"] == given]
    if exact:
        return given
    if not matches:
        raise EpisodeNotFoundError(f"no episode id starts with {given!r}; {LIST_IDS_HINT}")
    if len(given) < MIN_PREFIX:
        raise EpisodeNotFoundError(f"give at least {MIN_PREFIX} characters of the episode id (got {given!r})")
    if len(matches) > 1:
        listed = printable(
            ", ".join(
                f"{m['episode_id']} ({m['run_id']} {m['domain']}/{m['task_id']} #{m['trial']})" for m in matches[:5]
            )
        )
        raise EpisodeNotFoundError(f"{given!r} is the start of several episode ids: {listed}; give more characters")
    return matches[0]["episode_id"]


def resolve_path(store: RecordingStore, given: str) -> str:
    run_id, _, rest = given.partition("/")
    task_id, _, trial = rest.partition("/")
    if not run_id or not task_id or (trial and not trial.isdigit()):
        raise EpisodeNotFoundError(
            f"expected RUN/TASK/TRIAL (e.g. airline-oracle-scripted-1a2b3c4d/airline-test-000/0), got {given!r}"
        )
    matches = _dicts(
        store,
        "SELECT episode_id, trial FROM episodes WHERE run_id = $1 AND task_id = $2 ORDER BY trial",
        [run_id, task_id],
    )
    if trial:
        matches = [m for m in matches if m["trial"] == int(trial)]
    if len(matches) == 1:
        return matches[0]["episode_id"]
    if len(matches) > 1:
        trials = ", ".join(str(m["trial"]) for m in matches)
        raise EpisodeNotFoundError(
            f"{run_id}/{task_id} has trials {trials}: add /TRIAL, e.g. {given}/{matches[0]['trial']}"
        )
    runs = [r["run_id"] for r in _dicts(store, "SELECT DISTINCT run_id FROM episodes ORDER BY run_id", [])]
    if run_id not in runs:
        raise EpisodeNotFoundError(
            f"no run {run_id!r} in the recording{_did_you_mean(run_id, runs)}; runs: {printable(', '.join(runs[:10]))}"
        )
    tasks = [r["task_id"] for r in _dicts(store, "SELECT DISTINCT task_id FROM episodes WHERE run_id = $1", [run_id])]
    if task_id not in tasks:
        raise EpisodeNotFoundError(f"run {run_id!r} has no task {task_id!r}{_did_you_mean(task_id, tasks)}")
    raise EpisodeNotFoundError(f"run {run_id!r} has no trial {trial} of task {task_id!r}")


def _did_you_mean(given: str, known: list[str]) -> str:
    close = difflib.get_close_matches(given, known, n=1)
    return f" (did you mean {printable(close[0])!r}?)" if close else ""


def load(store: RecordingStore, episode_id: str) -> Episode:
    (row,) = _dicts(store, "SELECT * FROM episodes WHERE episode_id = $1 LIMIT 1", [episode_id])
    messages = _dicts(
        store,
        "SELECT idx, role, content, tool_calls_json, name FROM messages WHERE episode_id = $1 ORDER BY idx",
        [episode_id],
    )
    _, errors = store.query(
        "SELECT error, count(*) FROM steps WHERE episode_id = $1 AND error IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1",
        [episode_id],
    )
    steps = _dicts(
        store,
        "SELECT step, name, kwargs_json, observation, requestor FROM steps WHERE episode_id = $1 ORDER BY step",
        [episode_id],
    )
    return Episode(row, messages, {kind: int(n) for kind, n in errors}, steps)


# ---------------------------------------------------------------- the database diff


def field_diff(expected: Any, actual: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(field path, gold value, actual value) for every leaf where two records differ; a record or
    field only one side has shows :data:`ABSENT` on the other."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        diffs = []
        for key in sorted(set(expected) | set(actual), key=str):
            sub = f"{path}.{key}" if path else str(key)
            diffs += field_diff(expected.get(key, ABSENT), actual.get(key, ABSENT), sub)
        return diffs
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        diffs = []
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            diffs += field_diff(e, a, f"{path}[{index}]")
        return diffs
    return [] if expected == actual else [(path or "(record)", expected, actual)]


# ---------------------------------------------------------------- rendering


def call_text(name: str, kwargs: dict[str, Any]) -> str:
    """A call as ``name(key=value, ...)`` with JSON values: how the gold actions read in the task files."""
    args = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in kwargs.items())
    return f"{name}({args})"


def shorten(text: str, full: bool, max_chars: int = OBSERVATION_CHARS, max_lines: int = OBSERVATION_LINES) -> Text:
    """The text cut at max_lines lines or max_chars characters, saying how much was left out."""
    if full:
        return Text(text)
    lines = text.splitlines() or [""]
    kept = "\n".join(lines[:max_lines])
    if len(kept) > max_chars:
        kept = kept[:max_chars]
    result = Text(kept)
    hidden = len(text) - len(kept)
    if hidden > 0:
        result.append(f" … (+{hidden:,} characters; --full shows all)", style="dim italic")
    return result


def tool_calls_of(message: dict[str, Any]) -> list[tuple[str, dict[str, Any] | str]]:
    """(name, arguments) of each call; arguments that are not a JSON object stay raw text."""
    calls = []
    for call in codec.tool_calls(message["tool_calls_json"]):
        function = call.get("function") or {}
        raw = function.get("arguments") or "{}"
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError:
            args = raw
        calls.append((function.get("name", "?"), args if isinstance(args, dict) else str(raw)))
    return calls


def observation(content: str, full: bool) -> Text:
    """A tool's answer; an error (bad call, failing tool, unparseable text) in red."""
    text = shorten(content, full)
    if content.startswith("Error"):
        text.stylize("bold red", 0, len(content) if full else min(len(content), OBSERVATION_CHARS))
    return text


def message_body(message: dict[str, Any], full: bool) -> tuple[str, Text]:
    """The label and text of one message."""
    role, content = printable(message["role"]), printable(message["content"] or "")
    if role == "system":
        lines = content.splitlines()
        if full or len(lines) <= SYSTEM_LINES:
            return "system", Text(content, style="dim")
        body = Text("\n".join(lines[:SYSTEM_LINES]), style="dim")
        body.append(
            f"\n… ({len(lines) - SYSTEM_LINES} more lines of system prompt; --full shows all)", style="dim italic"
        )
        return "system", body
    if role == "assistant":
        calls = tool_calls_of(message)
        body = Text(content) if content else Text()
        for name, args in calls:
            if body:
                body.append("\n")
            body.append("→ ", style="cyan")
            call = call_text(name, args) if isinstance(args, dict) else f"{name}({args})"
            body.append(printable(call), style="bold")
        return "assistant", body
    if role == "tool":
        return "tool", observation(content, full)  # its name is the call just above
    if role == "user" and content.startswith(TOOL_RESPONSE_TAG):  # a text-only endpoint's tool answer
        inner = content.removeprefix(TOOL_RESPONSE_TAG).removesuffix("</tool_response>").strip()
        return "tool", observation(inner, full)
    return role, Text(content)


def header(episode: Episode) -> Panel:
    row = episode.row
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    reward = row["reward"] or 0.0
    style = "green" if passed(reward) else ("yellow" if reward > 0 else "red")
    fields: list[tuple[str, str | Text]] = [
        ("episode", row["episode_id"]),
        ("run", f"{row['run_id']}  (agent {row['agent']}, user {row['user_strategy']})"),
        ("task", f"{row['domain']}/{row['task_id']}  split {row['split']}, trial {row['trial']}"),
        ("reward", Text(f"{reward:.3f}", style=f"bold {style}")),
        *(reward_fields(episode) if row["breakdown_json"] else []),
        ("ended by", ending(row)),
    ]
    if row.get("error"):
        fields.append(("error", Text(printable(row["error"]), "bold red")))
    if episode.step_errors:
        counts = ", ".join(f"{n} {kind}" for kind, n in episode.step_errors.items())
        fields.append(("step errors", Text(printable(counts), "red")))
    if row["source_reward"] is not None:
        fields.append(("source reward", f"{row['source_reward']:.3f}"))
    for label, value in fields:
        grid.add_row(label, value if isinstance(value, Text) else Text(printable(value)))
    return Panel(grid, title="episode", title_align="left")


def reward_fields(episode: Episode) -> list[tuple[str, str | Text]]:
    """The reward components of a finished episode."""
    row, b = episode.row, episode.breakdown
    missing_outputs = b.get("outputs_missing") or []
    expected_outputs = b.get("outputs_expected") or []
    matched, missing = b.get("actions_matched") or [], b.get("actions_missing") or []
    differing = len(b.get("db_diff") or [])
    return [
        ("basis", f"{row['reward_basis']}" + (" (trivially passable)" if row["trivially_passable"] else "")),
        (
            "db match",
            Text("yes", "green") if row["db_match"] else Text(f"no ({differing} record(s) differ, below)", "red"),
        ),
        (
            "outputs",
            "none expected"
            if not expected_outputs
            else (Text(f"missing {', '.join(map(repr, missing_outputs))}", "red") if missing_outputs else "all said"),
        ),
        ("actions", f"{len(matched)} matched, {len(missing)} missing (score {row['actions_score']:.2f})"),
    ]


def ending(row: dict[str, Any]) -> str | Text:
    text = f"{row['terminated_by']} after {row['steps']} step(s), {row['n_tool_calls']} tool call(s)"
    if not row["breakdown_json"]:  # errored, interrupted or truncated: never scored
        return Text(text + " (did not finish: no reward components)", "bold red")
    return text


def db_diff_table(episode: Episode) -> Table | None:
    """Each field where the final database differs from the gold one: table, record, field, gold, actual."""
    diffs = episode.breakdown.get("db_diff") or []
    if not diffs:
        return None
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for column in ("table", "record", "field", "gold", "actual"):
        table.add_column(column, overflow="fold")
    for diff in diffs:
        expected, actual = diff.get("expected"), diff.get("actual")
        if expected is None or actual is None:  # the record exists on one side only
            fields = [("(record)", ABSENT if expected is None else "present", ABSENT if actual is None else "present")]
        else:
            fields = field_diff(expected, actual)
        for path, gold, got in fields:
            table.add_row(
                Text(printable(diff["table"])),
                Text(printable(str(diff["key"]))),
                Text(printable(path)),
                Text(_value(gold), "green"),
                Text(_value(got), "red"),
            )
    return table


def _value(value: Any) -> str:
    text = value if value == ABSENT or value == "present" else json.dumps(value, ensure_ascii=False)
    text = printable(text)
    return text if len(text) <= DIFF_VALUE_CHARS else text[:DIFF_VALUE_CHARS] + "…"


def gold_actions(episode: Episode) -> Table | None:
    """The task's gold actions, each marked matched (✓), missed (✗) or not scored (·)."""
    b = episode.breakdown
    scored = [a for a in episode.task.get("actions") or [] if a["name"] != "respond"]
    if not scored:
        return None
    matched, missing = set(b.get("actions_matched") or []), set(b.get("actions_missing") or [])
    table = Table.grid(padding=(0, 1))
    for index, action in enumerate(scored):
        mark = (
            Text("✓", "green")
            if index in matched
            else (Text("✗", "bold red") if index in missing else Text("·", "dim"))
        )
        table.add_row(mark, Text(printable(call_text(action["name"], action.get("kwargs") or {}))))
    return table


def render(console: Console, episode: Episode, full: bool = False) -> None:
    console.print(header(episode))
    task = episode.task
    parts: list[Any] = [Text(printable(task.get("instruction", "")))]
    gold = gold_actions(episode)
    if gold is not None:
        parts += [Text("\ngold actions", style="bold"), gold]
    console.print(Panel(Group(*parts), title="task", title_align="left"))
    diff = db_diff_table(episode)
    if diff is not None:
        console.print(
            Panel(diff, title="database: where the final state differs from the gold one", title_align="left")
        )
    transcript = Table.grid(padding=(0, 1, 1, 0))
    transcript.add_column(justify="right", no_wrap=True, min_width=9)
    transcript.add_column(ratio=1)
    user_calls = user_tool_calls(episode)
    for index, message in enumerate([*episode.messages, None]):
        for step in user_calls.get(index, ()):
            kwargs = codec.kwargs(step["kwargs_json"])
            call = Text("→ ", style="green")
            call.append(printable(call_text(step["name"], kwargs)), style="bold")
            transcript.add_row(Text("user", style=ROLE_STYLES["user"]), call)
            transcript.add_row(
                Text("tool", style=ROLE_STYLES["tool"]), observation(printable(step["observation"] or ""), full)
            )
        if message is not None:
            label, body = message_body(message, full)
            transcript.add_row(Text(label, style=ROLE_STYLES.get(label, "bold")), body)
    counted = f"{len(episode.messages)} messages"
    if user_calls:
        counted += f", {sum(map(len, user_calls.values()))} tool call(s) of the user's own"
    console.rule(f"transcript ({counted})")
    console.print(transcript)


def user_tool_calls(episode: Episode) -> dict[int, list[dict[str, Any]]]:
    """The simulated user's own tool calls (τ²'s dual control; the agent never saw them) by the index
    of the message they come before: those made before the user's opening message come before it,
    those made while answering the agent come before that answer."""
    placed: dict[int, list[dict[str, Any]]] = {}
    if not any(s["requestor"] == "user" for s in episode.steps):
        return placed
    from taurl.core.types import Task
    from taurl.review.replay import history as task_history

    history = len(task_history(Task.from_dict(episode.task)))  # before the user's opening (τ² tasks may have one)
    # the agent's steps, in order, are its assistant messages after the system prompt and the history
    turns = [i for i, m in enumerate(episode.messages) if m["role"] == "assistant" and i > history]
    agent_steps = -1
    for step in episode.steps:
        if step["requestor"] != "user":
            agent_steps += 1
            continue
        if agent_steps < 0:
            before = min(1 + history, len(episode.messages))
        else:
            before = turns[agent_steps] + 1 if agent_steps < len(turns) else len(episode.messages)
        placed.setdefault(before, []).append(step)
    return placed


def show(
    recordings: list[str], given: str, console: Console, full: bool = False, limits: QueryLimits | None = None
) -> str:
    """Print the episode ``given`` names (its id or a unique prefix); returns the full id."""
    store = RecordingStore(recordings, limits)
    try:
        episode_id = resolve(store, given)
        render(console, load(store, episode_id), full)
    finally:
        store.close()
    return episode_id
