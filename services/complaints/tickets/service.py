"""Use cases of complaint tickets: open (by the desk, a partner branch, or proactive care),
read, list, and every step of a ticket's life. One transaction each; events through the
outbox in it.

Ticket clock: every action happens at `max(now, last action)` so a ticket's own timeline
never runs backwards (the SLA scan may be run at a chosen `now`).

What a `branch` caller may do (docs/SECURITY.md): it files through the partner channel,
only about a waybill it can see (its station on the shipment's route or scans; otherwise
404 `not_found`, as tracking answers a read of that shipment), and its filing neither
reads nor writes the customer file it names — it cannot read customer files, so nothing
it gets back may depend on one, and nothing it sends may land in one.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.complaints.context import ComplaintsRuntime
from services.complaints.customers.repository import customer_seen, get_customer
from services.complaints.customers.service import is_key
from services.complaints.domain import customer_view
from services.complaints.domain import tickets as ticket_rules
from services.complaints.domain.claims import decide_claim
from services.complaints.domain.replies import ShipmentSnapshot, suggested_reply
from services.complaints.domain.shipments import ShipmentView
from services.complaints.domain.sla import breaches, find_sla_policy, first_response_due, resolution_due
from services.complaints.domain.tickets import Action, TicketStatus
from services.complaints.domain.visibility import partner_view
from services.complaints.domain.vocabulary import Category, Channel, Priority, parse_language
from services.complaints.shipments.repository import load_shipment
from services.complaints.sla.repository import load_policies
from services.complaints.tickets import lifecycle, repository
from services.complaints.tickets.lifecycle import SOURCE, complainant, state_of
from shared.auth import Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Forbidden, Invalid, NotFound
from shared.events import ComplaintClosed, ComplaintOpened, ComplaintReopened, ComplaintResolved, ComplaintResponded
from shared.metrics import count
from shared.outbox import publish

log = logging.getLogger("lcs.complaints")

PROACTIVE_CARE = "system:proactive-care"

TICKETS_OPENED = Counter("lcs_complaints_tickets_opened_total", "Complaint tickets opened",
                         ["category", "channel", "proactive"])
STEPS_TAKEN = Counter("lcs_complaints_transitions_total", "Ticket steps taken", ["action"])
STEPS_REFUSED = Counter("lcs_complaints_transitions_refused_total", "Ticket steps refused", ["action"])

Row = repository.Row


# --- reads ----------------------------------------------------------------------------


def _snapshot_for_reply(waybill_no: str | None, view: ShipmentView | None) -> ShipmentSnapshot | None:
    if view is not None:
        return view.snapshot()
    if waybill_no:
        # Known waybill number, no tracking event seen yet: say we confirm with the station.
        return ShipmentSnapshot(waybill_no=waybill_no, status="in_transit")
    return None


def _reply(rt: ComplaintsRuntime, row: Row, view: ShipmentView | None) -> str:
    """The suggested reply; a quote is promised within the ticket's own resolution target."""
    return suggested_reply(
        category=Category(row["category"]), language=parse_language(row["language"]),
        caller_name=row["caller_name"], shipment=_snapshot_for_reply(row["waybill_no"], view),
        tz=rt.settings.desk_tz, quote_minutes=row["resolution_minutes"])


async def complaint_view(conn: asyncpg.Connection, rt: ComplaintsRuntime, row: Row, *, with_history: bool,
                         now: datetime | None = None) -> dict[str, Any]:
    """The ticket as the API returns it, with the live shipment snapshot and reply."""
    view = await load_shipment(conn, row["waybill_no"]) if row["waybill_no"] else None
    state = state_of(row)
    current = now or utcnow()
    recorded = await repository.breach_kinds(conn, row["id"])
    running = {k.value for k in breaches(state, current, rt.context.hours)} \
        if state.status in ticket_rules.ACTIVE_STATUSES else set()
    kinds = sorted(set(recorded) | running)
    data = {k: row[k] for k in (
        "id", "status", "customer_id", "caller_name", "phone", "email", "language", "waybill_no", "channel",
        "category", "priority", "description", "proactive", "assigned_role", "assigned_to", "claimed_at",
        "opened_at", "opened_by",
        "first_response_minutes", "resolution_minutes", "first_response_due", "resolution_due",
        "first_responded_at", "resolved_at", "escalated_at", "closed_at",
        "resolution", "csat_score", "csat_comment")}
    data.update(
        breaches=kinds, breached=bool(kinds), paused=state.paused,
        allowed_actions=sorted(a.value for a in ticket_rules.allowed_actions(state.status)),
        suggested_reply=_reply(rt, row, view) if view is not None else row["suggested_reply"],
        shipment=view.to_public() if view is not None else row["shipment"],
    )
    if with_history:
        data["history"] = await repository.history(conn, row["id"])
    return data


