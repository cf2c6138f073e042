"""τ²'s evaluation reproduced on a taurl episode, and τ²'s own evaluator to check it against.

The reward is τ²'s: 0 unless the episode ended by the user or the agent (a transfer); 1 for a task
without evaluation criteria; else the product of the checks in the task's ``reward_basis``:
- DB: the agent's and the user's database hashes (τ²'s own ``get_db_hash``) equal those of a fresh
  environment in the task's initial state after the gold actions (all requestors, errors ignored);
- ENV_ASSERTION: every env assertion holds on the final environment;
- ACTION: every gold action matches some tool call of the episode (τ²'s ``compare_args`` rule);
- COMMUNICATE: every communicate-info string is in some assistant text (lower-cased, commas removed);
- NL_ASSERTION: needs a judge model. taurl's judge component (taurl.core.reward_judge) is the hook: pass
  its verdict as ``judged``; without one a task whose basis has NL_ASSERTION is refused. τ²'s packaged
  bases never include it.

The breakdown says which check failed: ``db_diff`` names the database (agent or user) whose hash
differs and each env assertion that failed, ``outputs_missing`` the communicate info not said,
``actions_missing`` the gold actions (indices into τ²'s gold list, all requestors) not taken.

Parity (``tools/tau2_parity.py``): :func:`gold_parity` scores each task's gold trajectory with taurl
and with τ²'s ``evaluate_simulation``; :func:`nl_parity` judges a task's NL assertions with taurl's
judge and with τ²'s own NL-assertion evaluator, which :func:`tau2_judge` points at the same
OpenAI-compatible server (serve-sim's sim-judge answers τ²'s prompt in τ²'s format).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from taurl.backends import TAU2_PREFIX
from taurl.backends.tau2 import package
from taurl.backends.tau2.state import Tau2Source, Tau2State, start_state, tau2_task
from taurl.core.reward import output_found
from taurl.core.reward_judge import AssertionJudge, transcript_text
from taurl.core.types import Action, JudgeResult, RecordDiff, RewardBreakdown, Task, TerminatedBy

ENDED_BY_A_PARTY = frozenset({TerminatedBy.USER_STOP, TerminatedBy.TRANSFER})


class JudgeNeededError(ValueError):
    """The task's τ² reward basis has NL_ASSERTION and no judge verdict was given."""


_GOLD: dict[tuple[str, str], tuple[str | None, str | None]] = {}


def _gold_hashes(domain: Tau2Source, task: Task) -> tuple[str | None, str | None]:
    """The agent's and user's database hashes after the gold actions, as τ²'s evaluator computes them
    (once per task and process)."""
    key = (domain.name, task.id)
    if key not in _GOLD:
        _GOLD[key] = _play_gold(domain, task)
    return _GOLD[key]


def _play_gold(domain: Tau2Source, task: Task) -> tuple[str | None, str | None]:
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
        try:
            met, got = state.env.run_env_assertion(assertion, raise_assertion_error=False), None
        except Exception as exc:  # noqa: BLE001 - e.g. the record it asks about does not exist
            # τ²'s evaluator stops the simulation's scoring here; an episode's reward is 0 either way
            met, got = False, f"{type(exc).__name__}: {exc}"
        if not met:
            assertions_ok = False
            diffs.append(RecordDiff("env assertion", _assertion_text(assertion), got, assertion.assert_value))

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


def gold_episode(domain: Tau2Source, task: Task, reply: str | None = None) -> tuple[Tau2State, list[Any]]:
    """The task's gold actions (all requestors) played on a fresh state, then the oracle's reply (or
    ``reply``): the state taurl scores and the same trajectory as τ² messages (history included) for
    τ²'s evaluator."""
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
    messages.append(message.AssistantMessage(role="assistant", content=reply or oracle_reply(task)))
    return state, messages


def package_evaluation(task: Task, messages: list[Any], with_nl_assertions: bool = False, domain: str = "") -> Any:
    """τ²'s own ``evaluate_simulation`` of a trajectory that the agent ended: its ``RewardInfo``.
    ``with_nl_assertions`` also runs τ²'s NL-assertion judge (its LLM as :func:`tau2_judge` points it)."""
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
    kind = evaluator.EvaluationType.ALL_WITH_NL_ASSERTIONS if with_nl_assertions else evaluator.EvaluationType.ALL
    return evaluator.evaluate_simulation(
        run, tau2_task(task), kind, solo_mode=False, domain=domain or task.domain.removeprefix(TAU2_PREFIX)
    )


def package_reward(domain: Tau2Source, task: Task, messages: list[Any]) -> float:
    """τ²'s own ``evaluate_simulation`` (DB, ENV, COMMUNICATE, ACTION) of a trajectory that the agent ended."""
    return float(package_evaluation(task, messages, domain=domain.tau2_name).reward)


def gold_parity(domain: Tau2Source, tasks: Sequence[Task]) -> list[tuple[str, float, float]]:
    """Per task: taurl's reward and τ²'s for the gold trajectory."""
    rows = []
    for task in tasks:
        state, messages = gold_episode(domain, task)
        ours = evaluate(task, state, [oracle_reply(task)], TerminatedBy.TRANSFER).reward
        rows.append((task.id, ours, package_reward(domain, task, messages)))
    return rows


def failed_checks(breakdown: RewardBreakdown) -> list[str]:
    """What taurl's breakdown says failed (for a disagreement's report)."""
    failed = [f"{d.table}: {d.key}" for d in breakdown.db_diff]
    failed += [f"not said: {o!r}" for o in breakdown.outputs_missing]
    failed += [f"gold action {i} not taken" for i in breakdown.actions_missing]
    if breakdown.judge is not None:
        judged = breakdown.judge
        failed += [f"judge: {a!r} not met" for a, m in zip(judged.assertions, judged.met, strict=False) if not m]
    return failed


