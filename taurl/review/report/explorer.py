"""The report's episode explorer: every episode in a filterable, sortable table, each opening its transcript.

The page carries the data as compact JSON in ``<script type="application/json">`` blocks and renders
rows and transcripts in the browser on demand, so a report over thousands of episodes stays one
file of reasonable size: system prompts are stored once, long observations are cut (``taurl show``
prints them whole), and only the rows on screen are built. Everything from the recording reaches
the page through ``textContent``, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

from taurl.record import codec
from taurl.record.predicates import passed_js, unfinished_js
from taurl.record.store import RecordingStore
from taurl.review.report.markup import esc
from taurl.review.report.queries import episode_rows, episode_transcripts
from taurl.review.show import ABSENT, call_text, field_diff

OBSERVATION_CHARS = 2000
COLUMNS = [
    "id",
    "run",
    "domain",
    "task",
    "trial",
    "reward",
    "ended",
    "errors",
    "cost",
    "turns",
    "seconds",
    "rescored",
]


def episode_table(store: RecordingStore) -> list[list[Any]]:
    """One row per episode of the ``scored`` view, in :data:`COLUMNS` order (errors: failed steps plus
    the episode's own exception; rescored: each rescore's reward, by rescore id)."""
    found = episode_rows(store)
    return [
        [
            r["episode_id"],
            r["run_id"],
            r["domain"],
            r["task_id"],
            r["trial"],
            round(r["reward"], 4),
            r["terminated_by"],
            r["errors"],
            round(r["cost"], 6),
            r["turns"],
            None if r["seconds"] is None else round(r["seconds"], 2),
            r["rescored"],
        ]
        for r in found
    ]


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= OBSERVATION_CHARS:
        return text
    return text[:OBSERVATION_CHARS] + f"… ({len(text) - OBSERVATION_CHARS:,} more characters: taurl show --full)"


def _calls(tool_calls_json: str | None) -> list[list[str]] | None:
    if not tool_calls_json:
        return None
    calls = []
    for call in codec.tool_calls(tool_calls_json):
        function = call.get("function") or {}
        calls.append([str(function.get("name")), str(function.get("arguments"))])
    return calls


def _diff(breakdown: dict[str, Any]) -> list[list[str]]:
    """Each database field that differs from gold: [table, record, field, gold, actual] as JSON text."""
    out = []
    for d in breakdown.get("db_diff") or []:
        expected, actual = d.get("expected"), d.get("actual")
        if expected is None or actual is None:
            fields = [("(record)", ABSENT if expected is None else "present", ABSENT if actual is None else "present")]
        else:
            fields = field_diff(expected, actual)
        for path, gold, got in fields:
            text = [v if v in (ABSENT, "present") else json.dumps(v, ensure_ascii=False) for v in (gold, got)]
            out.append([d["table"], str(d["key"]), path, *text])
    return out


def transcripts(store: RecordingStore) -> tuple[list[str], dict[str, Any]]:
    """(system prompts, episode id -> transcript). A transcript: ``sys`` (index of its system prompt),
    ``m`` ([role, content, [[tool, arguments]] or null, step error or null] per later message; an
    assistant message is one step, so it carries that step's error), ``b`` (the reward breakdown),
    ``err`` (the exception that ended it), ``task`` (instruction, gold actions), ``re`` (rescores)."""
    prompts: dict[str, int] = {}
    found = episode_transcripts(store)
    result = {}
    for r in found:
        messages = sorted(r["messages"] or [], key=lambda m: m["idx"])
        errors = iter(step["error"] for step in sorted(r["trace"] or [], key=lambda s: s["step"]))
        system = None
        if messages and messages[0]["role"] == "system":
            system = prompts.setdefault(messages[0]["content"] or "", len(prompts))
            messages = messages[1:]
        shown = []
        for m in messages:
            error = next(errors, None) if m["role"] == "assistant" else None
            content = _cut(m["content"]) if m["role"] == "tool" else m["content"]
            shown.append([m["role"], content, _calls(m["tool_calls_json"]), error])
        breakdown = codec.breakdown(r)
        task = codec.task_data(r)
        gold = [a for a in task.get("actions", []) if a.get("name") != "respond"]
        result[r["episode_id"]] = {
            "sys": system,
            "m": shown,
            "b": {
                "basis": breakdown.get("basis"),
                "db_match": breakdown.get("db_match"),
                "outputs_missing": breakdown.get("outputs_missing") or [],
                "actions_score": breakdown.get("actions_score"),
                "actions_missing": [
                    _call_text(gold[i]) for i in breakdown.get("actions_missing") or [] if i < len(gold)
                ],
                "diff": _diff(breakdown),
            },
            "err": r["error"],
            "task": {"instruction": task.get("instruction"), "gold": [_call_text(a) for a in gold]},
            "re": r["re"] or [],
        }
    return list(prompts), result


def _call_text(action: dict[str, Any]) -> str:
    return call_text(str(action.get("name")), action.get("kwargs") or {})


def script_json(element_id: str, value: Any) -> str:
    """``value`` as an inert JSON data block; ``<`` is escaped so no text can close the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def explorer(store: RecordingStore) -> str:
    """The episodes section: filters, the table, the transcript panel, the data and the script."""
    table = episode_table(store)
    prompts, episodes = transcripts(store)
    runs = sorted({row[1] for row in table})
    ends = sorted({row[6] for row in table})
    options = "".join(f"<option>{esc(r)}</option>" for r in runs)
    end_options = "".join(f"<option>{esc(e)}</option>" for e in ends)
    heads = "".join(f'<th data-col="{i}">{esc(c)}</th>' for i, c in enumerate(COLUMNS) if c != "id")
    return (
        '<section id="episodes"><h2>Episodes</h2><p class="intro">Every episode; click a row for its transcript '
        "(tool calls with their arguments and observations, errors in red, the reward breakdown and the database "
        "fields that differ from gold). Click a header to sort; the link of an opened episode "
        "(<code>#episode=ID</code>) opens it again. errors: failed steps (bad arguments, unknown tools, tool "
        "errors, unparseable replies) and the exception that ended the episode; cost: agent and user, in USD; "
        "rescored: the rewards of <code>taurl rescore</code>, beside the original.</p>"
        '<div class="filters"><input id="q" type="search" placeholder="search task, episode id, error…" size="34">'
        f'<select id="f-run"><option value="">all runs</option>{options}</select>'
        '<select id="f-outcome"><option value="">passed or failed</option><option value="pass">passed</option>'
        '<option value="fail">failed</option></select>'
        f'<select id="f-ended"><option value="">however ended</option>{end_options}</select>'
        '<label><input id="f-errors" type="checkbox"> with errors</label> <span id="count" class="muted"></span></div>'
        f'<table id="episode-table"><thead><tr>{heads}</tr></thead><tbody></tbody></table>'
        '<button id="more" type="button" hidden>show more</button>'
        '<div id="transcript" hidden></div>'
        + script_json("episode-rows", {"columns": COLUMNS, "rows": table})
        + script_json("episode-prompts", prompts)
        + script_json("episode-transcripts", episodes)
        + f"<script>{SCRIPT}</script></section>"
    )


# the page's pass and finish rules are the core's (taurl.record.predicates)
SCRIPT = (
    f"""
(function () {{
  const passed = (reward) => {passed_js("reward")};
  const unfinished = (ended) => {unfinished_js("ended")};
"""
    + r"""  const data = JSON.parse(document.getElementById('episode-rows').textContent);
  const rows = data.rows, PAGE = 200;
  let prompts = null, transcripts = null, sortCol = null, sortDir = 1, shown = PAGE;
  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const fmt = (c, v) => v === null ? '—' : c === 5 ? v.toFixed(3) : c === 8 ? '$' + v.toFixed(4) : String(v);
  function matching() {
    const q = $('q').value.trim().toLowerCase(), run = $('f-run').value, out = $('f-outcome').value;
    const ended = $('f-ended').value, errs = $('f-errors').checked;
    let list = rows.filter((r) => (!run || r[1] === run) && (!ended || r[6] === ended)
      && (!out || (out === 'pass') === passed(r[5])) && (!errs || r[7] > 0)
      && (!q || [r[0], r[2], r[3], r[6], r[1]].join(' ').toLowerCase().includes(q)
          || (transcriptsLoaded() && ((transcripts[r[0]] || {}).err || '').toLowerCase().includes(q))));
    if (sortCol !== null) {
      list = list.slice().sort((a, b) => {
        const x = a[sortCol], y = b[sortCol];
        if (x === y) return 0;
        if (x === null) return 1;
        if (y === null) return -1;
        return (x < y ? -1 : 1) * sortDir;
      });
    }
    return list;
  }
  function transcriptsLoaded() {
    if (transcripts === null) {
      prompts = JSON.parse($('episode-prompts').textContent);
      transcripts = JSON.parse($('episode-transcripts').textContent);
    }
    return true;
  }
  function render() {
    const list = matching(), body = document.querySelector('#episode-table tbody');
    body.replaceChildren();
    for (const r of list.slice(0, shown)) {
      const tr = el('tr', passed(r[5]) ? 'pass' : 'fail');
      tr.dataset.episode = r[0];
      for (let c = 1; c < r.length; c++) {
        const td = el('td', [4, 5, 7, 8, 9, 10].includes(c) ? 'num' : '', fmt(c, r[c]));
        if (c === 7 && r[c] > 0) td.classList.add('bad');
        if (c === 6 && unfinished(r[c])) td.classList.add('bad');
        tr.appendChild(td);
      }
      tr.addEventListener('click', () => open(r[0]));
      body.appendChild(tr);
    }
    $('count').textContent = `${Math.min(shown, list.length)} of ${list.length} shown (${rows.length} episodes)`;
    $('more').hidden = list.length <= shown;
  }
  function block(title, parent) {
    const d = el('div', 'block');
    d.appendChild(el('h4', '', title));
    parent.appendChild(d);
    return d;
  }
  function open(id) {
    transcriptsLoaded();
    const t = transcripts[id], r = rows.find((x) => x[0] === id), panel = $('transcript');
    if (!t || !r) return;
    panel.replaceChildren();
    panel.hidden = false;
    const head = el('div', 'thead');
    head.appendChild(el('h3', '', `${r[1]} · ${r[2]}/${r[3]} · trial ${r[4]}`));
    head.appendChild(el('code', '', id));
    const close = el('button', '', 'close');
    close.type = 'button';
    close.addEventListener('click', () => { panel.hidden = true; history.replaceState(null, '', '#episodes'); });
    head.appendChild(close);
    panel.appendChild(head);
    const b = t.b, score = block('Reward', panel);
    const facts = [['reward', fmt(5, r[5])], ['basis', b.basis], ['ended by', r[6]],
      ['db match', b.db_match === null || b.db_match === undefined ? '—' : (b.db_match ? 'yes' : 'no')],
      ['actions score', b.actions_score === null || b.actions_score === undefined ? '—' : b.actions_score.toFixed(3)]];
    for (const [rid, reward, basis] of t.re) facts.push([`rescored ${rid}`, `${reward} (${basis})`]);
    const dl = el('dl');
    for (const [k, v] of facts) { dl.appendChild(el('dt', '', k)); dl.appendChild(el('dd', '', v)); }
    score.appendChild(dl);
    if (t.err) score.appendChild(el('pre', 'error', t.err));
    if (b.outputs_missing.length) score.appendChild(el('p', 'error', 'outputs never said: ' + b.outputs_missing.join(', ')));
    if (b.actions_missing.length) {
      score.appendChild(el('p', '', 'gold actions not performed:'));
      for (const a of b.actions_missing) score.appendChild(el('code', 'call missing', a));
    }
    if (b.diff.length) {
      const table = el('table', 'diff'), hr = el('tr');
      for (const h of ['table', 'record', 'field', 'gold', 'actual']) hr.appendChild(el('th', '', h));
      table.appendChild(hr);
      for (const d of b.diff) {
        const tr = el('tr');
        d.forEach((v, i) => tr.appendChild(el('td', i === 3 ? 'gold' : i === 4 ? 'bad' : '', v)));
        table.appendChild(tr);
      }
      score.appendChild(el('p', '', 'database fields that differ from gold:'));
      score.appendChild(table);
    }
    const task = block('Task', panel);
    task.appendChild(el('p', '', t.task.instruction));
    for (const a of t.task.gold) task.appendChild(el('code', 'call', a));
    const conv = block('Transcript', panel);
    if (t.sys !== null) {
      const sys = el('details', 'msg system');
      sys.appendChild(el('summary', '', 'system prompt'));
      sys.appendChild(el('pre', '', prompts[t.sys]));
      conv.appendChild(sys);
    }
    let failed = false;
    for (const [role, content, calls, error] of t.m) {
      const m = el('div', 'msg ' + role + (error || (role === 'tool' && failed) ? ' has-error' : ''));
      m.appendChild(el('span', 'role', role + (error ? ` · ${error}` : '')));
      if (content) m.appendChild(el('pre', '', content));
      for (const [name, args] of calls || []) m.appendChild(el('code', 'call', `→ ${name}(${args})`));
      conv.appendChild(m);
      if (role === 'assistant') failed = Boolean(error);
    }
    history.replaceState(null, '', '#episode=' + id);
    panel.scrollIntoView();
  }
  document.querySelectorAll('#episode-table th').forEach((th) => th.addEventListener('click', () => {
    const c = Number(th.dataset.col);
    sortDir = sortCol === c ? -sortDir : 1;
    sortCol = c;
    document.querySelectorAll('#episode-table th').forEach((h) => h.classList.remove('asc', 'desc'));
    th.classList.add(sortDir > 0 ? 'asc' : 'desc');
    render();
  }));
  for (const id of ['q', 'f-run', 'f-outcome', 'f-ended', 'f-errors']) {
    $(id).addEventListener('input', () => { shown = PAGE; render(); });
  }
  $('more').addEventListener('click', () => { shown += PAGE; render(); });
  document.addEventListener('click', (event) => {
    const link = event.target.closest('[data-show-task]');
    if (!link) return;
    $('q').value = link.dataset.showTask;
    shown = PAGE;
    render();
  });
  render();
  if (location.hash.startsWith('#episode=')) open(decodeURIComponent(location.hash.slice(9)));
})();
"""
)

CSS = """
.filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin: 8px 0; }
.filters input, .filters select, #transcript button, #more { font: inherit; padding: 3px 6px; }
#episode-table th { cursor: pointer; user-select: none; }
#episode-table th.asc::after { content: " ▲"; } #episode-table th.desc::after { content: " ▼"; }
#episode-table tbody tr { cursor: pointer; }
#episode-table tbody tr:hover { background: #eef4ff; }
#episode-table tr.pass td:nth-child(5) { color: var(--up); }
#episode-table tr.fail td:nth-child(5) { color: var(--down); }
td.bad, .bad { color: var(--down); font-weight: 600; }
td.gold { color: var(--up); }
#transcript { border: 2px solid #0969da; border-radius: 8px; padding: 10px 16px; margin: 12px 0; }
#transcript .thead { display: flex; gap: 12px; align-items: baseline; }
#transcript .thead button { margin-left: auto; }
#transcript h4 { margin: 14px 0 4px; font-size: 14px; }
#transcript dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 4px 0; }
#transcript dt { color: var(--muted); } #transcript dd { margin: 0; }
#transcript pre { white-space: pre-wrap; word-break: break-word; margin: 2px 0; font: 12px/1.4 ui-monospace,
    "DejaVu Sans Mono", monospace; }
#transcript code.call { display: block; margin: 2px 0; white-space: pre-wrap; word-break: break-word; }
#transcript code.missing { color: var(--down); }
.msg { border-left: 4px solid var(--line); padding: 4px 10px; margin: 6px 0; }
.msg .role { font-weight: 600; font-size: 12px; text-transform: uppercase; color: var(--muted); }
.msg.user { border-color: #1a7f37; } .msg.assistant { border-color: #0969da; } .msg.tool { border-color: #8250df; }
.msg.has-error { border-color: var(--down); background: #fff0f0; }
.msg.has-error .role, pre.error, p.error { color: var(--down); }
"""
