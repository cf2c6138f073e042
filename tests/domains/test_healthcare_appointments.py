"""Healthcare's appointment index gives what a scan of the whole table gives: the same records, in the same
order, as the episode sees them, however the episode changed or added appointments."""

from __future__ import annotations

import taurl.domains.healthcare as mod
from taurl.core.db import Database
from taurl.domains.healthcare.appointments import FIELDS, matching

DOMAIN = mod.DOMAIN


def scanned(db: Database, field: str, value: object) -> list[dict]:
    table = db["appointments"]
    return [table[key] for key in table if table[key].get(field) == value]


def every_value(db: Database) -> set:
    table = db["appointments"]
    return {table[key].get(field) for key in table for field in FIELDS} | {"nobody", None}


def test_an_untouched_episode_reads_each_doctors_and_patients_appointments_as_a_scan_does(db):
    for field in FIELDS:
        for value in every_value(db):
            assert list(matching(db, field, value)) == scanned(db, field, value)


def test_changed_moved_and_added_appointments_are_read_as_the_episode_sees_them(db):
    table = db["appointments"]
    keys = list(table)
    first, second, last = keys[0], keys[1], keys[-1]
    moved_to, left = table[last]["doctor_id"], table[second]["patient_id"]
    table.edit(first)["doctor_id"] = moved_to  # now another doctor's, ahead of that doctor's own in table order
    table.edit(second)["patient_id"] = "P-elsewhere"
    table.edit(last)["status"] = "cancelled"
    table.insert("A9999", {**table[last], "appointment_id": "A9999", "patient_id": table[first]["patient_id"]})
    table.insert("A0000x", {**table[second], "appointment_id": "A0000x"})  # added later, listed after A9999
    for field in FIELDS:
        for value in every_value(db):
            assert list(matching(db, field, value)) == scanned(db, field, value)
    assert next(matching(db, "doctor_id", moved_to)) is table[first]
    assert [a["appointment_id"] for a in matching(db, "patient_id", "P-elsewhere")] == [second, "A0000x"]
    assert table[second] not in list(matching(db, "patient_id", left))
    assert list(matching(db, "patient_id", table[first]["patient_id"]))[-1]["appointment_id"] == "A9999"


def test_a_value_that_is_not_text_is_compared_record_by_record(db):
    assert list(matching(db, "doctor_id", 7)) == [] == scanned(db, "doctor_id", 7)
