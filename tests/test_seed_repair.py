"""Repairing the seed system's tasks: each repair justified and recorded, task-local initial state,
hazards rejected by default, and the whole file through `taurl data repair`."""

import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from taurl.agent.oracle import OracleAgent
from taurl.agent.silent import SilentAgent
from taurl.core.env import DomainEnv
from taurl.core.types import Action, Task
from taurl.episodes.rollout import EpisodeSpec, RolloutConfig, run_episode
from taurl.importers.repair import render_persona, repair_task
from taurl.importers.seed_funnel import hazards
from taurl.registry import get_domain
from taurl.skyrl.dataset import task_row
from taurl.skyrl.env import task_from_extras
from taurl.users.scripted import ScriptedUser
from tests.conftest import CTU, REPO, TAUBENCH, require

PERSONA = "Your name is Winston Mbeki and your email is winston.mbeki184@email.com."


def telecom_task(*actions, instruction=PERSONA + " Check your usage.", user="TC001"):
    return Task("t1", "telecom", instruction, tuple(actions), split="train", user_id=user, tool_set="seed")


def repaired(task):
    domain = get_domain(task.domain)
    return repair_task(task, domain.tools_for("seed"), domain.database())


def test_renames_drops_and_placeholders_are_recorded_with_their_evidence():
    outcome = repaired(
        telecom_task(
            Action("get_customer_info", {"user_id": "TC001", "email": "x@example.com"}),
            Action("get_line_details", {"line_id": "primary"}),
        )
    )
    assert outcome.reason is None
    assert [a.to_dict() for a in outcome.task.actions] == [
        {"name": "get_customer_info", "kwargs": {"customer_id": "TC001"}},
        {"name": "get_line_details", "kwargs": {"line_id": "L0001"}},
    ]
    kinds = {(r.kind, r.action) for r in outcome.repairs}
    assert {("rename", 0), ("drop", 0), ("placeholder", 1)} <= kinds
    drop = next(r for r in outcome.repairs if r.kind == "drop")
    assert drop.change == {"dropped": {"email": "x@example.com"}}  # kept in the provenance
    assert "record key of customers" in next(r for r in outcome.repairs if r.kind == "rename").evidence
    assert outcome.task.metadata["repairs"] == [r.to_dict() for r in outcome.repairs]
    # the gold acts on TC001, so the instruction now says who the user is
    assert "Your customer ID is TC001." in outcome.task.instruction


def test_an_unjustifiable_value_leaves_the_task_rejected_with_the_reason():
    several_lines = repaired(telecom_task(Action("get_line_details", {"line_id": "primary"}), user="TC002"))
    assert "3 lines of the task's user TC002 qualify" in several_lines.reason
    symbolic = repaired(
        telecom_task(
            Action("process_payment", {"customer_id": "TC001", "amount": "outstanding", "payment_method": "x"})
        )
    )
    assert "amount must be number" in symbolic.reason


def test_a_persona_that_disagrees_with_the_record_patches_the_record_never_the_gold():
    instruction = "Your name is Ada Lovelace and your email is ada@example.com. Check your usage."
    outcome = repaired(telecom_task(Action("get_customer_info", {"user_id": "TC001"}), instruction=instruction))
    record = outcome.task.initial_state["customers"]["TC001"]
    assert (record["name"], record["email"]) == ("Ada Lovelace", "ada@example.com")
    assert outcome.task.actions[0].kwargs == {"customer_id": "TC001"} and outcome.task.user_id == "TC001"


