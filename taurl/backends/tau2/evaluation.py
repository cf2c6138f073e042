"""τ²'s evaluation reproduced on a taurl episode, and τ²'s own evaluator to check it against.

The reward is τ²'s: 0 unless the episode ended by the user or the agent (a transfer); 1 for a task
without evaluation criteria; else the product of the checks in the task's ``reward_basis``:
- DB: the agent's and the user's database hashes (τ²'s own ``get_db_hash``) equal those of a fresh
  environment in the task's initial state after the gold actions (all requestors, errors ignored);
- ENV_ASSERTION: every env assertion holds on the final environment;
- ACTION: every gold action matches some tool call of the episode (τ²'s ``compare_args`` rule);
- COMMUNICATE: every communicate-info string is in some assistant text (lower-cased, commas removed);
- NL_ASSERTION: needs a judge model. taurl's judge component (taurl.core.judge) is the hook: pass
  its verdict as ``judged``; without one a task whose basis has NL_ASSERTION is refused. τ²'s packaged
  bases never include it.

The breakdown says which check failed: ``db_diff`` names the database (agent or user) whose hash
differs and each env assertion that failed, ``outputs_missing`` the communicate info not said,
``actions_missing`` the gold actions (indices into τ²'s gold list, all requestors) not taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from taurl.backends.tau2 import package
from taurl.backends.tau2.domain import Tau2Domain, Tau2State, start_state, tau2_task
from taurl.core.reward import output_found
from taurl.core.types import JudgeResult, RecordDiff, RewardBreakdown, Task, TerminatedBy

ENDED_BY_A_PARTY = frozenset({TerminatedBy.USER_STOP, TerminatedBy.TRANSFER})


class JudgeNeededError(ValueError):
    """The task's τ² reward basis has NL_ASSERTION and no judge verdict was given."""


_GOLD: dict[tuple[str, str], tuple[str | None, str | None]] = {}


def _gold_hashes(domain: Tau2Domain, task: Task) -> tuple[str | None, str | None]:
    """The agent's and user's database hashes after the gold actions, as τ²'s evaluator computes them
    (once per task and process)."""
    key = (domain.name, task.id)
    if key not in _GOLD:
        _GOLD[key] = _play_gold(domain, task)
    return _GOLD[key]


def _play_gold(domain: Tau2Domain, task: Task) -> tuple[str | None, str | None]:
    state = start_state(domain, task)
    for action in tau2_task(task).evaluation_criteria.actions or ():
        try:  # τ²'s evaluator logs and skips a gold action that fails
            state.env.make_tool_call(action.name, requestor=action.requestor, **action.arguments)
        except Exception:  # noqa: S112 - τ²'s own rule
            continue
    return state.env.get_db_hash(), state.env.get_user_db_hash()


def action_matches(gold: Any, name: str, arguments: dict[str, Any]) -> bool:
    """τ²'s ``Action.compare_with_tool_call``: same tool, equal values on ``compare_args`` (default:
    every argument of the call)."""
    if gold.name != name:
        return False
    keys = arguments.keys() if gold.compare_args is None else gold.compare_args
    return {k: v for k, v in arguments.items() if k in keys} == {k: v for k, v in gold.arguments.items() if k in keys}


def _assertion_text(assertion: Any) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in assertion.arguments.items())
    return f"{assertion.env_type}.{assertion.func_name}({args})"


