"""Copy-on-write database over an immutable base that is loaded once per process.

Tools read records through :class:`Table` views and must call :meth:`Table.edit` before changing
one: that copies the record into the episode's overlay. ``reset`` drops the overlay (O(1)), the
overlay *is* the set of touched records, and comparing two states built on the same base only
looks at records either of them touched.
"""

from __future__ import annotations

import marshal
from collections.abc import Callable, Hashable, Iterator, KeysView, Mapping
from typing import Any, TypeVar

from taurl.core.hashing import canonical_equal, canonical_hash, sha256_hex, to_hashable
from taurl.core.types import RecordDiff

Record = Any
Tables = Mapping[str, Mapping[str, Record]]


def clone(value: Any) -> Any:
    """Deep copy of JSON-shaped data; several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clone(item) for item in value]
    return value


class Table(Mapping[str, Record]):
    """One table seen through an episode's overlay. Reads return shared objects: never mutate them."""

    __slots__ = ("name", "_base", "_overlay")

    def __init__(self, name: str, base: Mapping[str, Record], overlay: dict[str, Record]):
        self.name = name
        self._base = base
        self._overlay = overlay

    def __getitem__(self, key: str) -> Record:
        if key in self._overlay:
            return self._overlay[key]
        return self._base[key]

    def __contains__(self, key: object) -> bool:
        return key in self._overlay or key in self._base

    def __iter__(self) -> Iterator[str]:
        yield from self._base
        for key in self._overlay:
            if key not in self._base:
                yield key

    def __len__(self) -> int:
        return len(self._base) + sum(1 for key in self._overlay if key not in self._base)

    @property
    def base(self) -> Mapping[str, Record]:
        """The shared base records, read-only (never mutate them): the same object for every episode on the
        base, so what is derived from them (an index) can be built once per process."""
        return self._base

    @property
    def changed(self) -> KeysView[str]:
        """Keys of the records this episode changed or added, in the order it first touched them."""
        return self._overlay.keys()

    def edit(self, key: str) -> Record:
        """The record, made private to this episode so it may be changed in place."""
        if key not in self._overlay:
            self._overlay[key] = clone(self._base[key])
        return self._overlay[key]

    def insert(self, key: str, record: Record) -> None:
        if key in self:
            raise KeyError(f"{self.name} {key!r} already exists")
        self._overlay[key] = record


class Database:
    """An episode's view of the domain data: the shared base plus this episode's changes.

    ``reference`` holds static tables no tool changes (e.g. airports); they are outside the state
    and its hash.
    """

    def __init__(self, base: Tables, reference: Mapping[str, Any] | None = None):
        self._base = base
        self.reference: Mapping[str, Any] = reference or {}
        self._overlay: dict[str, dict[str, Record]] = {name: {} for name in base}

    def __getitem__(self, table: str) -> Table:
        return Table(table, self._base[table], self._overlay[table])

    @property
    def base_id(self) -> int:
        """Identity of the shared base: databases with equal ``base_id`` are comparable."""
        return id(self._base)

    @property
    def table_names(self) -> list[str]:
        return list(self._base)

    def fork(self) -> Database:
        """A fresh episode on the same base: O(1), nothing copied."""
        return Database(self._base, self.reference)

    def touched(self) -> set[tuple[str, str]]:
        return {(table, key) for table, records in self._overlay.items() for key in records}

    def _lookup(self, table: str, key: str) -> Record | None:
        overlay = self._overlay[table]
        if key in overlay:
            return overlay[key]
        return self._base[table].get(key)

    def diff(self, other: Database) -> list[RecordDiff]:
        """Records that differ from ``other`` (same base), by τ-bench's canonical form."""
        if other._base is not self._base:
            raise ValueError("can only diff databases built on the same base")
        diffs = []
        for table, key in sorted(self.touched() | other.touched()):
            mine, theirs = self._lookup(table, key), other._lookup(table, key)
            if mine is theirs:
                continue
            if not canonical_equal(mine, theirs):
                diffs.append(RecordDiff(table, key, mine, theirs))
        return diffs

    def to_dict(self) -> dict[str, dict[str, Record]]:
        """The whole current state as plain data (O(database): for export and conformance, not rewards)."""
        return {name: {key: self[name][key] for key in self[name]} for name in self._base}

    def state_hash(self) -> str:
        """τ-bench's hash of the whole current state, equal to ``canonical_hash(self.to_dict())``.

        The text τ-bench hashes is the ``str()`` of nested tuples, so it is assembled from each
        record's text: the base's are computed once per process, only touched records anew.
        """
        base_text = _base_record_texts(self._base)
        table_texts = []
        for table in sorted(self._base):
            texts = dict(base_text[table])
            for key, record in self._overlay[table].items():
                texts[key] = repr((key, to_hashable(record)))
            table_texts.append(f"({table!r}, {_tuple_text([texts[k] for k in sorted(texts)])})")
        return sha256_hex(_tuple_text(table_texts))


