"""Spend limits against serve-sim: one ledger for every model, calls in flight reserved before they are sent."""

import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from taurl.llm import client as client_module
from taurl.llm import ledger as ledger_module
from taurl.llm.cache import CacheMode
from taurl.llm.client import (
    BudgetExceededError,
    ChatClient,
    ClientLimits,
    RetryPolicy,
    checked_usage,
    estimate,
    reservation,
)
from taurl.llm.request import ChatRequest
from taurl.sim.server import SimServer

FAST_RETRY = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.05, timeout=1.0)
PATIENT = RetryPolicy(attempts=2, initial_delay=0.01, max_delay=0.05, timeout=30.0)  # waits out calls in flight
THREADS = 16


@pytest.fixture
def sim():
    with SimServer(timeout_delay=3.0) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_ledger(monkeypatch):
    """The process ledger starts empty (earlier tests in this process spent from it too)."""
    monkeypatch.setattr(ledger_module, "_LEDGERS", {})


def process_ledger():
    return ledger_module.ledger_for(None)


def spend_concurrently(clients, calls_each=40):
    """Every thread alternates agent and user calls until one is refused.

    Returns the (model, request, call) of each call sent and the reservation of each call refused."""
    done, refusals, lock = [], [], threading.Lock()

    def worker(thread: int) -> None:
        for i in range(calls_each):
            client = clients[(thread + i) % len(clients)]
            messages = [{"role": "user", "content": f"thread {thread} turn {i} " + "lorem ipsum " * (i % 7)}]
            try:
                completion = client.complete(messages, namespace=client.model)
            except BudgetExceededError as exc:
                with lock:
                    refusals.append((str(exc), reservation(client.request(messages, namespace=client.model))))
                return
            with lock:
                done.append((client.model, client.request(messages, namespace=client.model), completion.call))

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, range(THREADS)))
    return done, refusals


def test_agent_and_user_share_one_token_budget_that_concurrent_calls_cannot_overrun(sim):
    budget = 3000
    agent = ChatClient(
        "sim-agent",
        sim.base_url,
        mode=CacheMode.OFF,
        limits=ClientLimits(max_concurrency=8, max_total_tokens=budget),  # other limits: the ledger is still shared
        retry=PATIENT,
        params={"max_tokens": 48},
    )
    user = ChatClient(
        "sim-user",
        sim.base_url,
        mode=CacheMode.OFF,
        limits=ClientLimits(max_total_tokens=budget),
        retry=PATIENT,
        params={"max_tokens": 48},
    )
    done, refusals = spend_concurrently([agent, user])

    spent, _ = process_ledger().spent()
    used = {
        model: sum(c.prompt_tokens + c.completion_tokens for m, _, c in done if m == model)
        for model in ("sim-agent", "sim-user")
    }
    assert all(reservation(request)[0] >= call.prompt_tokens + call.completion_tokens for _, request, call in done)
    assert spent == used["sim-agent"] + used["sim-user"]  # one ledger, every call charged exactly once
    assert used["sim-agent"] > 0 and used["sim-user"] > 0
    assert spent <= budget  # reservations are upper bounds here, so the budget holds exactly
    # and it was used: each thread stopped only when its next call could not fit even with nothing in flight
    assert spent > budget - min(hold for _, (hold, _) in refusals)
    assert len(refusals) == THREADS and all("token budget of 3000 tokens" in text for text, _ in refusals)
    assert sim.stats()["requests"] == len(done)  # refused calls were never sent
    assert process_ledger().reserved() == (0, 0.0)


def test_underestimated_reservations_overrun_by_at_most_their_shortfall(sim, monkeypatch):
    """With no max_tokens and a low estimate, the overrun is what calls spent beyond their reservation."""
    monkeypatch.setattr(client_module, "DEFAULT_COMPLETION_RESERVE", 1)
    monkeypatch.setattr(client_module, "PROMPT_BYTES_PER_TOKEN", 6)
    budget = 2000
    clients = [
        ChatClient(
            model, sim.base_url, mode=CacheMode.OFF, limits=ClientLimits(max_total_tokens=budget), retry=FAST_RETRY
        )
        for model in ("sim-agent", "sim-user")
    ]
    done, _ = spend_concurrently(clients)

    spent, _ = process_ledger().spent()
    shortfall = sum(max(0, c.prompt_tokens + c.completion_tokens - reservation(r)[0]) for _, r, c in done)
    assert shortfall > 0
    assert spent <= budget + shortfall


def test_a_dollar_budget_is_shared_by_priced_models(sim, monkeypatch):
    monkeypatch.setitem(client_module.PRICES, "sim-agent", (2000.0, 8000.0))  # USD per million tokens
    monkeypatch.setitem(client_module.PRICES, "sim-user", (1000.0, 4000.0))
    budget = 2.0
    clients = [
        ChatClient(
            model,
            sim.base_url,
            mode=CacheMode.OFF,
            limits=ClientLimits(max_cost_usd=budget),
            retry=PATIENT,
            params={"max_tokens": 32},
        )
        for model in ("sim-agent", "sim-user")
    ]
    done, refusals = spend_concurrently(clients)

    _, cost = process_ledger().spent()
    assert cost == pytest.approx(sum(c.cost_usd for _, _, c in done))
    assert {m for m, _, _ in done} == {"sim-agent", "sim-user"}
    assert budget - min(held for _, (_, held) in refusals) < cost <= budget
    assert len(refusals) == THREADS and all("dollar budget of $2.0000" in text for text, _ in refusals)