def evaluate(
    task: Task,
    state: Tau2State,
    replies: Sequence[str],
    terminated_by: TerminatedBy | None,
    judged: JudgeResult | None = None,
) -> RewardBreakdown:
    """τ²'s reward for an episode that ended in ``state`` with the agent's text ``replies``."""
    reward_types = package("tau2.data_model.tasks").RewardType
    package_task = tau2_task(task)
    criteria = package_task.evaluation_criteria
    history = (package_task.initial_state.message_history or []) if package_task.initial_state else []
    texts = [m.content for m in history if m.role == "assistant" and m.content] + list(replies)
    gold_actions = list(criteria.actions or ()) if criteria else []
    basis = set(criteria.reward_basis) if criteria else set()

    # ACTION and COMMUNICATE
    matched = [
        i for i, a in enumerate(gold_actions) if any(action_matches(a, c.name, c.arguments) for c in state.calls)
    ]
    missing = [i for i in range(len(gold_actions)) if i not in matched]
    communicate = list(criteria.communicate_info or ()) if criteria else []
    not_said = tuple(info for info in communicate if not output_found(info, texts))

    # DB and ENV_ASSERTION, on the final environment (hashes first: assertions sync the environment)
    diffs: list[RecordDiff] = []
    db_ok = True
    if criteria is not None and (criteria.actions is not None or criteria.env_assertions is not None):
        expected = _gold_hashes(state.domain, task)
        actual = (state.env.get_db_hash(), state.env.get_user_db_hash())
        for which, got, want in zip(("agent database", "user database"), actual, expected, strict=True):
            if got != want:
                diffs.append(RecordDiff(which, "hash", got, want))
        db_ok = not diffs
    assertions_ok = True
    for assertion in (criteria.env_assertions or ()) if criteria else ():
        if not state.env.run_env_assertion(assertion, raise_assertion_error=False):
            assertions_ok = False
            diffs.append(RecordDiff("env assertion", _assertion_text(assertion), None, assertion.assert_value))

    if reward_types.NL_ASSERTION in basis and judged is None:
        raise JudgeNeededError(
            f"task {task.domain}/{task.id}: its τ² reward basis has NL_ASSERTION, which needs a judge"
        )
    checks = {
        reward_types.DB: db_ok,
        reward_types.ENV_ASSERTION: assertions_ok,
        reward_types.ACTION: not missing,
        reward_types.COMMUNICATE: not not_said,
        reward_types.NL_ASSERTION: judged is not None and judged.all_met,
    }
    if terminated_by not in ENDED_BY_A_PARTY:
        reward = 0.0
    elif criteria is None:
        reward = 1.0
    else:
        reward = float(all(checks[kind] for kind in basis))
    return RewardBreakdown(
        reward=reward,
        basis=task.reward_basis,
        requested_basis=task.reward_basis,
        db_match=db_ok and assertions_ok,
        db_diff=tuple(diffs),
        outputs_expected=tuple(communicate),
        outputs_missing=not_said,
        actions_score=len(matched) / len(gold_actions) if gold_actions else 1.0,
        actions_matched=tuple(matched),
        actions_missing=tuple(missing),
        gold_changes_db=bool(gold_actions),
        trivially_passable=False,
        terminated_by=terminated_by,
        judge=judged,
    )


# ---------------------------------------------------------------- parity with τ²'s own evaluator


def oracle_reply(task: Task) -> str:
    """What taurl's oracle agent tells the user: every output, joined so no comma splits one."""
    return "; ".join(task.outputs) if task.outputs else "Your request has been handled."


def gold_episode(domain: Tau2Domain, task: Task) -> tuple[Tau2State, list[Any]]:
    """The task's gold actions (all requestors) played on a fresh state, then the oracle's reply: the
    state taurl scores and the same trajectory as τ² messages (history included) for τ²'s evaluator."""
    message = package("tau2.data_model.message")
    package_task = tau2_task(task)
    state = start_state(domain, task)
    messages = list((package_task.initial_state.message_history or []) if package_task.initial_state else [])
    for index, action in enumerate(package_task.evaluation_criteria.actions or ()):
        call_id = f"gold_{index}"
        record = state.call(action.requestor, action.name, action.arguments, call_id)
        tool_call = message.ToolCall(
            id=call_id, name=action.name, arguments=action.arguments, requestor=action.requestor
        )
        kind = message.UserMessage if action.requestor == "user" else message.AssistantMessage
        messages.append(kind(role=action.requestor, tool_calls=[tool_call]))
        messages.append(
            message.ToolMessage(
                id=call_id, role="tool", content=record.content, requestor=action.requestor, error=record.error
            )
        )
    messages.append(message.AssistantMessage(role="assistant", content=oracle_reply(task)))
    return state, messages


def package_reward(domain: Tau2Domain, task: Task, messages: list[Any]) -> float:
    """τ²'s own ``evaluate_simulation`` (DB, ENV, COMMUNICATE, ACTION) of a trajectory that the agent ended."""
    evaluator = package("tau2.evaluator.evaluator")
    simulation = package("tau2.data_model.simulation")
    run = simulation.SimulationRun(
        id=f"taurl-{task.id}",
        task_id=task.id,
        start_time="",
        end_time="",
        duration=0.0,
        termination_reason=simulation.TerminationReason.AGENT_STOP,
        messages=messages,
    )
    info = evaluator.evaluate_simulation(
        run, tau2_task(task), evaluator.EvaluationType.ALL, solo_mode=False, domain=domain.tau2_name
    )
    return float(info.reward)


def gold_parity(domain: Tau2Domain, tasks: Sequence[Task]) -> list[tuple[str, float, float]]:
    """Per task: taurl's reward and τ²'s for the gold trajectory."""
    rows = []
    for task in tasks:
        state, messages = gold_episode(domain, task)
        ours = evaluate(task, state, [oracle_reply(task)], TerminatedBy.TRANSFER).reward
        rows.append((task.id, ours, package_reward(domain, task, messages)))
    return rows