def test_a_named_restaurant_the_database_lacks_is_cloned_from_what_the_tasks_search_returns():
    db = get_domain("doordash").database()
    task = Task(
        "d1",
        "doordash",
        "Find Vietnamese food, then check 'Pho Real' and its menu.",
        (
            Action("search_restaurants", {"cuisine": "Vietnamese"}),
            Action("get_restaurant_details", {"restaurant_name": "Pho Real"}),
            Action("get_restaurant_menu", {"restaurant_id": "Pho Real"}),
        ),
        tool_set="seed",
    )
    outcome = repair_task(task, get_domain("doordash").tools_for("seed"), db)
    assert outcome.reason is None
    state = next(r for r in outcome.repairs if r.kind == "state")
    key, source = state.change["key"], state.change["cloned_from"]
    assert key not in db["restaurants"] and db["restaurants"][source]["cuisine"] == "Vietnamese"
    record = outcome.task.initial_state["restaurants"][key]
    changed = {k for k in record if record[k] != db["restaurants"][source][k]}
    assert changed == set(state.change["changed"]) == {"name", "id", "restaurant_id"}
    assert [a.kwargs["restaurant_id"] for a in outcome.task.actions[1:]] == [key, key]
    assert hazards(outcome.task, get_domain("doordash").tools_for("seed"), db, {}) == []
    unsearched = Task("d2", "doordash", "Check 'Pho Real'.", task.actions[1:], tool_set="seed")
    by_id = repair_task(unsearched, get_domain("doordash").tools_for("seed"), db)  # reachable by the id it is given
    assert by_id.task.instruction == f"Check 'Pho Real'. The ID of Pho Real is {key}."


def healthcare_task(*actions, instruction="Your name is Ada Lovelace and your email is ada@example.com."):
    return Task("h1", "healthcare", instruction, tuple(actions), user_id="P001", tool_set="seed")


def test_a_named_doctor_no_search_reaches_is_cloned_by_kind_and_the_instruction_gives_its_id():
    db = get_domain("healthcare").database()
    task = healthcare_task(
        Action("get_doctor_availability", {"doctor_name": "Dr. Ada Byron", "week": "next"}),
        instruction="Check Dr. Ada Byron, a cardiologist, for next week.",
    )
    outcome = repaired(task)
    assert outcome.reason is None
    key = outcome.task.actions[0].kwargs["doctor_id"]
    record = outcome.task.initial_state["doctors"][key]
    assert key not in db["doctors"] and record["specialty"] == "Cardiology" and record["name"] == "Dr. Ada Byron"
    assert outcome.task.instruction.endswith(f"The ID of Dr. Ada Byron is {key}.")
    assert hazards(outcome.task, get_domain("healthcare").tools_for("seed"), db, {}) == []
    booked = healthcare_task(
        Action("book_appointment", {"patient_id": "P001", "doctor_name": "Dr. Ada Byron"}),
        instruction="Book Dr. Ada Byron.",
    )
    assert "no lookup by id" in repaired(booked).reason


def test_a_category_search_becomes_one_lookup_per_record_and_reasoning_that_cannot_run_is_left_out():
    db = get_domain("healthcare").database()
    cardiologists = sorted(k for k, d in db["doctors"].items() if d["specialty"] == "Cardiology")
    outcome = repaired(
        healthcare_task(
            Action("think", {"note": "find cardiologists", "user_id": "P001"}),
            Action("get_doctor_availability", {"specialty": "cardiologist", "radius": "10"}),
            Action("think", {"steps": 2}),  # no text to think
        )
    )
    assert outcome.reason is None and 1 <= len(cardiologists) <= 3
    assert [a.to_dict() for a in outcome.task.actions] == [
        {"name": "think", "kwargs": {"thought": "find cardiologists"}},
        *({"name": "get_doctor_availability", "kwargs": {"doctor_id": k}} for k in cardiologists),
    ]
    assert all(k in outcome.task.instruction for k in cardiologists)
    kinds = {(r.kind, r.action) for r in outcome.repairs}
    assert {("rename", 0), ("drop", 0), ("expand", 1), ("unscored", 2)} <= kinds
    paediatric_cardiology = healthcare_task(Action("get_doctor_availability", {"specialty": "pediatric cardiology"}))
    assert "which no offered tool can, and 0 records" in repaired(paediatric_cardiology).reason


def test_the_seed_prompt_states_only_what_the_offered_tools_can_do():
    domain = get_domain("telecom")
    tools = domain.tools_for("seed")
    absent = set(domain.tools.names) - set(tools.names)
    policy = domain.policy_for("seed")
    rules = {r for r in domain.policy_rules() if f"[{r}]" in policy}
    assert rules == {"R1", "R2", "R3", "R4", "R6"}  # R5, R7-R12 need plan, roaming, refill, reactivation tools
    assert "sell data refills" not in policy and "suspend their lines" in policy
    described = json.dumps(tools.openai_schemas())
    assert not [name for name in absent if name in described or name in policy]
    assert "get_account_balance" in domain.tools["process_payment"].description  # the full tool set keeps it
    assert domain.policy_for("default") == domain.policy
    row = task_row(telecom_task(Action("get_customer_info", {"customer_id": "TC001"})))
    assert row["prompt"][0]["content"].startswith(policy.strip())


