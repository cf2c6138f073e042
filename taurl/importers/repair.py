"""Evidence-based repair of the seed system's tasks (``novel_sft_dataset.json``).

GPT wrote the seed tasks' gold calls against tool schemas it only half followed. Each repair here is
justified by the tool's schema, a database record or the instruction's own text, and is recorded per
task and per action (:class:`Repair`: what changed and the evidence). A value nothing justifies is
never invented: the task stays rejected with the reason. Repair classes (applied per action in the order remap, rename, resolve, placeholder, drop;
then per task state, unscored, expand, identity):

- ``remap``: a call to a get-by-id tool made with search arguments goes to the tool of the same
  meaning (``check_flight_status{origin, destination, date}`` -> ``search_direct_flight``);
- ``rename``: an undeclared argument becomes a missing declared one when its value is an existing
  record key of that argument's table (``user_id`` -> ``customer_id``), or when it is the only
  free-text argument of a one-argument tool (think's ``thought``);
- ``resolve``: an entity's name becomes its id when exactly one record has that name;
- ``placeholder``: a symbolic identifier (``line_id: "primary"``) becomes the user's only record;
- ``drop``: undeclared arguments left over are dropped (kept in the provenance);
- ``state``: an entity the instruction names but the database lacks is added to the task's initial
  state, cloned from a real record of the same kind (the one the task's own earlier search returns,
  else the first of the kind the instruction names) with only its name and id changed; it must be
  reachable with the offered tools: by that search, or by a lookup by the id the instruction then gives;
- ``unscored``: a reasoning call (think, calculate) that cannot run is left out of the gold: action
  matching skips such calls and they change nothing, so the reward is the same without it;
- ``expand``: a get-by-id tool called with a category (``specialty: "cardiology"``) that no offered
  tool searches by becomes one lookup per record of that category (at most MAX_RESULTS), whose ids
  the instruction then gives;
- ``identity``: the gold acts on the task's user: the instruction gains that user's id, and the
  record gets the persona's name and email (never the other way round); otherwise the task's user
  becomes the one the persona's email identifies.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taurl.core.db import Database, clone
from taurl.core.reward import task_start
from taurl.core.tools import ToolRegistry
from taurl.core.types import Action, Task, ToolKind

CLASSES = ("rename", "drop", "resolve", "remap", "placeholder", "state", "unscored", "expand", "identity")
SCHEMA_CLASSES = CLASSES[:-1]  # what makes gold calls valid; identity makes them knowable
IDENTIFIER_SUFFIXES = ("_id", "_code", "_number")
CATEGORY_FIELDS = ("specialty", "cuisine")  # the kind of a record an instruction names beside its name
USER_TABLES = {
    "telecom": "customers",
    "healthcare": "patients",
    "doordash": "users",
    "airline": "users",
    "retail": "users",
}
USER_LABELS = {"telecom": "customer ID", "healthcare": "patient ID"}
PERSONA = re.compile(r"Your name is (?P<name>\{[^}]*\}|[^.]+?) and your email is (?P<email>\S+?)\.(?=\s|$)")
DICT_NAME = re.compile(r"\{'first_name': '(?P<first>[^']*)', 'last_name': '(?P<last>[^']*)'\}")
# get-by-id tools called with search arguments, and the seed tool of the same meaning
SEARCH_REMAPS = {
    ("airline", "check_flight_status"): (
        "search_direct_flight",
        {
            "origin": ("origin", "departure_airport", "from"),
            "destination": ("destination", "arrival_airport", "to"),
            "date": ("date", "departure_date"),
        },
    ),
}


# get-by-id tools called with a category instead (``specialty: "cardiology"``), with no seed tool that
# searches by it: the call stands for one lookup per record of that category, when there are at most
# MAX_RESULTS, the instruction then giving their ids
CATEGORY_SEARCHES = {
    ("healthcare", "get_doctor_availability"): ("doctors", "specialty", ("specialty", "specialization"))
}
MAX_RESULTS = 3


class Rejected(Exception):
    """The task cannot be repaired with evidence; the message is the reason."""


@dataclass(frozen=True)
class Repair:
    kind: str  # one of CLASSES
    action: int | None  # the gold action's index; None for the task as a whole
    change: dict[str, Any]
    evidence: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Outcome:
    """One task after repair: the repaired task and its repairs, or the reason it stays rejected."""

    original: Task
    task: Task
    repairs: list[Repair] = field(default_factory=list)
    reason: str | None = None

    @property
    def stage(self) -> int:
        """Index in SCHEMA_CLASSES of the last class this task's gold calls needed (-1: valid as they came)."""
        return max((SCHEMA_CLASSES.index(r.kind) for r in self.repairs if r.kind in SCHEMA_CLASSES), default=-1)


