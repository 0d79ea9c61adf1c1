"""The day's work per desk member (当日工作报表), as far as the complaints desk records it.

Unrecorded daily work is one of the desk's forbidden things; this report shows, for one
calendar day (desk timezone), what each person did. A person is the subject of the audit
name ``role:subject`` (the desk's user name), whatever role they acted in; the service's
own steps (``system:...``: the SLA monitor, proactive care) are nobody's work:

* ``calls_logged`` — calls recorded (in or out);
* ``receipts_chased`` — of those, calls about a receipt (topic ``receipt``: the desk
  chasing a receipt with a station or a customer);
* ``callbacks_returned`` — calls that settled a callback the desk owed;
* ``complaints_opened`` — tickets they filed;
* ``complaints_claimed`` — tickets they took (or were handed) that day;
* ``complaints_answered`` — tickets they answered (a response, or a question to the
  customer), each ticket counted once however many answers it got;
* ``first_answers`` / ``first_answers_within_sla`` — of those, the tickets whose *first*
  answer was theirs that day, and how many of those were in time (at or before the
  first-response deadline that applied then);
* ``complaints_resolved`` / ``resolved_within_sla`` — tickets they resolved, and how many
  of those never breached their resolution deadline.

A claim handed to someone counts for the person it was handed to, not the supervisor
who handed it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.clock import BUSINESS_TZ_NAME
from shared.tabular import Column

ANSWERS = frozenset({"respond", "ask_customer"})


@dataclass(frozen=True, slots=True)
class CallFact:
    actor: str
    topic: str
    settles_callback: bool


@dataclass(frozen=True, slots=True)
class StepFact:
    """One history entry of a ticket, with what the report judges it by."""

    actor: str
    action: str
    complaint_id: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    first_responded_at: datetime | None = None
    first_response_due: datetime | None = None
    resolution_breached: bool = False


@dataclass(slots=True)
class WorkRow:
    person: str
    calls_logged: int = 0
    receipts_chased: int = 0
    callbacks_returned: int = 0
    complaints_opened: int = 0
    complaints_claimed: int = 0
    complaints_answered: int = 0
    first_answers: int = 0
    first_answers_within_sla: int = 0
    complaints_resolved: int = 0
    resolved_within_sla: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


COUNTS: tuple[str, ...] = tuple(f.name for f in fields(WorkRow) if f.name != "person")
# The report as a spreadsheet (`shared.tabular`): the person, then whole-number counts.
WORK_COLUMNS: tuple[Column, ...] = (Column("person"), *(Column(name, "int") for name in COUNTS))
SYSTEM = "system"


def day_window(day: date, tz: str = BUSINESS_TZ_NAME) -> tuple[datetime, datetime]:
    """The calendar day in `tz` as the half-open interval [local midnight, next local midnight)."""
    zone = ZoneInfo(tz)
    return (datetime.combine(day, time.min, tzinfo=zone),
            datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone))


def person_of(actor: str) -> str | None:
    """The person behind an audit name (`staff:alice` → `alice`); None for the service itself."""
    role, sep, sub = actor.partition(":")
    if not sep:
        return actor or None
    return None if role == SYSTEM or not sub else sub


def daily_work(calls: Iterable[CallFact], steps: Iterable[StepFact]) -> list[WorkRow]:
    """One row per person who did anything, by name; the facts are of one day already."""
    rows: dict[str, WorkRow] = {}
    answered: dict[str, set[str]] = defaultdict(set)
    first: dict[str, set[str]] = defaultdict(set)
    first_in_time: dict[str, set[str]] = defaultdict(set)
    resolved: dict[str, set[str]] = defaultdict(set)
    resolved_in_time: dict[str, set[str]] = defaultdict(set)

    def row(person: str) -> WorkRow:
        return rows.setdefault(person, WorkRow(person))

    for call in calls:
        who = person_of(call.actor)
        if who is None:
            continue
        r = row(who)
        r.calls_logged += 1
        r.receipts_chased += call.topic == "receipt"
        r.callbacks_returned += call.settles_callback
    for step in steps:
        who = person_of(step.actor)
        if step.action == "claim":
            who = str(step.details.get("assigned_to") or "") or who
        if who is None:
            continue
        if step.action == "open":
            row(who).complaints_opened += 1
        elif step.action == "claim":
            row(who).complaints_claimed += 1
        elif step.action in ANSWERS:
            row(who)
            answered[who].add(step.complaint_id)
            if step.first_responded_at is not None and step.first_responded_at == step.at:
                first[who].add(step.complaint_id)
                if step.first_response_due is None or step.at <= step.first_response_due:
                    first_in_time[who].add(step.complaint_id)
        elif step.action == "resolve":
            row(who)
            resolved[who].add(step.complaint_id)
            if not step.resolution_breached:
                resolved_in_time[who].add(step.complaint_id)
    for who, r in rows.items():
        r.complaints_answered = len(answered[who])
        r.first_answers = len(first[who])
        r.first_answers_within_sla = len(first_in_time[who])
        r.complaints_resolved = len(resolved[who])
        r.resolved_within_sla = len(resolved_in_time[who])
    return [rows[p] for p in sorted(rows)]


def totals(rows: Iterable[WorkRow]) -> dict[str, int]:
    out = dict.fromkeys(COUNTS, 0)
    for r in rows:
        for name in COUNTS:
            out[name] += getattr(r, name)
    return out
