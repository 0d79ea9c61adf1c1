"""Use cases of the complaints desk: one transaction each, events through the outbox.

The API and the event handlers are thin: they parse, authorise and call in here.
Business rules come from `domain.py`; SQL from `repository.py`; the shipment read
model's merge rules from `readmodel.py`.

Ticket clock: every action happens at `max(now, last action)` so a ticket's own
timeline never runs backwards (the SLA scan may be run at a chosen `now`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.complaints import repository as repo
from services.complaints.domain import (
    Action,
    Category,
    Channel,
    ComplaintsReport,
    CustomerFile,
    DomainError,
    Language,
    Month,
    Pause,
    Priority,
    SlaKind,
    SlaPolicy,
    TicketFacts,
    TicketState,
    TicketStatus,
    VisitDue,
    allowed_actions,
    apply_action,
    breaches,
    breaches_to_emit,
    can_transition,
    check_returning_call,
    default_priority,
    find_sla_policy,
    first_response_due,
    is_key_customer,
    monthly_report,
    open_ticket,
    parse_language,
    parse_month,
    resolution_due,
    settles_callback,
    suggested_reply,
    visits_due,
)
from services.complaints.domain import ShipmentSnapshot as DomainSnapshot
from services.complaints.readmodel import ShipmentView
from services.complaints.settings import ComplaintsSettings
from shared.auth import Principal
from shared.events import (
    Complainant,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintOpened,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintResponded,
    ComplaintSlaBreached,
)
from shared.metrics import count
from shared.outbox import publish

log = logging.getLogger("lcs.complaints")

SOURCE = "/lcs/complaints"
SLA_MONITOR = "system:sla-monitor"
PROACTIVE_CARE = "system:proactive-care"

TICKETS_OPENED = Counter("lcs_complaints_tickets_opened_total", "Complaint tickets opened",
                         ["category", "channel", "proactive"])
TRANSITIONS = Counter("lcs_complaints_transitions_total", "Ticket steps taken", ["action"])
TRANSITIONS_REFUSED = Counter("lcs_complaints_transitions_refused_total", "Ticket steps refused", ["action"])
SLA_BREACHES = Counter("lcs_complaints_sla_breaches_total", "SLA breaches recorded", ["kind"])


class NotFound(DomainError):
    """The thing asked for does not exist (HTTP 404)."""

    def __init__(self, what: str, key: str) -> None:
        super().__init__("not_found", f"{what} {key} not found", {"what": what, "key": key})


def utcnow() -> datetime:
    return datetime.now(UTC)


def _month_of(at: datetime, tz: str) -> Month:
    from zoneinfo import ZoneInfo

    local = at.astimezone(ZoneInfo(tz))
    return Month(local.year, local.month)


# --- ticket state <-> row -------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def state_of(row: repo.Row) -> TicketState:
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


def _state_fields(before: TicketState, after: TicketState, at: datetime, settings: ComplaintsSettings
                  ) -> dict[str, Any]:
    """Columns that follow from a new ticket state, including the recomputed due times."""
    hours = settings.business_hours()
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


def complainant(row: repo.Row) -> Complainant:
    return Complainant(customer_id=row["customer_id"], caller_name=row["caller_name"], phone=row["phone"],
                       email=row["email"], language=row["language"])


# --- reads ----------------------------------------------------------------------------


def _reply(row: repo.Row, view: ShipmentView | None, settings: ComplaintsSettings) -> str:
    return suggested_reply(
        category=Category(row["category"]), language=parse_language(row["language"]),
        caller_name=row["caller_name"], shipment=_snapshot_for_reply(row["waybill_no"], view),
        tz=settings.desk_tz, quote_hours=settings.quote_hours)


def _snapshot_for_reply(waybill_no: str | None, view: ShipmentView | None) -> DomainSnapshot | None:
    if view is not None:
        return view.snapshot()
    if waybill_no:
        # Known waybill number, no tracking event seen yet: say we confirm with the station.
        return DomainSnapshot(waybill_no=waybill_no, status="in_transit")
    return None


async def complaint_view(conn: asyncpg.Connection, row: repo.Row, settings: ComplaintsSettings, *,
                         with_history: bool, now: datetime | None = None) -> dict[str, Any]:
    """The ticket as the API returns it, with the live shipment snapshot and reply."""
    view = await repo.load_shipment(conn, row["waybill_no"]) if row["waybill_no"] else None
    state = state_of(row)
    current = now or utcnow()
    recorded = await repo.breach_kinds(conn, row["id"])
    running = {k.value for k in breaches(state, current, settings.business_hours())} \
        if state.status.value in repo.ACTIVE_STATUSES else set()
    kinds = sorted(set(recorded) | running)
    data = {k: row[k] for k in (
        "id", "status", "customer_id", "caller_name", "phone", "email", "language", "waybill_no", "channel",
        "category", "priority", "description", "proactive", "assigned_role", "opened_at", "opened_by",
        "first_response_minutes", "resolution_minutes", "first_response_due", "resolution_due",
        "first_responded_at", "resolved_at", "escalated_at", "closed_at",
        "resolution", "csat_score", "csat_comment")}
    data.update(
        breaches=kinds, breached=bool(kinds), paused=state.paused,
        allowed_actions=sorted(a.value for a in allowed_actions(state.status)),
        suggested_reply=_reply(row, view, settings) if view is not None else row["suggested_reply"],
        shipment=view.to_public() if view is not None else row["shipment"],
    )
    if with_history:
        data["history"] = await repo.history(conn, row["id"])
    return data


async def get_complaint(pool: asyncpg.Pool, settings: ComplaintsSettings, complaint_id: uuid.UUID,
                        principal: Principal) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await repo.get_complaint(conn, complaint_id)
        if row is None or not await _branch_sees(conn, principal, row):
            raise NotFound("complaint", str(complaint_id))
        return await complaint_view(conn, row, settings, with_history=True)


async def _branch_sees(conn: asyncpg.Connection, principal: Principal, row: repo.Row) -> bool:
    """Desk roles see every ticket; a branch only those whose waybill touches its station."""
    if principal.role != "branch":
        return principal.sees_station()
    if not row["waybill_no"]:
        return False
    view = await repo.load_shipment(conn, row["waybill_no"])
    return view is not None and principal.sees_station(*view.stations)


async def list_complaints(pool: asyncpg.Pool, principal: Principal, *, status: str | None, breached: bool | None,
                          customer_id: str | None, waybill_no: str | None, category: str | None,
                          after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[repo.Row]:
    station = principal.branch if principal.role == "branch" else None
    async with pool.acquire() as conn:
        return await repo.list_complaints(conn, now=utcnow(), status=status, breached=breached,
                                          customer_id=customer_id, waybill_no=waybill_no, category=category,
                                          station=station or None, after=after, limit=limit)


# --- SLA policies -----------------------------------------------------------------------


def _policies(rows: Sequence[repo.Row]) -> list[SlaPolicy]:
    return [SlaPolicy(Category(r["category"]) if r["category"] else None,
                      Priority(r["priority"]) if r["priority"] else None,
                      r["first_response_minutes"], r["resolution_minutes"]) for r in rows]


async def get_policies(pool: asyncpg.Pool) -> list[repo.Row]:
    async with pool.acquire() as conn:
        return await repo.list_policies(conn)


async def replace_policies(pool: asyncpg.Pool, policies: Sequence[repo.Row], actor: str) -> list[repo.Row]:
    """Replace the whole policy set; running tickets keep the targets they opened with."""
    seen: set[tuple[str | None, str | None]] = set()
    for p in policies:
        key = (p["category"], p["priority"])
        if key in seen:
            raise DomainError("invalid_sla_policy", "two policies for the same category and priority",
                              {"category": key[0], "priority": key[1]})
        seen.add(key)
    _policies(policies)  # the domain's checks (positive, first response ≤ resolution)
    async with pool.acquire() as conn, conn.transaction():
        await repo.replace_policies(conn, policies, actor)
        return await repo.list_policies(conn)


# --- customers: key rule ------------------------------------------------------------------


async def _is_key(conn: asyncpg.Connection, customer: repo.Row | None, at: datetime,
                  settings: ComplaintsSettings) -> bool:
    if customer is None:
        return False
    if customer["key_flag"]:
        return True
    rules = settings.care_rules()
    if rules.key_min_monthly_shipments is None:
        return False
    previous = _month_of(at, settings.desk_tz).previous()
    counts = await repo.shipments_between(conn, [customer["customer_id"]], previous.starts_at(settings.desk_tz),
                                          previous.ends_at(settings.desk_tz))
    return is_key_customer(flagged=False, shipments_last_month=counts.get(customer["customer_id"], 0), rules=rules)


# --- opening tickets -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewComplaint:
    caller_name: str
    phone: str | None
    channel: Channel
    category: Category
    description: str
    customer_id: str | None = None
    email: str | None = None
    language: str | None = None
    waybill_no: str | None = None
    priority: Priority | None = None


async def _open(conn: asyncpg.Connection, settings: ComplaintsSettings, new: NewComplaint, *, actor: str,
                now: datetime, proactive: bool = False) -> repo.Row | None:
    """Insert a ticket with its history and `opened` event; None if a proactive one already exists."""
    view = await repo.load_shipment(conn, new.waybill_no) if new.waybill_no else None
    customer = await repo.get_customer(conn, new.customer_id) if new.customer_id else None
    key = await _is_key(conn, customer, now, settings)
    language = parse_language(new.language or (customer or {}).get("language"))
    priority = new.priority or default_priority(new.category, key_customer=key)
    policy = find_sla_policy(_policies(await repo.list_policies(conn)), new.category, priority)
    state = open_ticket(opened_at=now, policy=policy)
    hours = settings.business_hours()
    ticket: repo.Row = {
        "id": uuid.uuid4(), "customer_id": new.customer_id, "caller_name": new.caller_name, "phone": new.phone,
        "email": new.email, "language": language.value, "waybill_no": new.waybill_no,
        "channel": new.channel.value, "category": new.category.value, "priority": priority.value,
        "description": new.description, "proactive": proactive, "status": state.status.value,
        "assigned_role": "staff", "opened_at": now, "opened_by": actor,
        "first_response_minutes": state.first_response_minutes, "resolution_minutes": state.resolution_minutes,
        "first_response_due": first_response_due(state, hours), "resolution_due": resolution_due(state, hours),
        "shipment": view.to_public() if view is not None else None, "last_action_at": now, "pauses": [],
    }
    ticket["suggested_reply"] = _reply(ticket, view, settings)
    if not await repo.insert_complaint(conn, ticket, once_per_shipment=proactive):
        return None
    await repo.add_history(conn, ticket["id"], at=now, actor=actor, action="open", from_status=None,
                           to_status=state.status.value,
                           details={"channel": ticket["channel"], "category": ticket["category"],
                                    "priority": ticket["priority"], "proactive": proactive,
                                    "first_response_due": ticket["first_response_due"],
                                    "resolution_due": ticket["resolution_due"]})
    if new.customer_id:
        # First sight creates the file; the caller's number only fills a gap, never overwrites.
        await repo.customer_seen(conn, new.customer_id, at=now, phone=new.phone, email=new.email)
    await publish(conn, ComplaintOpened(
        complaint_id=str(ticket["id"]), complainant=complainant(ticket), waybill_no=new.waybill_no,
        category=ticket["category"], channel=ticket["channel"], priority=ticket["priority"], opened_at=now,
        first_response_due=ticket["first_response_due"], resolution_due=ticket["resolution_due"],
        proactive=proactive), source=SOURCE)
    count(TICKETS_OPENED.labels(ticket["category"], ticket["channel"], str(proactive).lower()))
    return ticket


async def open_complaint(pool: asyncpg.Pool, settings: ComplaintsSettings, new: NewComplaint,
                         principal: Principal) -> dict[str, Any]:
    now = utcnow()
    async with pool.acquire() as conn, conn.transaction():
        ticket = await _open(conn, settings, new, actor=principal.actor, now=now)
        assert ticket is not None
        row = await repo.get_complaint(conn, ticket["id"])
        assert row is not None
        return await complaint_view(conn, row, settings, with_history=True, now=now)


async def open_care_ticket(conn: asyncpg.Connection, settings: ComplaintsSettings, view: ShipmentView) -> bool:
    """Proactive care: a delayed shipment of a key customer gets a ticket, once per shipment."""
    if not (settings.proactive_care_enabled and view.delayed and view.customer_id):
        return False
    if await conn.fetchval("SELECT 1 FROM complaints WHERE waybill_no = $1 AND proactive", view.waybill_no):
        return False
    now = utcnow()
    customer = await repo.get_customer(conn, view.customer_id)
    if not await _is_key(conn, customer, now, settings):
        return False
    shipper = view.shipper or {}
    minutes = f"约{view.delay_minutes}分钟" if view.delay_minutes else ""
    description = (f"主动关怀：重点客户的运单{view.waybill_no}延误{minutes}（原因：{view.delay_reason or '未知'}），"
                   "请在客户来电前主动联系，告知原因和新的预计到达时间。")
    new = NewComplaint(
        caller_name=(shipper.get("name") or (customer or {}).get("name") or view.customer_id)[:100],
        phone=shipper.get("phone") or (customer or {}).get("phone"),
        email=shipper.get("email") or (customer or {}).get("email"),
        channel=Channel.PHONE, category=Category.DELAY, description=description,
        customer_id=view.customer_id, waybill_no=view.waybill_no)
    ticket = await _open(conn, settings, new, actor=PROACTIVE_CARE, now=now, proactive=True)
    if ticket is not None:
        log.info("proactive care ticket opened", extra={"complaint_id": str(ticket["id"]),
                                                         "waybill_no": view.waybill_no})
    return ticket is not None


# --- ticket steps ------------------------------------------------------------------------------


async def _record_breaches(conn: asyncpg.Connection, settings: ComplaintsSettings, row: repo.Row,
                           state: TicketState, now: datetime, detected_by: str) -> list[tuple[SlaKind, datetime]]:
    """Record and announce the breaches of `state` as of `now` not announced before (once per kind)."""
    hours = settings.business_hours()
    found = breaches(state, now, hours)
    already = [SlaKind(k) for k in await repo.breach_kinds(conn, row["id"])]
    recorded: list[tuple[SlaKind, datetime]] = []
    for kind in breaches_to_emit(found, already):
        due = first_response_due(state, hours) if kind is SlaKind.FIRST_RESPONSE else resolution_due(state, hours)
        assert due is not None  # a breached kind has a deadline
        if not await repo.record_breach(conn, row["id"], kind=kind.value, due_at=due, breached_at=now,
                                        detected_by=detected_by):
            continue
        await repo.update_complaint(conn, row["id"], {f"{kind.value}_breached": True})
        await repo.add_history(conn, row["id"], at=max(now, row["last_action_at"]), actor=detected_by,
                               action="sla_breached", from_status=state.status.value, to_status=state.status.value,
                               details={"kind": kind.value, "due_at": due})
        await publish(conn, ComplaintSlaBreached(
            complaint_id=str(row["id"]), kind=kind.value, due_at=due, breached_at=now, category=row["category"],
            priority=row["priority"], waybill_no=row["waybill_no"], customer_id=row["customer_id"]), source=SOURCE)
        count(SLA_BREACHES.labels(kind.value))
        recorded.append((kind, due))
    return recorded


async def _announce_escalation(conn: asyncpg.Connection, row: Mapping[str, Any], reason: str | None, actor: str,
                               at: datetime) -> None:
    await publish(conn, ComplaintEscalated(
        complaint_id=str(row["id"]), waybill_no=row["waybill_no"], category=row["category"],
        priority=row["priority"], reason=reason, escalated_by=actor, escalated_at=at), source=SOURCE)


@dataclass(frozen=True)
class Step:
    action: Action
    details: dict[str, Any]
    resolution: str | None = None
    score: int | None = None
    comment: str | None = None


async def take_step(pool: asyncpg.Pool, settings: ComplaintsSettings, complaint_id: uuid.UUID, step: Step,
                    principal: Principal) -> dict[str, Any]:
    """One ticket step (respond, ask, customer reply, escalate, resolve, reopen, survey, close)."""
    now = utcnow()
    async with pool.acquire() as conn, conn.transaction():
        row = await repo.get_complaint(conn, complaint_id, for_update=True)
        if row is None:
            raise NotFound("complaint", str(complaint_id))
        before = state_of(row)
        at = max(now, row["last_action_at"])
        if not can_transition(before.status, step.action):
            TRANSITIONS_REFUSED.labels(step.action.value).inc()
        after = apply_action(before, step.action, at, resolution=step.resolution, score=step.score)
        fields = _state_fields(before, after, at, settings)
        if step.action is Action.ESCALATE:
            fields["assigned_role"] = "supervisor"
        elif step.action is Action.SURVEY:
            fields.update(csat_comment=step.comment, surveyed_at=at, closed_at=at)
        elif step.action is Action.CLOSE:
            fields["closed_at"] = at
        elif step.action is Action.REOPEN:
            fields["closed_at"] = None
        await repo.update_complaint(conn, complaint_id, fields)
        await repo.add_history(conn, complaint_id, at=at, actor=principal.actor, action=step.action.value,
                               from_status=before.status.value, to_status=after.status.value, details=step.details)
        row = {**row, **fields}
        if step.action in (Action.RESPOND, Action.ASK_CUSTOMER):
            await publish(conn, ComplaintResponded(
                complaint_id=str(complaint_id), complainant=complainant(row), waybill_no=row["waybill_no"],
                message=step.details["message"], responded_at=at), source=SOURCE)
        elif step.action is Action.RESOLVE:
            assert after.resolution is not None
            await publish(conn, ComplaintResolved(
                complaint_id=str(complaint_id), complainant=complainant(row), waybill_no=row["waybill_no"],
                resolution=after.resolution, resolved_at=at), source=SOURCE)
        elif step.action is Action.ESCALATE:
            await _announce_escalation(conn, row, step.details.get("reason"), principal.actor, at)
        elif step.action is Action.REOPEN:
            await publish(conn, ComplaintReopened(
                complaint_id=str(complaint_id), waybill_no=row["waybill_no"], category=row["category"],
                reason=step.details.get("reason"), reopened_at=at), source=SOURCE)
        elif step.action in (Action.SURVEY, Action.CLOSE):
            await publish(conn, ComplaintClosed(
                complaint_id=str(complaint_id), waybill_no=row["waybill_no"], category=row["category"],
                csat_score=step.score if step.action is Action.SURVEY else None, closed_at=at), source=SOURCE)
        # A deadline missed before this step (e.g. a late first answer) is recorded now, once.
        await _record_breaches(conn, settings, row, after, at, principal.actor)
        count(TRANSITIONS.labels(step.action.value))
        fresh = await repo.get_complaint(conn, complaint_id)
        assert fresh is not None
        return await complaint_view(conn, fresh, settings, with_history=True, now=at)


# --- SLA monitor -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BreachFound:
    complaint_id: uuid.UUID
    kind: str
    due_at: datetime
    breached_at: datetime
    escalated: bool


async def scan_sla(pool: asyncpg.Pool, settings: ComplaintsSettings, now: datetime) -> tuple[int, list[BreachFound]]:
    """Find running tickets past a deadline: record and announce each breach once, escalate the ticket.

    One transaction per ticket, so a failure on one ticket never blocks the others.
    """
    async with pool.acquire() as conn:
        candidates = await repo.breach_candidates(conn, now, settings.sla_monitor_batch)
    found: list[BreachFound] = []
    for complaint_id in candidates:
        async with pool.acquire() as conn, conn.transaction():
            row = await repo.get_complaint(conn, complaint_id, for_update=True)
            if row is None or row["status"] not in repo.ACTIVE_STATUSES:
                continue
            state = state_of(row)
            recorded = await _record_breaches(conn, settings, row, state, now, SLA_MONITOR)
            escalated = False
            if recorded and can_transition(state.status, Action.ESCALATE):
                at = max(now, row["last_action_at"])
                after = apply_action(state, Action.ESCALATE, at)
                fields = _state_fields(state, after, at, settings)
                fields["assigned_role"] = "supervisor"
                await repo.update_complaint(conn, complaint_id, fields)
                await repo.add_history(conn, complaint_id, at=at, actor=SLA_MONITOR, action=Action.ESCALATE.value,
                                       from_status=state.status.value, to_status=after.status.value,
                                       details={"reason": "sla_breached", "kinds": [k.value for k, _ in recorded],
                                                "assigned_role": "supervisor"})
                await _announce_escalation(conn, row, "sla_breached", SLA_MONITOR, at)
                escalated = True
            elif recorded and row["assigned_role"] != "supervisor":
                await repo.update_complaint(conn, complaint_id, {"assigned_role": "supervisor"})
            found += [BreachFound(complaint_id, k.value, due, now, escalated) for k, due in recorded]
    if found:
        log.info("sla breaches recorded", extra={"count": len(found), "now": now.isoformat()})
    return len(candidates), found


# --- calls ------------------------------------------------------------------------------------------


async def log_call(pool: asyncpg.Pool, call: repo.Row, principal: Principal) -> repo.Row:
    now = utcnow()
    if call["outcome"] == "callback" and call["callback_due"] is None:
        raise DomainError("callback_due_required", "a call to be returned needs callback_due")
    async with pool.acquire() as conn, conn.transaction():
        if call["complaint_id"] is not None and await repo.get_complaint(conn, call["complaint_id"]) is None:
            raise DomainError("unknown_complaint", f"complaint {call['complaint_id']} does not exist",
                              {"complaint_id": str(call["complaint_id"])})
        settles = False
        if call.get("callback_of") is not None:
            original = await repo.lock_callback(conn, call["callback_of"])
            check_returning_call(original_id=str(call["callback_of"]),
                                 original_outcome=None if original is None else original["outcome"],
                                 settled=bool(original and original["settled"]))
            settles = settles_callback(call["outcome"])
        row = await repo.insert_call(conn, {**call, "id": uuid.uuid4(), "called_at": call["called_at"] or now,
                                            "recorded_by": principal.actor, "settles_callback": settles})
        if call["customer_id"]:
            await repo.customer_seen(conn, call["customer_id"], at=row["called_at"])
        return row


async def list_calls(pool: asyncpg.Pool, **filters: Any) -> list[repo.Row]:
    async with pool.acquire() as conn:
        return await repo.list_calls(conn, **filters)


async def callbacks_due(pool: asyncpg.Pool, **filters: Any) -> list[repo.Row]:
    async with pool.acquire() as conn:
        return await repo.callbacks_due(conn, now=utcnow(), **filters)


# --- customer files -----------------------------------------------------------------------------------


async def customer_file(pool: asyncpg.Pool, settings: ComplaintsSettings, customer_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        customer = await repo.get_customer(conn, customer_id)
        if customer is None:
            raise NotFound("customer", customer_id)
        shipments_count, shipments = await repo.customer_shipments(conn, customer_id, 20)
        stats, complaints = await repo.customer_complaints(conn, customer_id, 20)
        distribution = await repo.customer_csat(conn, customer_id)
        scored = sum(distribution.values())
        visit = await repo.last_visit(conn, customer_id)
        return {
            **{k: customer[k] for k in ("customer_id", "name", "key_flag", "phone", "email", "language",
                                        "contacts", "first_seen_at")},
            "key_customer": await _is_key(conn, customer, utcnow(), settings),
            "shipments_count": shipments_count, "shipments": shipments,
            "complaints_count": stats["total"], "open_complaints": stats["open"], "complaints": complaints,
            "csat": {"average": (sum(s * n for s, n in distribution.items()) / scored) if scored else None,
                     "count": scored, "distribution": {str(s): distribution.get(s, 0) for s in range(1, 6)}},
            "calls_count": await repo.count_calls(conn, customer_id),
            "last_visit": visit,
        }


async def update_customer(pool: asyncpg.Pool, settings: ComplaintsSettings, customer_id: str,
                          fields: dict[str, Any], principal: Principal) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "key_customer":
            columns["key_flag"] = bool(value)
        elif name == "language":
            columns["language"] = None if value is None else parse_language(value).value
        elif name == "contacts":
            columns["contacts"] = value or []  # an explicit null clears the list
        else:
            columns[name] = value
    async with pool.acquire() as conn, conn.transaction():
        await repo.upsert_customer(conn, customer_id, columns, at=utcnow(), actor=principal.actor)
    return await customer_file(pool, settings, customer_id)


async def record_visit(pool: asyncpg.Pool, customer_id: str, visit: dict[str, Any], principal: Principal
                       ) -> repo.Row:
    async with pool.acquire() as conn, conn.transaction():
        if await repo.get_customer(conn, customer_id, for_update=True) is None:
            raise NotFound("customer", customer_id)
        return await repo.insert_visit(conn, {**visit, "id": uuid.uuid4(), "customer_id": customer_id,
                                              "by": visit["by"] or principal.actor, "recorded_by": principal.actor})


async def due_visits(pool: asyncpg.Pool, settings: ComplaintsSettings, month_text: str) -> tuple[Month, list[VisitDue]]:
    month = parse_month(month_text)
    rules, tz = settings.care_rules(), settings.desk_tz
    previous = month.previous()
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        candidates = await repo.visit_candidates(
            conn, new_since=month.ends_at(tz) - timedelta(days=rules.new_customer_days),
            volume_start=previous.starts_at(tz), volume_end=previous.ends_at(tz),
            min_volume=rules.key_min_monthly_shipments)
        ids = [c["customer_id"] for c in candidates]
        volumes = await repo.shipments_between(conn, ids, previous.starts_at(tz), previous.ends_at(tz))
        visits = await repo.visits_of(conn, ids)
    files = [CustomerFile(customer_id=c["customer_id"], name=c["name"], first_seen_at=c["first_seen_at"],
                          key_flag=c["key_flag"], shipments_last_month=volumes.get(c["customer_id"], 0),
                          visits=tuple(visits.get(c["customer_id"], ()))) for c in candidates]
    return month, visits_due(files, month, rules=rules, tz=tz)


# --- reports ---------------------------------------------------------------------------------------------


async def complaints_report(pool: asyncpg.Pool, settings: ComplaintsSettings, month_text: str,
                            as_of: datetime | None) -> ComplaintsReport:
    month = parse_month(month_text)
    tz = settings.desk_tz
    async with pool.acquire() as conn:
        rows = await repo.report_rows(conn, month.starts_at(tz), month.ends_at(tz))
    facts = [TicketFacts(
        category=Category(r["category"]), channel=Channel(r["channel"]), opened_at=r["opened_at"],
        first_response_at=r["first_responded_at"], resolved_at=r["resolved_at"],
        first_response_due=r["first_response_due"], resolution_due=r["resolution_due"],
        first_response_breached=r["first_response_breached"], resolution_breached=r["resolution_breached"],
        csat_score=r["csat_score"]) for r in rows]
    return monthly_report(facts, month, as_of=as_of or utcnow(), tz=tz)


__all__ = ["Language", "NotFound", "Step"]