def is_identifier(name: str) -> bool:
    return name.endswith(IDENTIFIER_SUFFIXES) or name == "email"


def id_table(db: Database, argument: str) -> str | None:
    """The table an identifier argument keys: ``customer_id`` -> ``customers``, ``flight_number`` ->
    ``flights``; None when no state table's name starts with the argument's stem."""
    stem = argument.rsplit("_", 1)[0]
    named = [name for name in db.table_names if name.startswith(stem)]
    return named[0] if len(named) == 1 else None


def render_persona(instruction: str) -> str:
    """τ-bench-derived instructions carry the name as a dict's repr: render it as text."""
    return DICT_NAME.sub(lambda m: f"{m['first']} {m['last']}", instruction)


def _normal(name: Any) -> str:
    text = re.sub(r"^dr\.?\s+", "", str(name).strip().lower())
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def _free_text(kwargs: Mapping[str, Any], declared: Mapping[str, Any]) -> list[str]:
    """The undeclared arguments that carry text rather than an identifier (those are dropped)."""
    return [k for k, v in kwargs.items() if k not in declared and isinstance(v, str) and not is_identifier(k)]


def _stem(value: Any) -> str:
    """A category's stem as instructions write it: 'Cardiology' -> 'cardiolog' (cardiologist),
    'Pediatrics' -> 'pediatric'; '' for anything shorter than a word."""
    text = _normal(value) if isinstance(value, str) else ""
    return text[:-1] if len(text) > 4 else ""


def _is_kind(value: Any, category: Any) -> bool:
    """'cardiologist', 'cardiology' are of the category 'Cardiology'; 'pediatric cardiology' is not 'Pediatrics'."""
    stem = _stem(category)
    return (
        bool(stem)
        and isinstance(value, str)
        and re.fullmatch(re.escape(stem) + "[a-z]{0,4}", _normal(value)) is not None
    )


def _record_name(record: Mapping[str, Any]) -> str:
    name = record.get("name")
    if isinstance(name, Mapping):
        return f"{name.get('first_name', '')} {name.get('last_name', '')}".strip()
    return str(name or "")