def _tuple_text(items: list[str]) -> str:
    """``str()`` of a tuple whose elements' reprs are ``items``."""
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


Derived = TypeVar("Derived")
_DERIVED: dict[tuple[int, Hashable], tuple[object, Any]] = {}  # by the base's id and what was derived


def derived_once(base: object, what: Hashable, build: Callable[[], Derived]) -> Derived:
    """``build()``, worked out once per process for a shared object that is never written: a base (or one of
    its tables, :attr:`Table.base`) or a domain, so what is derived from it (texts, an index, a policy) stays true."""
    cached = _DERIVED.get((id(base), what))
    if cached is None or cached[0] is not base:
        cached = _DERIVED[(id(base), what)] = (base, build())
    return cached[1]


def _base_record_texts(base: Tables) -> dict[str, dict[str, str]]:
    return derived_once(
        base,
        "record texts",
        lambda: {t: {k: repr((k, to_hashable(r))) for k, r in records.items()} for t, records in base.items()},
    )


_ABSENT = object()


class PlainDatabase:
    """An episode's database as plain nested dicts, for tools that change records in place (τ-bench's).

    Such tools cannot be handed copy-on-write views, so an episode works on a deep copy of the shared
    base, made the first time a tool asks for :attr:`data` (``fork`` itself copies nothing). Nothing
    records which records a tool touched, so comparisons look at every record, by τ-bench's canonical
    form. The interface is :class:`Database`'s, for :class:`~taurl.core.env.DomainEnv` and the reward.
    """

    def __init__(self, base: dict[str, Any]):
        self._base = base
        self._data: dict[str, Any] | None = None
        self.reference: Mapping[str, Any] = {}

    @property
    def data(self) -> dict[str, Any]:
        """This episode's own mutable copy of the whole state: what the tools change."""
        if self._data is None:
            self._data = clone(self._base)
        return self._data

    @property
    def _current(self) -> dict[str, Any]:
        return self._base if self._data is None else self._data

    def __getitem__(self, table: str) -> Any:
        return self._current[table]

    @property
    def base_id(self) -> int:
        return id(self._base)

    @property
    def table_names(self) -> list[str]:
        return list(self._current)

    def fork(self) -> PlainDatabase:
        return PlainDatabase(self._base)

    def touched(self) -> set[tuple[str, str]]:
        """Records that differ from the base."""
        return {(d.table, d.key) for d in self.diff(self.fork())}

    def diff(self, other: PlainDatabase) -> list[RecordDiff]:
        """Records that differ from ``other`` (same base), by τ-bench's canonical form; a table that is
        not a mapping counts as one record with key ``""``."""
        if other._base is not self._base:
            raise ValueError("can only diff databases built on the same base")
        mine, theirs = self._current, other._current
        diffs: list[RecordDiff] = []
        if mine is theirs:
            return diffs
        for table in sorted(set(mine) | set(theirs)):
            my_records, their_records = _records(mine.get(table)), _records(theirs.get(table))
            for key in _differing_keys(my_records, their_records):
                diffs.append(RecordDiff(table, key, my_records.get(key), their_records.get(key)))
        return diffs

    def to_dict(self) -> dict[str, Any]:
        return clone(self._current)

    def state_hash(self) -> str:
        return canonical_hash(self._current)


def _records(table: Any) -> Mapping[str, Any]:
    if table is None:
        return {}
    return table if isinstance(table, Mapping) else {"": table}


def _differing_keys(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """Keys of the records that differ, in order. Python's ``==`` sorts thousands of records at C speed;
    the ones it calls equal are confirmed all at once (one marshal comparison also tells 1 from 1.0),
    so only the others are compared one by one."""
    keys = sorted(set(mine) | set(theirs), key=str)
    equal = {key for key in keys if key in mine and key in theirs and mine[key] == theirs[key]}
    if _identical([mine[key] for key in equal], [theirs[key] for key in equal]):
        keys = [key for key in keys if key not in equal]
    return [key for key in keys if not _same(mine.get(key, _ABSENT), theirs.get(key, _ABSENT))]


def _identical(a: Any, b: Any) -> bool:
    """Same types, values and order throughout (equal marshal bytes): canonically equal, at C speed."""
    try:
        return marshal.dumps(a, 2) == marshal.dumps(b, 2)
    except ValueError:  # a type marshal cannot write: leave it to the canonical comparison
        return False


def _same(a: Any, b: Any) -> bool:
    """Equal by τ-bench's canonical form (which ignores key order, unlike marshal)."""
    if a is b:
        return True
    if a is _ABSENT or b is _ABSENT:
        return False
    return _identical(a, b) or canonical_equal(a, b)
