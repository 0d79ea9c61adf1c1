"""What every step of a ticket writes, inside the caller's transaction: the row ↔ state
mapping, the columns a new state sets, the breaches it reveals, and the events that
announce them. Shared by the ticket steps (`tickets.service`) and the SLA monitor
(`sla.service`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.complaints.context import ComplaintsRuntime
from services.complaints.domain.sla import (
    Pause,
    SlaKind,
    breaches,
    breaches_to_emit,
    first_response_due,
    kind_due,
    resolution_due,
)
from services.complaints.domain.tickets import Action, TicketState, TicketStatus, apply_action
from services.complaints.tickets import repository
from shared.events import Complainant, ComplaintEscalated, ComplaintSlaBreached
from shared.metrics import count
from shared.outbox import publish

SOURCE = "/lcs/complaints"

SLA_BREACHES = Counter("lcs_complaints_sla_breaches_total", "SLA breaches recorded", ["kind"])

Row = repository.Row


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def state_of(row: Mapping[str, Any]) -> TicketState:
    """The domain's state of a stored ticket."""
    pauses = []
    for p in row["pauses"] or []:
        start = _parse_time(p["start"])
        assert start is not None
        pauses.append(Pause(start, _parse_time(p.get("end"))))
    return TicketState(
        status=TicketStatus(row["status"]), opened_at=row["opened_at"],
        first_response_minutes=row["first_response_minutes"], resolution_minutes=row["resolution_minutes"],
        first_responded_at=row["first_responded_at"], resolved_at=row["resolved_at"],
        escalated_at=row["escalated_at"], pauses=tuple(pauses), resolution=row["resolution"],
        csat_score=row["csat_score"],
    )


def _pauses_json(pauses: Sequence[Pause]) -> list[dict[str, str | None]]:
    return [{"start": p.start.isoformat(), "end": None if p.end is None else p.end.isoformat()} for p in pauses]


def state_fields(rt: ComplaintsRuntime, before: TicketState, after: TicketState, at: datetime) -> dict[str, Any]:
    """Columns that follow from a new ticket state, including the recomputed due times."""
    hours = rt.context.hours
    fields: dict[str, Any] = {
        "status": after.status.value, "first_responded_at": after.first_responded_at,
        "resolved_at": after.resolved_at, "escalated_at": after.escalated_at,
        "pauses": _pauses_json(after.pauses), "resolution": after.resolution, "csat_score": after.csat_score,
        "resolution_due": resolution_due(after, hours), "last_action_at": at,
    }
    if before.first_responded_at is None and after.first_responded_at is not None:
        # Frozen at the answer: the deadline that applied when the customer got it.
        fields["first_response_due"] = first_response_due(before, hours)
    elif after.first_responded_at is None:
        fields["first_response_due"] = first_response_due(after, hours)
    return fields


def complainant(row: Mapping[str, Any]) -> Complainant:
    return Complainant(customer_id=row["customer_id"], caller_name=row["caller_name"], phone=row["phone"],
                       email=row["email"], language=row["language"])


async def record_breaches(conn: asyncpg.Connection, rt: ComplaintsRuntime, *, row: Row, state: TicketState,
                          now: datetime, detected_by: str) -> list[tuple[SlaKind, datetime]]:
    """Record and announce the breaches of `state` as of `now` not announced before (once per kind)."""
    hours = rt.context.hours
    found = breaches(state, now, hours)
    already = [SlaKind(k) for k in await repository.breach_kinds(conn, row["id"])]
    recorded: list[tuple[SlaKind, datetime]] = []
    for kind in breaches_to_emit(found, already):
        due = kind_due(state, kind, hours)
        assert due is not None  # a breached kind has a deadline
        if not await repository.record_breach(conn, row["id"], kind=kind.value, due_at=due, breached_at=now,
                                              detected_by=detected_by):
            continue
        await repository.update_complaint(conn, row["id"], {f"{kind.value}_breached": True})
        await repository.add_history(conn, row["id"], at=max(now, row["last_action_at"]), actor=detected_by,
                                     action="sla_breached", from_status=state.status.value,
                                     to_status=state.status.value, details={"kind": kind.value, "due_at": due})
        await publish(conn, ComplaintSlaBreached(
            complaint_id=str(row["id"]), kind=kind.value, due_at=due, breached_at=now, category=row["category"],
            priority=row["priority"], waybill_no=row["waybill_no"], customer_id=row["customer_id"]), source=SOURCE)
        count(SLA_BREACHES.labels(kind.value))
        recorded.append((kind, due))
    return recorded


async def announce_escalation(conn: asyncpg.Connection, *, row: Mapping[str, Any], reason: str | None, actor: str,
                              at: datetime) -> None:
    await publish(conn, ComplaintEscalated(
        complaint_id=str(row["id"]), waybill_no=row["waybill_no"], category=row["category"],
        priority=row["priority"], reason=reason, escalated_by=actor, escalated_at=at), source=SOURCE)


async def escalate_for_breach(conn: asyncpg.Connection, rt: ComplaintsRuntime, *, row: Row, state: TicketState,
                              kinds: Sequence[SlaKind], at: datetime, actor: str) -> None:
    """The SLA monitor hands a breached ticket to the supervisor role: the escalate step, its
    history entry and its event."""
    complaint_id: uuid.UUID = row["id"]
    after = apply_action(state, Action.ESCALATE, at)
    fields = state_fields(rt, state, after, at)
    fields["assigned_role"] = "supervisor"
    await repository.update_complaint(conn, complaint_id, fields)
    await repository.add_history(conn, complaint_id, at=at, actor=actor, action=Action.ESCALATE.value,
                                 from_status=state.status.value, to_status=after.status.value,
                                 details={"reason": "sla_breached", "kinds": [k.value for k in kinds],
                                          "assigned_role": "supervisor"})
    await announce_escalation(conn, row=row, reason="sla_breached", actor=actor, at=at)