class _TaskRepair:
    """Repairs one task against its tool set and the (full) database."""

    def __init__(self, task: Task, tools: ToolRegistry, base: Database):
        self.task = task
        self.tools = tools
        self.base = base
        self.repairs: list[Repair] = []
        self.state: dict[str, dict[str, Any]] = {}
        self.named: list[tuple[int, str, str]] = []  # (action, table, name) of entities the database lacks
        self.unscored: set[int] = set()  # reasoning calls left out of the gold
        self.searches: dict[int, tuple[str, str, str]] = {}  # action -> (table, category field, value)

    def note(self, kind: str, index: int | None, evidence: str, **change: Any) -> None:
        self.repairs.append(Repair(kind, index, change, evidence))

    def run(self) -> Task:
        actions = [self.action(i, a) for i, a in enumerate(self.task.actions)]
        task = dataclasses.replace(self.task, instruction=render_persona(self.task.instruction), actions=tuple(actions))
        task = self.synthesize(task)
        task = self.expand(task)
        return self.identity(task)

    # -- per action ---------------------------------------------------------------------------
    def action(self, index: int, action: Action) -> Action:
        action = self.remap(index, action)
        if self.category_search(index, action):
            return action  # expanded once the task's own records are known
        if action.name not in self.tools:
            raise Rejected(f"gold action {index}: unknown tool {action.name}")
        params = self.tools[action.name].parameters
        kwargs = dict(action.kwargs)
        declared = params["properties"]
        self.rename(index, action.name, kwargs, params)
        self.resolve(index, action.name, kwargs, declared)
        self.placeholders(index, action.name, kwargs, params)
        extra = sorted(set(kwargs) - set(declared))
        if extra:
            dropped = {k: kwargs.pop(k) for k in extra}
            self.note("drop", index, f"{action.name} declares no {', '.join(extra)} (tool schema)", dropped=dropped)
        repaired = Action(action.name, kwargs)
        if any(i == index for i, _, _ in self.named):
            return repaired  # checked once the named entity exists
        problem = self.tools.check(repaired)
        if not problem and self.tools[action.name].kind is ToolKind.THINK:
            result = self.tools.invoke(self.base.fork(), repaired)
            problem = None if result.ok else result.observation
        if problem and self.tools[action.name].kind is ToolKind.THINK:
            self.unscored.add(index)
            self.note(
                "unscored",
                index,
                f"{action.name} is a reasoning tool: action matching skips it and it changes nothing, so the "
                f"reward is the same without this call, which cannot run: {problem} (tool schema)",
                removed=action.to_dict(),
            )
            return action
        if problem:
            raise Rejected(f"gold action {index} ({action.name}): {problem}")
        return repaired

    def remap(self, index: int, action: Action) -> Action:
        target = SEARCH_REMAPS.get((self.task.domain, action.name))
        if target is None or target[0] not in self.tools:
            return action
        tool, fields = target
        declared = self.tools[action.name].parameters["properties"]
        if any(k in action.kwargs for k in declared):
            return action
        kwargs = {}
        for name, sources in fields.items():
            found = [action.kwargs[s] for s in sources if s in action.kwargs]
            if len(found) != 1:
                return action
            kwargs[name] = found[0]
        self.note(
            "remap",
            index,
            f"{action.name} looks one flight up by number; {tool} finds flights by route and date, as asked",
            before=action.to_dict(),
            after={"name": tool, "kwargs": kwargs},
        )
        return Action(tool, kwargs)

    def category_search(self, index: int, action: Action) -> bool:
        search = CATEGORY_SEARCHES.get((self.task.domain, action.name))
        if search is None or action.name not in self.tools:
            return False
        table, category, sources = search
        declared = self.tools[action.name].parameters["properties"]
        values = [action.kwargs[k] for k in sources if isinstance(action.kwargs.get(k), str)]
        if any(k in action.kwargs for k in declared if k.endswith("_id")) or len(values) != 1:
            return False
        if any(k in action.kwargs for k in (f"{table.removesuffix('s')}_name", "name")):
            return False
        self.searches[index] = (table, category, values[0])
        return True

    def rename(self, index: int, tool: str, kwargs: dict[str, Any], params: Mapping[str, Any]) -> None:
        declared = params["properties"]
        missing = [p for p in declared if p not in kwargs]
        for name in sorted(set(kwargs) - set(declared)):
            value = kwargs[name]
            targets = [p for p in missing if is_identifier(p) and self._key_of(p, value) and p in params["required"]]
            if len(targets) == 1:
                table = id_table(self.base, targets[0])
                why = f"{value!r} is a record key of {table} (database record); {tool} takes {targets[0]}"
            elif (
                len(declared) == 1
                and missing
                and isinstance(value, str)
                and _free_text(kwargs, declared) == [name]
                and self.tools[tool].kind in (ToolKind.THINK, ToolKind.TERMINATE)
            ):
                targets = missing
                why = (
                    f"{missing[0]} is {tool}'s only argument, free text, and {name} the call's only text (tool schema)"
                )
            else:
                continue
            target = targets[0]
            kwargs[target] = kwargs.pop(name)
            missing.remove(target)
            self.note("rename", index, why, tool=tool, invented=name, declared=target)

    def _key_of(self, argument: str, value: Any) -> bool:
        table = id_table(self.base, argument)
        return table is not None and isinstance(value, str) and value in self.base[table]

    def resolve(self, index: int, tool: str, kwargs: dict[str, Any], declared: Mapping[str, Any]) -> None:
        """An entity's name where the tool takes its id: in ``restaurant_name``/``doctor_name`` (or
        ``name``) beside the missing id, or in the id argument itself."""
        for argument in [p for p in declared if p.endswith("_id")]:
            stem = argument.removesuffix("_id")
            table = id_table(self.base, argument)
            if table is None:
                continue
            if argument in kwargs:
                source = argument
                value = kwargs[argument]
                if not isinstance(value, str) or value in self.base[table] or re.search(r"\d", value):
                    continue
                if not self._names(table, value) and _normal(value) not in _normal(self.task.instruction):
                    continue
            else:
                sources = [k for k in (f"{stem}_name", stem, "name") if k in kwargs and k not in declared]
                if not sources and list(declared) == [argument]:  # the lookup's only argument: its one text
                    sources = _free_text(kwargs, declared)
                if len(sources) != 1 or not isinstance(kwargs[sources[0]], str):
                    continue
                source = sources[0]
            name = kwargs.pop(source)
            matches = self._names(table, name)
            if len(matches) > 1:
                raise Rejected(f"gold action {index} ({tool}): {len(matches)} {table} are named {name!r}")
            if not matches:
                if _normal(name) not in _normal(self.task.instruction):
                    raise Rejected(f"gold action {index} ({tool}): no {table} record is named {name!r}")
                self.named.append((index, table, name))
                kwargs[argument] = name  # the synthesized record's key replaces it
                continue
            kwargs[argument] = matches[0]
            self.note(
                "resolve",
                index,
                f"{table} {matches[0]} is the only record named {name!r} (database record)",
                argument=argument,
                name=name,
                value=matches[0],
            )

    def _names(self, table: str, name: str) -> list[str]:
        """Keys of the records named ``name``; [] also when ``name`` does not look like a name."""
        if not re.search(r"[A-Za-z]{2}", name):
            return []
        records = self.base[table]
        return [key for key in records if _normal(_record_name(records[key])) == _normal(name)]

    def placeholders(self, index: int, tool: str, kwargs: dict[str, Any], params: Mapping[str, Any]) -> None:
        """A symbolic identifier (no digit in it), or a required one left out, resolved to the task
        user's only record of its table."""
        user = self.task.user_id
        for argument in [p for p in params["properties"] if p.endswith("_id")]:
            value = kwargs.get(argument)
            table = id_table(self.base, argument)
            if table is None or (index, table, value) in self.named:
                continue
            if value is None:
                if argument not in params["required"]:
                    continue
            elif not isinstance(value, str) or value in self.base[table] or re.search(r"\d", value):
                continue
            if table == USER_TABLES.get(self.task.domain):
                owned = [user] if user in self.base[table] else []
                owner = "the task's user"
            else:
                owned = [
                    key
                    for key in self.base[table]
                    if user is not None
                    and user in (self.base[table][key].get(f) for f in ("customer_id", "patient_id", "user_id"))
                ]
                owner = f"{table} of the task's user {user}"
            if not owned and value is None:
                continue  # nothing of the user's: left for the schema check to report
            if len(owned) != 1:
                what = "left out" if value is None else f"{value!r}, a placeholder,"
                raise Rejected(f"gold action {index} ({tool}): {argument} is {what} and {len(owned)} {owner} qualify")
            kwargs[argument] = owned[0]
            self.note(
                "placeholder",
                index,
                f"{owned[0]} is the only record among {owner} (database record)",
                argument=argument,
                before=value,
                after=owned[0],
            )

    # -- per task -----------------------------------------------------------------------------
    def synthesize(self, task: Task) -> Task:
        """Entities the instruction names and the database lacks, cloned from the record the task's
        own earlier search returns (so only the name and id differ), and checked reachable."""
        if not self.named:
            return task
        actions = list(task.actions)
        keys: dict[tuple[str, str], str] = {}
        for index, table, name in self.named:
            if (table, _normal(name)) not in keys:
                source = self._search_source(task, index, table)
                key = self._next_key(table)
                if source is None:
                    source = self._template(task, index, table, name)
                    addition = f" The ID of {name} is {key}."
                    task = dataclasses.replace(task, instruction=task.instruction + addition)
                    self.note(
                        "state",
                        None,
                        f"no earlier search of the offered tools returns {table} {key}; "
                        f"{actions[index].name} reaches it by the ID the instruction now gives",
                        instruction_added=addition.strip(),
                    )
                record = clone(self.base[table][source])
                changed = {"name": name}
                for id_field in ("id", f"{table.removesuffix('s')}_id"):
                    if id_field in record:
                        changed[id_field] = key
                record.update(changed)
                self.state.setdefault(table, {})[key] = record
                keys[(table, _normal(name))] = key
                self.note(
                    "state",
                    None,
                    f"the instruction names {name!r}; cloned from {table} {source}, which the task's own search returns",
                    table=table,
                    key=key,
                    cloned_from=source,
                    changed=changed,
                )
            key = keys[(table, _normal(name))]
            action = actions[index]
            kwargs = {k: (key if v == name else v) for k, v in action.kwargs.items()}
            actions[index] = Action(action.name, kwargs)
            problem = self.tools.check(actions[index])
            if problem:
                raise Rejected(f"gold action {index} ({action.name}): {problem}")
        return dataclasses.replace(task, actions=tuple(actions), initial_state=self.state)

    def expand(self, task: Task) -> Task:
        """The gold without the reasoning calls left out, each category search replaced by one lookup
        per record of the category (the database's and the task's own), whose ids the instruction gains."""
        actions: list[Action] = []
        for index, action in enumerate(task.actions):
            if index in self.unscored:
                continue
            if index not in self.searches:
                actions.append(action)
                continue
            table, category, value = self.searches[index]
            records = {**self.base[table], **task.initial_state.get(table, {})}
            found = sorted(key for key, record in records.items() if _is_kind(value, record.get(category)))
            if not found or len(found) > MAX_RESULTS:
                raise Rejected(
                    f"gold action {index} ({action.name}): searches {table} by {category} {value!r}, which no offered "
                    f"tool can, and {len(found)} records have it (at most {MAX_RESULTS} are given to the user)"
                )
            id_argument = next(p for p in self.tools[action.name].parameters["required"] if p.endswith("_id"))
            lookups = [Action(action.name, {id_argument: key}) for key in found]
            if len(found) == 1:
                addition = f" The only {value} among the {table} has the ID {found[0]}."
            else:
                addition = f" The {value} {table} have the IDs {', '.join(found)}."
            task = dataclasses.replace(task, instruction=task.instruction + addition)
            self.note(
                "expand",
                index,
                f"{action.name} looks up one record by id; the {table} with {category} {value!r} are "
                f"{', '.join(found)} (database record), given in the instruction since no offered tool searches them",
                before=action.to_dict(),
                after=[a.to_dict() for a in lookups],
                instruction_added=addition.strip(),
            )
            actions.extend(lookups)
        return dataclasses.replace(task, actions=tuple(actions))

    def _search_source(self, task: Task, index: int, table: str) -> str | None:
        """The first record of ``table`` an earlier read call's observation names."""
        db = self.base.fork()
        for action in task.actions[:index]:
            if (
                action.name not in self.tools
                or self.tools[action.name].kind is not ToolKind.READ
                or self.tools.check(action)
            ):
                continue
            observation = self.tools.invoke(db, action).observation
            for key in self.base[table]:
                if f'"{key}"' in observation:
                    return key
        return None

    def _template(self, task: Task, index: int, table: str, name: str) -> str:
        """A record to clone when no search returns one: the first of the kind the instruction names
        (a doctor's specialty, a restaurant's cuisine), else the table's first; only if the gold call
        that names the entity is a read by its id, which the instruction then gives."""
        tool = self.tools[task.actions[index].name]
        if tool.kind is not ToolKind.READ:
            raise Rejected(
                f"gold action {index}: {table} named {name!r} is not in the database, no earlier search of the "
                f"task's offered tools would reach it, and {tool.name} is no lookup by id"
            )
        records = self.base[table]
        instruction = _normal(task.instruction)
        named = [
            key
            for key in records
            if any(_stem(records[key].get(f)) and _stem(records[key].get(f)) in instruction for f in CATEGORY_FIELDS)
        ]
        return (named or list(records))[0]

    def _next_key(self, table: str) -> str:
        keys = [*self.base[table], *self.state.get(table, {})]
        numbered = [re.fullmatch(r"([A-Za-z_]*)(\d+)", k) for k in keys]
        prefix, width, top = "", 1, 0
        for m in numbered:
            if m and int(m[2]) >= top:
                prefix, width, top = m[1], len(m[2]), int(m[2])
        return f"{prefix}{top + 1:0{width}d}"

    def identity(self, task: Task) -> Task:
        """The instruction's user and the record the gold acts on made one person."""
        table = USER_TABLES.get(task.domain)
        persona = PERSONA.search(task.instruction)
        if table is None or persona is None:
            return task
        name, email = persona["name"].strip(), persona["email"]
        users = self.base[table]
        user = task.user_id
        acted_on = user is not None and any(user in a.kwargs.values() for a in task.actions)
        if not acted_on:
            owners = [k for k in users if str(users[k].get("email", "")).lower() == email.lower()]
            if len(owners) == 1 and owners[0] != user:
                self.note(
                    "identity",
                    None,
                    f"{table} {owners[0]} has the instruction's email {email} (database record); the gold acts on no user",
                    user_id={"before": user, "after": owners[0]},
                )
                return dataclasses.replace(task, user_id=owners[0])
            return task
        record = users[user]
        instruction = task.instruction
        label = USER_LABELS.get(task.domain, "user ID")
        if user not in instruction:
            addition = f" Your {label} is {user}."
            instruction = instruction[: persona.end()] + addition + instruction[persona.end() :]
            self.note(
                "identity",
                None,
                f"the gold acts on {table} {user} (database record), which the instruction never names",
                instruction_added=addition.strip(),
            )
        if _normal(_record_name(record)) != _normal(name) or str(record.get("email", "")).lower() != email.lower():
            patched = clone(record)
            before = {"name": record.get("name"), "email": record.get("email")}
            if isinstance(record.get("name"), Mapping):
                first, _, last = name.partition(" ")
                patched["name"] = {**record["name"], "first_name": first, "last_name": last}
            else:
                patched["name"] = name
            patched["email"] = email
            state = {**task.initial_state, table: {**task.initial_state.get(table, {}), user: patched}}
            self.note(
                "identity",
                None,
                f"the instruction's persona is {name} <{email}> (instruction text); the gold acts on {table} {user}",
                table=table,
                key=user,
                before=before,
                after={"name": patched["name"], "email": email},
            )
            task = dataclasses.replace(task, initial_state=state)
        return dataclasses.replace(task, instruction=instruction)


def repair_task(task: Task, tools: ToolRegistry, base: Database) -> Outcome:
    worker = _TaskRepair(task, tools, base)
    try:
        repaired = worker.run()
    except Rejected as exc:
        return Outcome(task, task, worker.repairs, str(exc))
    metadata = {**repaired.metadata, "repairs": [r.to_dict() for r in worker.repairs]}
    return Outcome(task, dataclasses.replace(repaired, metadata=metadata), worker.repairs)


def replay_gold(task: Task, tools: ToolRegistry, base: Database) -> list[tuple[Action, str, bool]]:
    """Each gold call with its observation and whether it succeeded, from the task's own start."""
    db = task_start(base, task)
    return [(a, (r := tools.invoke(db, a)).observation, r.ok) for a in task.actions]
