"""Healthcare's appointments by doctor and by patient, so that a tool reads one doctor's or one patient's
appointments instead of every appointment of the clinic on every call.

The index is built once per shared base table (loaded once per process); the records an episode changed
or added (a handful) are looked at on every read, since a change may move a record to another doctor or
patient. Records come in the table's own order (the base's, then the episode's additions) and each is
read as the episode sees it now: a tool's observation is the one a scan of the whole table gives.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from taurl.core.db import Database, Record, derived_once

TABLE = "appointments"
FIELDS = ("doctor_id", "patient_id")


@dataclass(frozen=True)
class AppointmentIndex:
    place: dict[str, int]  # a base record's key -> its place in the base table
    by_field: dict[str, dict[str, list[str]]]  # field -> value -> keys of the base records that hold it, in order


def index(base: Mapping[str, Record]) -> AppointmentIndex:
    """The index of a base table, built the first time it is asked for."""
    return derived_once(base, "appointment index", lambda: _build(base))


def _build(base: Mapping[str, Record]) -> AppointmentIndex:
    by_field: dict[str, dict[str, list[str]]] = {field: {} for field in FIELDS}
    for key, record in base.items():
        for field, keys in by_field.items():
            value = record.get(field)
            if isinstance(value, str):  # a tool asks for a string: nothing else can equal it
                keys.setdefault(value, []).append(key)
    return AppointmentIndex({key: n for n, key in enumerate(base)}, by_field)


def matching(db: Database, field: str, value: object) -> Iterator[Record]:
    """The appointments whose ``field`` (one of :data:`FIELDS`) equals ``value``, in the table's order."""
    table = db[TABLE]
    if not isinstance(value, str):  # not what the index holds: read them all
        yield from (table[key] for key in table if table[key].get(field) == value)
        return
    found = index(table.base)
    keys = found.by_field[field].get(value, [])
    changed = table.changed
    if changed:
        moved = [key for key in changed if key in found.place]  # base records the episode changed: maybe this one's now
        if moved:
            keys = sorted({*keys, *moved}, key=found.place.__getitem__)
        keys = [*keys, *(key for key in changed if key not in found.place)]  # the episode's additions, as added
    for key in keys:
        record = table[key]
        if record.get(field) == value:
            yield record