def package_failed_checks(info: Any) -> list[str]:
    """What τ²'s ``RewardInfo`` says failed."""
    failed = []
    if info.db_check is not None and not info.db_check.db_match:
        failed.append("DB hash")
    failed += [f"env assertion {c.env_assertion.func_name}" for c in info.env_assertions or () if not c.met]
    failed += [f"action {c.action.name}" for c in info.action_checks or () if not c.action_match]
    failed += [f"not said: {c.info!r}" for c in info.communicate_checks or () if not c.met]
    failed += [f"judge: {c.nl_assertion!r} not met" for c in info.nl_assertions or () if not c.met]
    return failed


# ---------------------------------------------------------------- NL assertions: taurl's judge and τ²'s


def with_nl_basis(task: Task) -> Task:
    """``task`` with NL_ASSERTION added to its τ² reward basis (τ²'s packaged bases leave it out, though
    airline's and some retail tasks carry NL assertions): how both evaluators are made to count the judge."""
    data = copy.deepcopy(task.metadata["tau2_task"])
    basis = data["evaluation_criteria"]["reward_basis"]
    if "NL_ASSERTION" not in basis:
        basis.append("NL_ASSERTION")
    return dataclasses.replace(task, metadata={**task.metadata, "tau2_task": data})


def gold_transcript(task: Task, state: Tau2State, reply: str) -> str:
    """The gold episode as taurl's judge reads it (:func:`taurl.core.reward_judge.transcript_text`): the agent's
    tool calls with their results, then its reply. The gold trajectory has no customer turns."""
    history = len(state.calls) - len(tau2_task(task).evaluation_criteria.actions or ())
    turns = [
        (Action(call.name, dict(call.arguments)), call.content)
        for call in state.calls[history:]
        if call.requestor == "assistant"
    ]
    turns.append((Action.respond(reply), ""))
    return transcript_text("", turns)


@contextlib.contextmanager
def tau2_judge(model: str, base_url: str, api_key: str = "sim") -> Iterator[None]:
    """Point τ²'s NL-assertion evaluator at an OpenAI-compatible ``base_url`` (litellm's ``openai/``
    provider): τ²'s judge model and its arguments are the module constants it imported from
    ``tau2.config`` (``DEFAULT_LLM_NL_ASSERTIONS``, ``..._ARGS``), set here and restored after."""
    module = package("tau2.evaluator.evaluator_nl_assertions")
    saved = module.DEFAULT_LLM_NL_ASSERTIONS, module.DEFAULT_LLM_NL_ASSERTIONS_ARGS
    module.DEFAULT_LLM_NL_ASSERTIONS = f"openai/{model}"
    module.DEFAULT_LLM_NL_ASSERTIONS_ARGS = {**saved[1], "base_url": base_url, "api_key": api_key}
    try:
        yield
    finally:
        module.DEFAULT_LLM_NL_ASSERTIONS, module.DEFAULT_LLM_NL_ASSERTIONS_ARGS = saved


@dataclasses.dataclass(frozen=True)
class NLParityRow:
    """One task's NL assertions judged both ways on its gold trajectory, and the rewards with the judge
    in the basis (DB, COMMUNICATE and NL_ASSERTION)."""

    task_id: str
    assertions: tuple[str, ...]
    ours: tuple[bool, ...]  # taurl's judge, per assertion
    theirs: tuple[bool | None, ...]  # τ²'s judge, per assertion (None: τ²'s judge did not grade it)
    our_reward: float
    their_reward: float
    flags: tuple[str, ...] = ()

    @property
    def agrees(self) -> bool:
        return self.ours == self.theirs and self.our_reward == self.their_reward


def quoting_reply(task: Task) -> str:
    """The oracle's reply followed by the task's even-numbered NL assertions, word for word: a gold
    trajectory on which a judge should find some assertions met and others not."""
    return " ".join([oracle_reply(task), *task.nl_assertions[::2]])


def nl_parity(
    domain: Tau2Source, tasks: Sequence[Task], judge: AssertionJudge, judge_url: str, quoting: bool = False
) -> list[NLParityRow]:
    """For each task with NL assertions: taurl's judge (``judge``, replayable: its client's cache records
    or replays the calls) and τ²'s own NL-assertion evaluator (its LLM calls sent to ``judge_url`` with
    the judge's model name) on the gold trajectory (the agent's last reply :func:`quoting_reply` if
    ``quoting``), with NL_ASSERTION added to both bases."""
    rows = []
    with tau2_judge(judge.client.model, judge_url):
        for plain in tasks:
            if not plain.nl_assertions:
                continue
            task = with_nl_basis(plain)
            reply = quoting_reply(task) if quoting else oracle_reply(task)
            state, messages = gold_episode(domain, task, reply)
            judged = judge.judge(task, gold_transcript(task, state, reply))
            ours = evaluate(task, state, [reply], TerminatedBy.TRANSFER, judged)
            info = package_evaluation(task, messages, with_nl_assertions=True, domain=domain.tau2_name)
            graded = {check.nl_assertion: bool(check.met) for check in info.nl_assertions or ()}
            rows.append(
                NLParityRow(
                    task.id,
                    task.nl_assertions,
                    judged.met,
                    tuple(graded.get(a) for a in task.nl_assertions),
                    ours.reward,
                    float(info.reward),
                    judged.flags,
                )
            )
    return rows
