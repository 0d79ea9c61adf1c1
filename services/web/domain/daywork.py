"""The day's work report (当日工作报表) put together: one row per person from complaints'
counts and tracking's notes, named as the desk knows them, and a totals row.

A person is the subject of an audit name `role:subject` (the desk's user name), whatever role
they acted in; `system:*` actors are the services themselves, nobody's work. Notes written
stay empty (not 0) while tracking cannot report them, so nobody reads "wrote no notes".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

COUNTS = ("calls_logged", "notes_written", "complaints_answered", "first_answers", "first_answers_within_sla",
          "complaints_resolved", "resolved_within_sla", "receipts_chased", "callbacks_returned",
          "complaints_claimed", "complaints_opened")
TOTAL = "合计 total"


def person_of(actor: str) -> str | None:
    role, sep, sub = actor.partition(":")
    if not sep:
        return actor or None
    return None if role == "system" or not sub else sub


def merge_daily_work(work: Iterable[Mapping[str, Any]], notes: Mapping[str, int] | None,
                     names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Rows by display name, then the totals row."""
    rows: dict[str, dict[str, Any]] = {}

    def row(person: str) -> dict[str, Any]:
        if person not in rows:
            rows[person] = {"person": person, "name": names.get(person, person),
                            **dict.fromkeys(COUNTS, 0), "notes_written": None if notes is None else 0}
        return rows[person]

    for w in work:
        r = row(str(w["person"]))
        for key in COUNTS:
            if key in w:
                r[key] = int(w[key] or 0)
    for person, n in (notes or {}).items():
        row(person)["notes_written"] = n
    ordered = sorted(rows.values(), key=lambda r: (str(r["name"]), str(r["person"])))
    total: dict[str, Any] = {"person": "", "name": TOTAL}
    for key in COUNTS:
        total[key] = None if key == "notes_written" and notes is None else sum(r[key] or 0 for r in ordered)
    return [*ordered, total]
