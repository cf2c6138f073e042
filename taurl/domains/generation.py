"""What the built-in domains' generators share: fresh ids, prices, dates and names for the database,
then task drafts, the replay of their gold calls, and the train/test split that turns them into tasks.

A domain's ``generate.py`` keeps only its database shape and its task scenarios. Everything here
draws from the ``random.Random`` it is given, in a fixed order: changing that order changes every
generated file, which ``tools/generate_data.py --check`` compares with the committed ones.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from taurl.core.db import Database
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, RewardBasis, Task

# --- database values -------------------------------------------------------------------------


class FreshValues:
    """Values drawn again until one not handed out before: ids, phone numbers, card digits."""

    def __init__(self, rng: random.Random, taken: Iterable[str] = ()):
        self.rng = rng
        self.used = set(taken)

    def draw(self, make: Callable[[], str]) -> str:
        while (value := make()) in self.used:
            pass
        self.used.add(value)
        return value

    def digits(self, count: int) -> str:
        """``count`` digits, the first never 0 ('4913411651')."""
        return self.draw(lambda: str(self.rng.randrange(10 ** (count - 1), 10**count)))

    def phone(self) -> str:
        return f"+1-555-{self.digits(4)}"


def two_decimal_amount(rng: random.Random, low: float, high: float) -> float:
    """An amount in [low, high) whose last cent is never 0, so ``str(amount)`` always shows two decimals."""
    cents = rng.randrange(int(low * 100), int(high * 100))
    return (cents - cents % 10 + rng.randint(1, 9)) / 100


def money_text(amount: float) -> str | None:
    """``str(amount)`` when it reads as dollars and cents (so a reply of '12.30' still matches), else None."""
    text = str(amount)
    return text if text == f"{amount:.2f}" else None


def shift_day(day: str, days: int) -> str:
    """The ISO date ``days`` after ``day`` (before it when negative)."""
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def sample_names(
    rng: random.Random, first_names: list[str], last_names: list[str], count: int
) -> list[tuple[str, str]]:
    """``count`` distinct (first, last) names from the pools."""
    return rng.sample([(first, last) for first in first_names for last in last_names], count)


def street_address(rng: random.Random, place: tuple[str, str, str], streets: list[str]) -> dict[str, str]:
    """A τ-bench address record in ``place`` (city, state, first three digits of its zip codes)."""
    city, state, zip_prefix = place
    return {
        "address1": f"{rng.randint(100, 999)} {rng.choice(streets)}",
        "address2": f"Suite {rng.randint(100, 999)}",
        "city": city,
        "country": "USA",
        "state": state,
        "zip": f"{zip_prefix}{rng.randint(10, 99)}",
    }


# --- tasks -----------------------------------------------------------------------------------


@dataclass
class Draft:
    """A task before it gets its split, id and persona."""

    template: str
    user_id: str
    intro: str  # who the user is and what they know about themself
    goal: str  # what they want, in their words
    actions: list[Action]
    rules: list[str] = field(default_factory=list)  # the policy rules the task tests
    outputs: list[str] = field(default_factory=list)
    refusal: bool = False
    tool_set: str = "default"


class GoldCallError(RuntimeError):
    """A gold call the domain's tools refuse: a bug in the template that wrote it."""


class GoldReplay:
    """Runs gold calls through a domain's tools, each sequence on a fresh copy of the generated database."""

    def __init__(self, tools: ToolRegistry, root: Database):
        self.tools = tools
        self.root = root

    def answers(self, actions: Iterable[Action]) -> list[Any] | None:
        """Each call's answer (parsed when it is JSON), or None when the tools refuse any of them."""
        try:
            return self.require(actions)
        except GoldCallError:
            return None

    def require(self, actions: Iterable[Action]) -> list[Any]:
        """Each call's answer (parsed when it is JSON); raises :class:`GoldCallError` at a refused call."""
        db = self.root.fork()
        answers = []
        for action in actions:
            result = self.tools.invoke(db, action)
            if not result.ok:
                raise GoldCallError(f"{action.name}: {result.observation}")
            try:
                answers.append(json.loads(result.observation))
            except ValueError:
                answers.append(result.observation)
        return answers

    def refused(self, action: Action) -> bool:
        """Whether the tools refuse this call on the untouched database."""
        return self.answers([action]) is None