def as_seen_by(principal: Principal, ticket: dict[str, Any]) -> dict[str, Any]:
    """A ticket as the caller may read it: a branch through `domain.visibility.partner_view`
    (without the desk's judgement of the caller), its own customer through
    `domain.customer_view.ticket` (without the desk's workings), the desk whole."""
    if principal.role == "branch":
        return partner_view(ticket)
    if principal.role == "customer":
        return customer_view.ticket(ticket)
    return ticket


def _sees(principal: Principal, view: ShipmentView | None) -> bool:
    """Desk roles see every shipment; a branch one that touches its station (see `ShipmentView`);
    a customer its own (the shipper's customer id)."""
    if principal.role == "customer":
        return view is not None and principal.sees(customer=view.customer_id)
    if principal.role != "branch":
        return principal.sees_station()
    return view is not None and principal.sees_station(*view.stations)


async def _sees_ticket(conn: asyncpg.Connection, principal: Principal, row: Row) -> bool:
    """Desk roles see every ticket; a branch only those about a waybill it sees; a customer
    only its own (the ticket's customer id)."""
    if principal.role == "customer":
        return principal.sees(customer=row["customer_id"])
    if principal.role != "branch":
        return principal.sees_station()
    if not row["waybill_no"]:
        return False
    return _sees(principal, await load_shipment(conn, row["waybill_no"]))


async def get_complaint(rt: ComplaintsRuntime, *, principal: Principal, complaint_id: uuid.UUID) -> dict[str, Any]:
    async with rt.pool.acquire() as conn:
        row = await repository.get_complaint(conn, complaint_id)
        if row is None or not await _sees_ticket(conn, principal, row):
            raise NotFound.of("complaint", complaint_id)
        return as_seen_by(principal, await complaint_view(conn, rt, row, with_history=True))


async def list_complaints(rt: ComplaintsRuntime, *, principal: Principal, status: str | None,
                          breached: bool | None, customer_id: str | None, waybill_no: str | None,
                          category: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int,
                          assigned_to: str | None = None) -> list[Row]:
    station = principal.branch if principal.role == "branch" else None
    own = principal.own_customer
    if principal.role == "customer":
        if own is None or customer_id not in (None, own):
            return []  # another customer's tickets: none, like a customer with none
        customer_id = own
    async with rt.pool.acquire() as conn:
        rows = await repository.list_complaints(conn, now=utcnow(), status=status, breached=breached,
                                                customer_id=customer_id, waybill_no=waybill_no, category=category,
                                                assigned_to=assigned_to, station=station or None, after=after,
                                                limit=limit)
    return [customer_view.ticket(r) for r in rows] if principal.role == "customer" else rows


# --- opening tickets -----------------------------------------------------------------------


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


async def _open(conn: asyncpg.Connection, rt: ComplaintsRuntime, new: NewComplaint, *, actor: str, now: datetime,
                view: ShipmentView | None, customer_file: bool, proactive: bool = False) -> Row | None:
    """Insert a ticket with its history and `opened` event; None if a proactive one already exists.

    `customer_file`: whether the customer file may shape the ticket (key-customer priority,
    language) and learn from it (first sight, contact details filling gaps)."""
    customer = (await get_customer(conn, new.customer_id)
                if customer_file and new.customer_id else None)
    key = await is_key(conn, rt, customer, at=now)
    language = parse_language(new.language or (customer or {}).get("language"))
    priority = new.priority or ticket_rules.default_priority(new.category, key_customer=key)
    policy = find_sla_policy(await load_policies(conn), new.category, priority)
    state = ticket_rules.open_ticket(opened_at=now, policy=policy)
    hours = rt.context.hours
    ticket: Row = {
        "id": uuid.uuid4(), "customer_id": new.customer_id, "caller_name": new.caller_name, "phone": new.phone,
        "email": new.email, "language": language.value, "waybill_no": new.waybill_no,
        "channel": new.channel.value, "category": new.category.value, "priority": priority.value,
        "description": new.description, "proactive": proactive, "status": state.status.value,
        "assigned_role": "staff", "opened_at": now, "opened_by": actor,
        "first_response_minutes": state.first_response_minutes, "resolution_minutes": state.resolution_minutes,
        "first_response_due": first_response_due(state, hours), "resolution_due": resolution_due(state, hours),
        "shipment": view.to_public() if view is not None else None, "last_action_at": now, "pauses": [],
    }
    ticket["suggested_reply"] = _reply(rt, ticket, view)
    if not await repository.insert_complaint(conn, ticket, once_per_shipment=proactive):
        return None
    await repository.add_history(conn, ticket["id"], at=now, actor=actor, action="open", from_status=None,
                                 to_status=state.status.value,
                                 details={"channel": ticket["channel"], "category": ticket["category"],
                                          "priority": ticket["priority"], "proactive": proactive,
                                          "first_response_due": ticket["first_response_due"],
                                          "resolution_due": ticket["resolution_due"]})
    if customer_file and new.customer_id:
        # First sight creates the file; the caller's number only fills a gap, never overwrites.
        await customer_seen(conn, new.customer_id, at=now, phone=new.phone, email=new.email)
    await publish(conn, ComplaintOpened(
        complaint_id=str(ticket["id"]), complainant=complainant(ticket), waybill_no=new.waybill_no,
        category=ticket["category"], channel=ticket["channel"], priority=ticket["priority"], opened_at=now,
        first_response_due=ticket["first_response_due"], resolution_due=ticket["resolution_due"],
        proactive=proactive), source=SOURCE)
    count(TICKETS_OPENED.labels(ticket["category"], ticket["channel"], str(proactive).lower()))
    return ticket


