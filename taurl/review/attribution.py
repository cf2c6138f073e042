"""Judging recordings with a judge model: re-judging assertions for ``rescore`` and failure
attribution for ``taurl judge --rubric faults``.

Failure attribution asks the judge, for each failed episode, whose fault the failure was: the
agent's (with its kind: bad arguments, a wrong or missing action, ...), the simulated user's (it
broke its instructions or ended early: such episodes teach an RL policy the wrong thing), the
task's (a defect in its gold or instruction) or the environment's (an error that ended it). The
verdicts are stored as ``rescores`` rows (``rescore_id`` ``faults-<config hash>``, the episode's
reward unchanged, the verdict and the judge's model calls in ``breakdown_json``), so they are
recorded like every model call, and ``replay`` re-asks the judge from those calls offline.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taurl.core.hashing import canonical_json, sha256_hex
from taurl.core.reward_judge import json_payload, transcript_text
from taurl.core.types import ModelCall
from taurl.episodes.config import DEFAULT_CACHE_DIR, Endpoint, RunConfig, chat_client
from taurl.llm.cache import CacheMode, ReplayMissError, ResponseCache
from taurl.llm.client import ChatClient, ClientLimits
from taurl.record import codec
from taurl.record.predicates import failed_sql
from taurl.record.schema import model_call_rows
from taurl.record.store import RecordingStore
from taurl.record.writer import RecordingWriter

RUBRICS = ("faults",)
FAULTS_PROMPT_VERSION = "faults-v1"
FAULTS_NAMESPACE = "judge"
CATEGORIES = ("agent_error", "user_error", "task_defect", "environment_error")
UNATTRIBUTED = "unattributed"  # the judge's answer could not be read: flagged, never guessed
FAULTS_SYSTEM = f"""You find why a customer-service episode failed (prompt {FAULTS_PROMPT_VERSION}). An Agent with tools served a simulated Customer who followed an instruction; the episode did not earn full reward.
Choose the one category that caused the failure:
- agent_error: the agent's fault; kind one of bad_arguments, unknown_tool, wrong_action, missing_action, policy_violation, wrong_information, premature_transfer, no_progress;
- user_error: the simulated customer's fault; kind one of ended_early (left before the goal was reached), broke_instructions (asked for something else, invented facts, withheld what the instruction gives);
- task_defect: the task itself is wrong; kind one of gold_wrong, instruction_ambiguous, unachievable;
- environment_error: the episode ended in an error outside the conversation; kind exception.
Answer with JSON only: {{"category": "...", "kind": "...", "reason": "one sentence citing the transcript"}}"""


def judge_client(
    model: str,
    base_url: str | None = None,
    api_key_env: str = "OPENAI_API_KEY",
    cache_dir: Path = DEFAULT_CACHE_DIR,
    cache_mode: CacheMode = CacheMode.RECORD,
    limits: ClientLimits | None = None,
    cache: ResponseCache | None = None,
) -> ChatClient:
    """The judge's client: temperature 0, the process's one spend ledger, the response cache."""
    config = RunConfig(cache_dir=cache_dir, cache_mode=cache_mode, limits=limits or ClientLimits())
    return chat_client(Endpoint(model, base_url, api_key_env, 0.0), config, cache)


def episode_transcript(row: Mapping[str, Any]) -> str:
    """A recorded episode's transcript as the judge reads it (the same text the live judge saw)."""
    messages = codec.messages(row)
    opening = next((m["content"] or "" for m in messages if m["role"] == "user"), "")
    return transcript_text(opening, ((s.action, s.observation) for s in codec.steps(row)))


@dataclass(frozen=True)
class Attribution:
    episode_id: str
    name: str  # domain/task/trial
    reward: float  # the episode's, unchanged
    category: str
    kind: str
    reason: str
    flags: tuple[str, ...] = ()
    calls: tuple[ModelCall, ...] = field(default=(), compare=False)

    def verdict(self) -> dict[str, Any]:
        return {"category": self.category, "kind": self.kind, "reason": self.reason, "flags": list(self.flags)}


def faults_config(client: ChatClient) -> dict[str, Any]:
    return {"rubric": "faults", "judge_model": client.model, "prompt_version": FAULTS_PROMPT_VERSION}


def faults_id(client: ChatClient) -> str:
    return "faults-" + sha256_hex(canonical_json(faults_config(client)))[:12]