def pick_drafts(
    make: Callable[[str], Draft | None], candidates: Sequence[str], count: int, rng: random.Random, rounds: int = 1
) -> list[Draft]:
    """Up to ``count`` distinct drafts (by goal and gold calls), from the candidates in random order,
    each tried up to ``rounds`` times (a template that draws at random may fit a candidate only sometimes)."""
    drafts: list[Draft] = []
    seen: set[str] = set()
    for candidate in [c for _ in range(rounds) for c in rng.sample(candidates, len(candidates))]:
        draft = make(candidate)
        if draft is None:
            continue
        key = json.dumps([draft.goal, [a.to_dict() for a in draft.actions]], sort_keys=True)
        if key not in seen:
            seen.add(key)
            drafts.append(draft)
        if len(drafts) == count:
            break
    return drafts


def draft_tasks(
    writer: Any,
    templates: Iterable[tuple[Callable[..., Draft | None], Sequence[str], int]],
    rng: random.Random,
    form: TaskFormat,
    replay: GoldReplay,
    rounds: int = 1,
) -> dict[str, list[Task]]:
    """The tasks of a domain's templates, each ``template(writer, candidate)`` picked ``count`` times
    from its candidates (:func:`pick_drafts`), then split and numbered (:func:`write_tasks`)."""
    per_template = (
        pick_drafts(functools.partial(template, writer), candidates, count, rng, rounds)
        for template, candidates, count in templates
    )
    return write_tasks(per_template, rng, form, replay)


@dataclass(frozen=True)
class TaskFormat:
    """How a domain splits, numbers and labels its tasks. The domains differ in small ways that are
    kept so that regenerating their committed task files gives the same bytes."""

    domain: str
    personas: Sequence[str]
    test_every: int = 5  # a template's first task and every test_every-th after it go to test
    id_digits: int = 4
    metadata_keys: tuple[str, ...] = ("persona", "goal", "rules", "refusal", "template")
    shuffle_in_place: bool = False  # order each split with rng.shuffle (airline) instead of rng.sample


def write_tasks(
    per_template: Iterable[list[Draft]], rng: random.Random, form: TaskFormat, replay: GoldReplay
) -> dict[str, list[Task]]:
    """``{"train": [...], "test": [...]}`` from each template's drafts: every template contributes to
    both splits; each split is shuffled, numbered ``<domain>-<split>-<number>`` and given personas.
    Every draft's gold calls are replayed first: one the tools refuse raises :class:`GoldCallError`."""
    splits: dict[str, list[Draft]] = {"train": [], "test": []}
    for drafts in per_template:
        for index, draft in enumerate(drafts):
            try:
                replay.require(draft.actions)
            except GoldCallError as exc:
                raise GoldCallError(f"generated {draft.template} task has failing gold actions: {exc}") from None
            splits["test" if index % form.test_every == 0 else "train"].append(draft)
    return {split: _numbered(split, drafts, rng, form) for split, drafts in splits.items()}


def _numbered(split: str, drafts: list[Draft], rng: random.Random, form: TaskFormat) -> list[Task]:
    if form.shuffle_in_place:
        rng.shuffle(drafts)
    else:
        drafts = rng.sample(drafts, len(drafts))
    tasks = []
    for number, draft in enumerate(drafts):
        persona = rng.choice(form.personas)
        labels = {
            "template": draft.template,
            "persona": persona,
            "goal": draft.goal,
            "rules": sorted(set(draft.rules), key=lambda rule: int(rule[1:])),
            "refusal": draft.refusal,
        }
        tasks.append(
            Task(
                id=f"{form.domain}-{split}-{number:0{form.id_digits}d}",
                domain=form.domain,
                split=split,
                user_id=draft.user_id,
                instruction=f"{draft.intro} {draft.goal} {persona}",
                actions=tuple(draft.actions),
                outputs=tuple(draft.outputs),
                reward_basis=RewardBasis.AUTO,
                tool_set=draft.tool_set,
                metadata={key: labels[key] for key in form.metadata_keys},
            )
        )
    return tasks


__all__ = [
    "Draft",
    "FreshValues",
    "GoldCallError",
    "GoldReplay",
    "TaskFormat",
    "draft_tasks",
    "money_text",
    "pick_drafts",
    "sample_names",
    "shift_day",
    "street_address",
    "two_decimal_amount",
    "write_tasks",
]