def test_a_refusal_says_which_budget_what_is_spent_and_reserved_and_sends_nothing(sim):
    client = ChatClient(
        "sim-user", sim.base_url, mode=CacheMode.OFF, limits=ClientLimits(max_total_tokens=100), retry=FAST_RETRY
    )
    messages = [{"role": "user", "content": "hello"}]
    key = client.request(messages).key()
    with pytest.raises(BudgetExceededError) as info:
        client.complete(messages)  # reserves DEFAULT_COMPLETION_RESERVE more than the whole budget
    assert str(info.value) == (
        f"this process's token budget of 100 tokens would be exceeded: 0 spent, 0 reserved by calls in flight, "
        f"this call needs {reservation(client.request(messages))[0]}; request {key[:16]} not sent"
    )
    assert sim.stats()["requests"] == 0


def test_a_call_blocked_only_by_calls_in_flight_waits_for_them(sim):
    messages = [{"role": "user", "content": "same size"}]
    probe = ChatClient("sim-user", sim.base_url, mode=CacheMode.OFF, params={"max_tokens": 16})
    hold = reservation(probe.request(messages))[0]
    client = ChatClient(
        "sim-user",
        sim.base_url,
        mode=CacheMode.OFF,
        limits=ClientLimits(max_total_tokens=2 * hold - 1),  # one reservation at a time, yet both calls fit
        retry=FAST_RETRY,
        params={"max_tokens": 16},
    )
    with ThreadPoolExecutor(2) as pool:
        calls = list(pool.map(lambda i: client.complete(messages, sample_index=i).call, range(2)))
    assert process_ledger().spent()[0] == sum(c.prompt_tokens + c.completion_tokens for c in calls) < 2 * hold


def test_a_timed_out_call_is_charged_its_reservation(sim):
    client = ChatClient("sim-user", sim.base_url, mode=CacheMode.OFF, retry=FAST_RETRY, params={"max_tokens": 16})
    messages = [{"role": "user", "content": "hello"}]
    sim.set_faults(["timeout", "ok"])
    call = client.complete(messages).call
    assert call.attempts == 2
    hold = reservation(client.request(messages))[0]
    assert process_ledger().spent()[0] == hold + call.prompt_tokens + call.completion_tokens


def test_a_run_stops_at_its_budget_across_agent_and_user(sim, tmp_path):
    """The issue's case end to end: ``taurl run --max-tokens-budget`` through the runner, agent and user."""
    from taurl.episodes.config import Endpoint, RunConfig
    from taurl.episodes.runner import execute
    from taurl.registry import get_domain

    budget = 20000
    config = RunConfig(
        domain="retail",
        split="test",
        task_ids=[t.id for t in get_domain("retail").tasks("test")][:8],
        agent="tool-calling",
        agent_endpoint=Endpoint("sim-agent", sim.base_url),
        user="llm",
        user_endpoint=Endpoint("sim-user", sim.base_url),
        cache_mode=CacheMode.OFF,
        limits=ClientLimits(max_total_tokens=budget),
        retry=PATIENT,
    )
    summary = execute(config, tmp_path / "rec", concurrency=4)
    spent, _ = process_ledger().spent()
    calls = [c for r in summary.results for c in r.model_calls]
    assert {c.model for c in calls} == {"sim-agent", "sim-user"}
    assert sum(c.prompt_tokens + c.completion_tokens for c in calls) <= spent <= budget
    assert spent > budget // 2  # it ran until the budget stopped it (8 episodes need far more)


def counts(prompt, completion, total):
    return SimpleNamespace(prompt_tokens=prompt, completion_tokens=completion, total_tokens=total)


@pytest.mark.parametrize(
    ("usage", "flag"),
    [
        (counts(10, 5, 15), None),
        (counts(10, 5, None), None),  # no total: the sum is charged
        (None, "missing"),
        (counts(10, None, None), "missing"),
        (counts(-1, 5, 4), "negative"),
        (counts(10, 5, -104_000_000_000), "negative"),
        (counts(0, 5, 5), "implausible"),  # every request has a prompt
        (counts(10**6, 5, 10**6 + 5), "implausible"),  # more prompt tokens than the prompt has bytes
        (counts(10, 17, 27), "implausible"),  # over the request's max_tokens of 16
        (counts(10, 5, 0), "implausible"),  # a total that is not the sum
        (counts(10.5, 5, 15.5), "implausible"),
        (counts(True, 5, 6), "implausible"),
    ],
)
def test_usage_no_call_could_have_is_charged_at_the_estimate_and_flagged(usage, flag):
    request = ChatRequest("sim-user", [{"role": "user", "content": "hello"}], params={"max_tokens": 16})
    prompt, completion, got = checked_usage(usage, request)
    assert got == flag
    assert (prompt, completion) == (
        (usage.prompt_tokens, usage.completion_tokens) if flag is None else estimate(request)
    )


def test_a_dollar_budget_holds_against_a_server_that_reports_no_usage(sim, monkeypatch):
    monkeypatch.setitem(client_module.PRICES, "sim-agent", (2000.0, 8000.0))  # USD per million tokens
    sim.set_faults(["no-usage"] * 5000)
    budget = 2.0
    client = ChatClient(
        "sim-agent",
        sim.base_url,
        mode=CacheMode.OFF,
        limits=ClientLimits(max_cost_usd=budget),
        retry=PATIENT,
        params={"max_tokens": 32},
    )
    done, refusals = spend_concurrently([client])

    _, cost = process_ledger().spent()
    assert all(call.usage_flag == "missing" for _, _, call in done)
    assert all((call.prompt_tokens, call.completion_tokens) == estimate(request) for _, request, call in done)
    assert cost == pytest.approx(sum(call.cost_usd for _, _, call in done))
    # before usage was checked, these calls cost nothing and the run never stopped
    assert budget - min(held for _, (_, held) in refusals) < cost <= budget
    assert sim.stats()["requests"] == len(done)