def test_initial_state_is_applied_on_reset_hashed_and_keys_the_gold():
    domain = get_domain("telecom")
    base = domain.database()
    record = {**base["customers"]["TC001"], "name": "Ada Lovelace"}
    task = telecom_task(Action("get_customer_info", {"customer_id": "TC001"}))
    patched = Task.from_dict({**task.to_dict(), "initial_state": {"customers": {"TC001": record}}})
    assert "initial_state" not in task.to_dict() and Task.from_dict(task.to_dict()) == task  # old rows load as before
    env = DomainEnv(domain, ScriptedUser())
    env.reset(task)
    plain_hash = env.db.state_hash()
    env.reset(patched)
    assert env.db["customers"]["TC001"]["name"] == "Ada Lovelace" and env.db.state_hash() != plain_hash
    assert base["customers"]["TC001"]["name"] == "Winston Mbeki"  # the shared base is untouched
    for t in (task, patched):  # same id, different start: each scores 1.0 against its own gold
        result = run_episode(EpisodeSpec(t), OracleAgent(), ScriptedUser(), RolloutConfig())
        assert result.reward == 1.0 and result.breakdown.db_match
    assert task_from_extras(task_row(patched)).initial_state == patched.initial_state  # visible in the row


def test_tau_bench_names_render_as_text():
    text = "Your name is {'first_name': 'Noah', 'last_name': 'Brown'} and your email is n@example.com."
    assert render_persona(text) == "Your name is Noah Brown and your email is n@example.com."


@pytest.mark.slow
@pytest.mark.shared_data
def test_the_seed_file_repaired_every_task_accounted_for_and_every_accepted_one_sound(tmp_path):
    seed = require(CTU / "novel_sft_dataset.json")
    full = require(CTU / "full")
    dirs = {d: full / d for d in ("telecom", "healthcare", "doordash")} | {
        d: require(TAUBENCH / d) for d in ("airline", "retail")
    }
    out = tmp_path / "seed"
    args = [arg for d, p in dirs.items() for arg in ("--data-dir", f"{d}={p}")]
    command = [sys.executable, "-m", "taurl.cli", "data", "repair", str(seed), "--out", str(out), *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
    assert "seed data: tasks valid after each repair step" in result.stdout
    quality = json.loads((out / "quality.json").read_text())
    rows = [r for n in ("train.parquet", "validation.parquet") for r in pq.read_table(out / n).to_pylist()]
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    provenance = [json.loads(line) for line in (out / "repairs.jsonl").read_text().splitlines()]
    assert len(rows) + len(rejects) == len(provenance) == 1345 and all(r["reason"] for r in rejects)
    assert quality["total"]["funnel"]["raw"] == 57 and quality["total"]["funnel"]["hazards"] == len(rows) >= 600
    assert {r["extra_info"]["split"] for r in rows} == {"train", "validation"}
    assert all("{'first_name'" not in r["extra_info"]["instruction"] for r in rows)
    for row in rows:  # the user the gold acts on is the instruction's user, and it says who that is
        gold = json.loads(row["reward_spec"]["ground_truth"])["actions"]
        if any(row["extra_info"]["user_id"] in a["kwargs"].values() for a in gold):
            assert row["extra_info"]["user_id"] in row["extra_info"]["instruction"]
    for row in rows:
        task = task_from_extras(row)
        config = RolloutConfig({task.domain: dirs[task.domain]})
        oracle = run_episode(EpisodeSpec(task), OracleAgent(), ScriptedUser(), config)
        silent = run_episode(EpisodeSpec(task), SilentAgent(), ScriptedUser(), config)
        assert oracle.reward == 1.0 and silent.reward == 0.0, task.id
        assert all(not step.error for step in oracle.trace), task.id