async def open_complaint(rt: ComplaintsRuntime, *, principal: Principal, new: NewComplaint) -> dict[str, Any]:
    """Open a ticket for a caller. A `branch` files through the partner channel (422
    `channel_not_allowed`), only about a waybill it sees (404 `not_found` otherwise, the
    answer tracking gives its read), and without the customer file (module docstring)."""
    branch = principal.role == "branch"
    if branch and new.channel is not Channel.PARTNER:
        raise Invalid("channel_not_allowed", "a branch files complaints through the partner channel",
                      {"channel": new.channel, "allowed": [Channel.PARTNER.value]})
    if principal.role == "customer":
        new = _customer_filing(principal, new)
    now = utcnow()
    async with uow(rt) as conn:
        view = await load_shipment(conn, new.waybill_no) if new.waybill_no else None
        if new.waybill_no and not _sees(principal, view):
            raise NotFound.of("shipment", new.waybill_no)
        ticket = await _open(conn, rt, new, actor=principal.actor, now=now, view=view, customer_file=not branch)
        assert ticket is not None
        row = await repository.get_complaint(conn, ticket["id"])
        assert row is not None
        return as_seen_by(principal, await complaint_view(conn, rt, row, with_history=True, now=now))


def _customer_filing(principal: Principal, new: NewComplaint) -> NewComplaint:
    """A key-account customer files for itself (its own customer id, 403 for another), through
    the web channel (422 `channel_not_allowed`), without choosing a priority (the desk's rule)."""
    if new.customer_id is not None and new.customer_id != principal.customer:
        raise Forbidden("forbidden", "a customer files complaints for itself only", {"field": "customer_id"})
    if new.channel is not Channel.WEB:
        raise Invalid("channel_not_allowed", "a customer files complaints through the web channel",
                      {"channel": new.channel, "allowed": [Channel.WEB.value]})
    if new.priority is not None:
        raise Invalid("priority_not_allowed", "the desk sets a complaint's priority", {"field": "priority"})
    return replace(new, customer_id=principal.customer)


async def open_care_ticket(conn: asyncpg.Connection, rt: ComplaintsRuntime, view: ShipmentView) -> bool:
    """Proactive care: a delayed shipment of a key customer gets a ticket, once per shipment."""
    if not (rt.settings.proactive_care_enabled and view.delayed and view.customer_id):
        return False
    if await repository.has_care_ticket(conn, view.waybill_no):
        return False
    now = utcnow()
    customer = await get_customer(conn, view.customer_id)
    if not await is_key(conn, rt, customer, at=now):
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
    ticket = await _open(conn, rt, new, actor=PROACTIVE_CARE, now=now, view=view, customer_file=True,
                         proactive=True)
    if ticket is not None:
        log.info("proactive care ticket opened", extra={"complaint_id": str(ticket["id"]),
                                                         "waybill_no": view.waybill_no})
    return ticket is not None


# --- ticket steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    action: Action
    details: dict[str, Any]
    resolution: str | None = None
    score: int | None = None
    comment: str | None = None