def outcome(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the judge is told about how the episode ended and what the reward found."""
    breakdown = codec.breakdown(row)
    gold = codec.task_data(row).get("actions") or []
    return {
        "terminated_by": row["terminated_by"],
        "error": row["error"],
        "reward": row["reward"],
        "db_match": breakdown.get("db_match"),
        "db_records_differing": [f"{d['table']}/{d['key']}" for d in breakdown.get("db_diff", [])],
        "outputs_missing": breakdown.get("outputs_missing", []),
        "gold_actions_missing": [gold[i]["name"] for i in breakdown.get("actions_missing", []) if i < len(gold)],
    }


def faults_messages(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    task = codec.task(row)
    gold = "\n".join(f"{a.name}({canonical_json(a.kwargs)})" for a in task.actions) or "(none)"
    body = (
        f"<rubric>faults</rubric>\n<instruction>\n{task.instruction}\n</instruction>\n"
        f"<gold_actions>\n{gold}\n</gold_actions>\n<outcome>\n{canonical_json(outcome(row))}\n</outcome>\n"
        f"<transcript>\n{episode_transcript(row)}\n</transcript>"
    )
    return [{"role": "system", "content": FAULTS_SYSTEM}, {"role": "user", "content": body}]


def parse_attribution(content: str) -> tuple[str, str, str, tuple[str, ...]]:
    """(category, kind, reason, flags); an answer that cannot be read is ``unattributed`` and flagged."""
    if not content.strip():
        return UNATTRIBUTED, "", "", ("empty reply",)
    payload = json_payload(content)
    if not isinstance(payload, dict):
        return UNATTRIBUTED, "", "", ("unparseable reply",)
    category = payload.get("category")
    if category not in CATEGORIES:
        return UNATTRIBUTED, "", str(payload.get("reason") or ""), (f"unknown category {category!r}",)
    return category, str(payload.get("kind") or ""), str(payload.get("reason") or ""), ()


def attribute(row: Mapping[str, Any], client: ChatClient) -> Attribution:
    completion = client.complete(faults_messages(row), namespace=FAULTS_NAMESPACE)
    category, kind, reason, flags = parse_attribution(completion.message.get("content") or "")
    name = f"{row['domain']}/{row['task_id']}/{row['trial']}"
    return Attribution(row["episode_id"], name, row["reward"], category, kind, reason, flags, (completion.call,))


def attribute_failures(
    store: RecordingStore, client: ChatClient, where: str = "TRUE", skip: Iterable[str] = ()
) -> list[Attribution]:
    """Attribute each failed episode matching ``where`` (except the ``skip`` episode ids)."""
    done = set(skip)
    rows = [r for r in store.episode_rows(f"({where}) AND {failed_sql()}") if r["episode_id"] not in done]
    return [attribute(row, client) for row in rows]


def attribution_row(attribution: Attribution, client: ChatClient) -> dict[str, Any]:
    """The ``rescores`` row that stores one attribution: the reward unchanged, the verdict and calls."""
    breakdown = {
        **attribution.verdict(),
        "rubric": "faults",
        "prompt_version": FAULTS_PROMPT_VERSION,
        "model": client.model,
        "model_calls": model_call_rows(attribution.calls),
    }
    return {
        "episode_id": attribution.episode_id,
        "rescore_id": faults_id(client),
        "config_json": canonical_json(faults_config(client)),
        "reward": attribution.reward,
        "reward_basis": "faults",
        "breakdown_json": json.dumps(breakdown, ensure_ascii=False, sort_keys=True),
    }


def store_attributions(recording: str, attributions: Iterable[Attribution], client: ChatClient) -> None:
    """Store ``attributions`` in ``recording`` (view ``rescores``) under the judge's faults id."""
    rows = [attribution_row(a, client) for a in attributions]
    RecordingWriter(recording).write_rescores(rows, faults_id(client))


def stored_attributions(store: RecordingStore, rescore_id: str) -> dict[str, dict[str, Any]]:
    """Episode id -> its stored faults verdict (with the judge's recorded calls) under ``rescore_id``."""
    columns, rows = store.query("SELECT episode_id, breakdown_json FROM rescores WHERE rescore_id = ?", [rescore_id])
    return {row["episode_id"]: codec.breakdown(row) for row in (dict(zip(columns, r, strict=True)) for r in rows)}


@dataclass(frozen=True)
class ReplayedAttribution:
    episode_id: str
    recorded: dict[str, Any]
    current: dict[str, Any] | None  # None: the judge's recorded call did not answer this request
    problem: str = ""

    @property
    def identical(self) -> bool:
        return self.current is not None and self.current == {k: self.recorded.get(k) for k in self.current}


def replay_attributions(store: RecordingStore, model: str, rescore_id: str | None = None) -> list[ReplayedAttribution]:
    """Re-ask the judge for every stored attribution from its recorded calls only (no network)."""
    cache = ResponseCache(None)
    client = judge_client(model, cache_mode=CacheMode.REPLAY, cache=cache)
    stored = stored_attributions(store, rescore_id or faults_id(client))
    cache.preload(codec.model_call_entries([{"model_calls": verdict["model_calls"]} for verdict in stored.values()]))
    rows = {r["episode_id"]: r for r in store.episode_rows()} if stored else {}
    results = []
    for episode, verdict in sorted(stored.items()):
        try:
            current = attribute(rows[episode], client).verdict()
            results.append(ReplayedAttribution(episode, verdict, current))
        except ReplayMissError as exc:
            results.append(ReplayedAttribution(episode, verdict, None, str(exc)))
    return results


def attribution_summary(store: RecordingStore) -> list[tuple[str, str, str, int]]:
    """(run, category, kind, episodes) over every stored faults verdict: what the report shows."""
    _, rows = store.query(
        "SELECT e.run_id, json_extract_string(r.breakdown_json, '$.category') AS category, "
        "json_extract_string(r.breakdown_json, '$.kind') AS kind, count(DISTINCT e.episode_id) AS episodes "
        "FROM rescores r JOIN episodes e USING (episode_id) WHERE r.rescore_id LIKE 'faults-%' "
        "GROUP BY ALL ORDER BY 1, 4 DESC, 2, 3"
    )
    return rows


def category_counts(attributions: Iterable[Attribution]) -> Counter[tuple[str, str]]:
    return Counter((a.category, a.kind) for a in attributions)