async def _announce(conn: asyncpg.Connection, *, principal: Principal, row: Row, step: Step, at: datetime) -> None:
    """The event of a step: responded, resolved, escalated, reopened or closed."""
    complaint_id = str(row["id"])
    if step.action in (Action.RESPOND, Action.ASK_CUSTOMER):
        await publish(conn, ComplaintResponded(
            complaint_id=complaint_id, complainant=complainant(row), waybill_no=row["waybill_no"],
            message=step.details["message"], responded_at=at), source=SOURCE)
    elif step.action is Action.RESOLVE:
        await publish(conn, ComplaintResolved(
            complaint_id=complaint_id, complainant=complainant(row), waybill_no=row["waybill_no"],
            resolution=row["resolution"], resolved_at=at), source=SOURCE)
    elif step.action is Action.ESCALATE:
        await lifecycle.announce_escalation(conn, row=row, reason=step.details.get("reason"),
                                            actor=principal.actor, at=at)
    elif step.action is Action.REOPEN:
        await publish(conn, ComplaintReopened(
            complaint_id=complaint_id, waybill_no=row["waybill_no"], category=row["category"],
            reason=step.details.get("reason"), reopened_at=at), source=SOURCE)
    elif step.action in (Action.SURVEY, Action.CLOSE):
        await publish(conn, ComplaintClosed(
            complaint_id=complaint_id, waybill_no=row["waybill_no"], category=row["category"],
            csat_score=step.score if step.action is Action.SURVEY else None, closed_at=at), source=SOURCE)


async def take_step(rt: ComplaintsRuntime, *, principal: Principal, complaint_id: uuid.UUID,
                    step: Step) -> dict[str, Any]:
    """One ticket step (respond, ask, customer reply, escalate, resolve, reopen, survey, close);
    409 `invalid_transition` when the state machine refuses it."""
    now = utcnow()
    async with uow(rt) as conn:
        row = await repository.get_complaint(conn, complaint_id, for_update=True)
        if row is None or not await _sees_ticket(conn, principal, row):
            raise NotFound.of("complaint", complaint_id)
        before = state_of(row)
        at = max(now, row["last_action_at"])
        if not ticket_rules.can_transition(before.status, step.action):
            STEPS_REFUSED.labels(step.action.value).inc()
        after = ticket_rules.apply_action(before, step.action, at, resolution=step.resolution, score=step.score)
        fields = lifecycle.state_fields(rt, before, after, at)
        if step.action is Action.ESCALATE:
            fields["assigned_role"] = "supervisor"
        elif step.action is Action.SURVEY:
            fields.update(csat_comment=step.comment, surveyed_at=at, closed_at=at)
        elif step.action is Action.CLOSE:
            fields["closed_at"] = at
        elif step.action is Action.REOPEN:
            fields["closed_at"] = None
        await repository.update_complaint(conn, complaint_id, fields)
        await repository.add_history(conn, complaint_id, at=at, actor=principal.actor, action=step.action.value,
                                     from_status=before.status.value, to_status=after.status.value,
                                     details=step.details)
        row = {**row, **fields}
        await _announce(conn, principal=principal, row=row, step=step, at=at)
        # A deadline missed before this step (e.g. a late first answer) is recorded now, once.
        await lifecycle.record_breaches(conn, rt, row=row, state=after, now=at, detected_by=principal.actor)
        count(STEPS_TAKEN.labels(step.action.value))
        fresh = await repository.get_complaint(conn, complaint_id)
        assert fresh is not None
        return as_seen_by(principal, await complaint_view(conn, rt, fresh, with_history=True, now=at))


# --- who works a ticket ----------------------------------------------------------------------


async def claim(rt: ComplaintsRuntime, *, principal: Principal, complaint_id: uuid.UUID,
                to: str | None = None) -> dict[str, Any]:
    """The caller takes the ticket (`domain.claims`): recorded with who and when, in the
    history too; claiming one's own again changes nothing; 409 `already_claimed` when someone
    else holds it, unless a supervisor or admin takes it over or hands it to `to`."""
    now = utcnow()
    async with uow(rt) as conn:
        row = await repository.get_complaint(conn, complaint_id, for_update=True)
        if row is None:
            raise NotFound.of("complaint", complaint_id)
        decision = decide_claim(status=TicketStatus(row["status"]), holder=row["assigned_to"],
                                claimant=principal.sub, role=principal.role, to=to)
        at = max(now, row["last_action_at"])
        if decision.changed:
            await repository.update_complaint(conn, complaint_id, {
                "assigned_to": decision.assignee, "claimed_at": at, "last_action_at": at})
            await repository.add_history(conn, complaint_id, at=at, actor=principal.actor, action="claim",
                                         from_status=row["status"], to_status=row["status"],
                                         details={"assigned_to": decision.assignee, "previous": decision.previous})
            count(STEPS_TAKEN.labels("claim"))
        fresh = await repository.get_complaint(conn, complaint_id)
        assert fresh is not None
        return as_seen_by(principal, await complaint_view(conn, rt, fresh, with_history=True, now=at))
