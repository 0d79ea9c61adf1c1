"""Use cases of the receipts service: one transaction each, events through the outbox.

Event-driven use cases (``record_*``) receive the consumer's connection, already inside
the transaction that records the inbox row. HTTP use cases open their own transaction
from the pool. Authorisation that depends on the receipt (which station may act) is
checked here, on the row locked by the transaction, so the check and the change agree.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from prometheus_client import Counter

from services.receipts import repository as repo
from services.receipts.domain import (
    Anomaly,
    DeadlineConfig,
    DomainError,
    HandoverTo,
    InspectionResult,
    OverdueStage,
    Payment,
    PenaltyConfig,
    ReceiptAction,
    ReceiptFact,
    ReceiptStatus,
    RegionReportRow,
    Step,
    allowed_actions,
    apply_action,
    due_at,
    final_due_at,
    inspection_action,
    is_overdue,
    monthly_report,
    overdue_stage,
    parse_month,
    stages_to_emit,
    validate_inspection,
)
from services.receipts.settings import ReceiptsSettings
from shared.auth import DESK, Principal
from shared.bus import repeated_keys
from shared.context import Runtime
from shared.events import (
    Contact,
    ReceiptAbnormal,
    ReceiptLost,
    ReceiptOverdue,
    ShipmentArrived,
    ShipmentDelivered,
    ShipmentRegistered,
)
from shared.metrics import count
from shared.outbox import publish

log = logging.getLogger("lcs.receipts")

SOURCE = "/lcs/receipts"
TRACKING_ACTOR = "system:tracking"  # custody actor of what tracking's events report

TRANSITIONS_TOTAL = Counter("lcs_receipts_transitions_total", "Receipt state transitions", ["action"])
OVERDUE_EMITTED_TOTAL = Counter("lcs_receipts_overdue_emitted_total", "Overdue chase events emitted", ["stage"])
LOST_FLAGGED_TOTAL = Counter("lcs_receipts_lost_flagged_total", "Receipts flagged lost on envelope arrival")


# --------------------------------------------------------------------------- errors and rules


class NotFound(DomainError):
    def __init__(self, what: str, key: str) -> None:
        super().__init__("not_found", f"{what} {key} not found")


class Forbidden(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__("forbidden", message)


@dataclass(frozen=True)
class Rules:
    """The configured numbers the use cases need (built once from the settings)."""

    deadlines: DeadlineConfig
    penalties: PenaltyConfig
    max_future_skew: timedelta
    envelope_max_waybills: int
    chase_batch_size: int

    @classmethod
    def from_settings(cls, s: ReceiptsSettings) -> Rules:
        return cls(
            deadlines=s.deadlines(),
            penalties=s.penalties(),
            max_future_skew=timedelta(seconds=s.receipt_max_future_skew_seconds),
            envelope_max_waybills=s.envelope_max_waybills,
            chase_batch_size=s.chase_batch_size,
        )


def rules_of(rt: Runtime) -> Rules:
    """The rules of this process, built once from its settings and kept in ``rt.extras``."""
    rules = rt.extras.get("receipts.rules")
    if not isinstance(rules, Rules):
        settings = rt.settings
        if not isinstance(settings, ReceiptsSettings):  # a test runtime with the base settings
            settings = ReceiptsSettings.model_validate(settings.model_dump())
        rules = Rules.from_settings(settings)
        rt.extras["receipts.rules"] = rules
    return rules


def _not_in_future(name: str, value: datetime, now: datetime, rules: Rules) -> None:
    if value > now + rules.max_future_skew:
        raise DomainError("time_in_future", f"{name} is in the future", {"field": name, "value": value.isoformat()})


def _contact(raw: Any) -> Contact | None:
    return Contact.model_validate(raw) if raw else None


# --------------------------------------------------------------------------- deadlines on a row


def _clock_changes(row: Mapping[str, Any], facts: Mapping[str, Any], cfg: DeadlineConfig) -> dict[str, Any]:
    """The arrival / delivery / deadline columns implied by the facts, where they differ from the row.

    The clock counts from the final-batch arrival; if tracking never reported one, the
    delivery (which cannot precede the arrival) starts it, so a delivered receipt is
    never without a deadline. Everything here is a function of the facts alone, which is
    why the order the events came in does not matter.
    """
    arrived = facts["final_arrived_at"]
    delivered = facts["delivered_at"]
    start = arrived or delivered
    wanted = {
        "arrived_at": arrived,
        "delivered_at": delivered,
        "due_at": due_at(start, row["transfers"], cfg) if start else None,
        "final_due_at": final_due_at(start, row["transfers"], cfg) if start else None,
    }
    changes = {k: v for k, v in wanted.items() if row[k] != v}
    if "due_at" in changes or "final_due_at" in changes:
        changes["chase_done"] = False  # a moved deadline may have stages left to announce
    return changes


async def _apply_facts(conn: asyncpg.Connection, row: asyncpg.Record, facts: asyncpg.Record,
                       cfg: DeadlineConfig) -> None:
    changes = _clock_changes(row, facts, cfg)
    if facts["delivered_at"] is not None and row["status"] == ReceiptStatus.AWAITING_DELIVERY:
        step = apply_action(
            ReceiptStatus(row["status"]), ReceiptAction.DELIVER, payment=Payment(row["payment"]),
            at=facts["delivered_at"], actor=TRACKING_ACTOR, origin=row["origin"], destination=row["destination"],
            note=facts["delivery_note"] or "",
        )
        changes["status"] = step.status.value
        await repo.append_custody(conn, row["waybill_no"], step.custody)
        count(TRANSITIONS_TOTAL.labels(ReceiptAction.DELIVER.value))
    await repo.update_receipt(conn, row["waybill_no"], changes)


# --------------------------------------------------------------------------- events from tracking


def _receipt_values(event: ShipmentRegistered) -> dict[str, Any]:
    """The receipt a registration creates (ValueError on an unknown payment type: a bad event,
    retried, then dead-lettered)."""
    payment = Payment(event.payment)
    dest = event.destination_station
    orig = event.origin_station
    contact = None
    if dest is not None and (dest.contact_phone or dest.contact_email):
        contact = {"name": dest.name, "phone": dest.contact_phone, "email": dest.contact_email}
    destination_region = dest.region if dest is not None and dest.region else None
    copies = event.receipt.copies
    if copies < 1:
        log.warning("registration with fewer than one receipt copy; counting one",
                    extra={"waybill_no": event.waybill_no, "copies": copies})
        copies = 1
    return {
        "waybill_no": event.waybill_no,
        "status": ReceiptStatus.AWAITING_DELIVERY.value,
        "required": True,
        "req_signature": event.receipt.signature,
        "req_stamp": event.receipt.stamp,
        "req_id_number": event.receipt.id_number,
        "req_copies": min(copies, 100),
        "payment": payment.value,
        "origin": event.origin,
        "destination": event.destination,
        "via": list(event.via),
        "transfers": len(event.via),
        "origin_region": orig.region if orig is not None and orig.region else None,
        "destination_region": destination_region,
        "region": (destination_region or "unknown")[:100],
        "station_contact": contact,
        "registered_at": event.registered_at,
    }


def _came_before_registration(facts: Mapping[str, Any]) -> bool:
    """Whether tracking reported an arrival or a delivery before the registration reached us."""
    return facts["final_arrived_at"] is not None or facts["delivered_at"] is not None


async def _merge_earlier_facts(conn: asyncpg.Connection, waybill_no: str, facts: asyncpg.Record,
                               rules: Rules) -> None:
    row = await repo.get_receipt(conn, waybill_no, for_update=True)
    assert row is not None
    await _apply_facts(conn, row, facts, rules.deadlines)


async def record_registration(conn: asyncpg.Connection, event: ShipmentRegistered, rules: Rules) -> None:
    """Create the receipt of a waybill that requires one, merging facts that came earlier."""
    facts = await repo.upsert_registration_fact(conn, event.waybill_no, registered_at=event.registered_at,
                                                receipt_required=bool(event.receipt.required))
    if not facts["receipt_required"]:
        return  # no receipt asked for (the first registration decides, like everything else in it)
    created = await repo.insert_receipt(conn, _receipt_values(event))
    if not created:
        return  # a repeated registration: the first one stands
    if not _came_before_registration(facts):
        return  # the usual order: nothing came before the registration, nothing to merge
    await _merge_earlier_facts(conn, event.waybill_no, facts, rules)


async def record_registrations(conn: asyncpg.Connection, events: Sequence[ShipmentRegistered],
                               rules: Rules) -> None:
    """`record_registration` of each event in turn, set-based (the consumer's group handler).

    The waybills named once in `events` take one facts upsert and one receipts insert for all
    of them; a waybill's effects depend on no other waybill, so only what is per waybill
    order-dependent goes through `record_registration`, in delivery order: a waybill named
    twice or more here, and the merge of facts that came before the registration."""
    repeated = repeated_keys(e.waybill_no for e in events)
    once = [e for e in events if e.waybill_no not in repeated]
    facts = await repo.upsert_registration_facts(
        conn, [(e.waybill_no, e.registered_at, bool(e.receipt.required)) for e in once])
    created = await repo.insert_receipts(
        conn, [_receipt_values(e) for e in once if facts[e.waybill_no]["receipt_required"]])
    for e in events:
        if e.waybill_no in repeated:
            await record_registration(conn, e, rules)
        elif e.waybill_no in created and _came_before_registration(facts[e.waybill_no]):
            await _merge_earlier_facts(conn, e.waybill_no, facts[e.waybill_no], rules)


async def record_arrival(conn: asyncpg.Connection, event: ShipmentArrived, rules: Rules) -> None:
    """A final arrival (every piece in) fixes the clock; partial batches do not start it."""
    if not event.final:
        return
    facts = await repo.upsert_final_arrival(conn, event.waybill_no, event.arrived_at)
    row = await repo.get_receipt(conn, event.waybill_no, for_update=True)
    if row is not None:  # otherwise the registration merges the fact later
        await _apply_facts(conn, row, facts, rules.deadlines)


async def record_delivery(conn: asyncpg.Connection, event: ShipmentDelivered, rules: Rules) -> None:
    """Signed for at the destination: the receipt is `signed` (and the clock runs, at the latest now)."""
    how = "delegate" if event.delegated else "consignee"
    note = f"signed by the {how}" + (" with company stamp" if event.company_stamp else "")
    if event.station:
        note += f" at {event.station}"
    facts = await repo.upsert_delivery(conn, event.waybill_no, event.delivered_at, note[:500])
    row = await repo.get_receipt(conn, event.waybill_no, for_update=True)
    if row is not None:
        await _apply_facts(conn, row, facts, rules.deadlines)


# --------------------------------------------------------------------------- reading


def _stage(row: Mapping[str, Any], as_of: datetime) -> OverdueStage | None:
    return overdue_stage(ReceiptStatus(row["status"]), due_at=row["due_at"], final_due_at=row["final_due_at"],
                         as_of=as_of)


def summary(row: Mapping[str, Any], as_of: datetime) -> dict[str, Any]:
    status = ReceiptStatus(row["status"])
    return {
        "waybill_no": row["waybill_no"],
        "status": status,
        "required": row["required"],
        "payment": row["payment"],
        "origin": row["origin"],
        "destination": row["destination"],
        "region": row["region"],
        "transfers": row["transfers"],
        "arrived_at": row["arrived_at"],
        "due_at": row["due_at"],
        "final_due_at": row["final_due_at"],
        "overdue": is_overdue(status, row["due_at"], as_of),
        "overdue_stage": _stage(row, as_of),
        "anomalies": list(row["anomalies"]),
        "returned_at": row["returned_at"],
        "lost_at": row["lost_at"],
    }


def _visible(principal: Principal, row: Mapping[str, Any] | None) -> bool:
    return row is not None and principal.sees_station(row["origin"], row["destination"])


async def get_receipt(pool: asyncpg.Pool, principal: Principal, waybill_no: str, as_of: datetime) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await repo.get_receipt(conn, waybill_no)
        if row is None or not _visible(principal, row):
            raise NotFound("receipt", waybill_no)
        custody = await repo.custody_of(conn, waybill_no)
    status = ReceiptStatus(row["status"])
    allowed = sorted(a.value for a in allowed_actions(status)
                     if not (a is ReceiptAction.CANCEL and row["payment"] != Payment.COD.value))
    return {
        **summary(row, as_of),
        "requirements": {"signature": row["req_signature"], "stamp": row["req_stamp"],
                         "id_number": row["req_id_number"], "copies": row["req_copies"]},
        "via": list(row["via"]),
        "origin_region": row["origin_region"],
        "destination_region": row["destination_region"],
        "delivered_at": row["delivered_at"],
        "clock_started_at": row["arrived_at"] or row["delivered_at"],
        "abnormal_at": row["abnormal_at"],
        "envelope_id": row["envelope_id"],
        "courier_no": row["courier_no"],
        "as_of": as_of,
        "allowed_actions": allowed,
        "station_contact": row["station_contact"],
        "custody": [dict(c) for c in custody],
    }


async def list_receipts(pool: asyncpg.Pool, principal: Principal, *, status: ReceiptStatus | None,
                        overdue: bool | None, station: str | None, region: str | None, as_of: datetime,
                        after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of summaries and the waybill number to continue after (None at the end)."""
    branch = principal.branch if principal.role not in DESK else None
    if principal.role not in DESK and branch is None:
        return [], None
    async with pool.acquire() as conn:
        rows = await repo.list_receipts(conn, status=status.value if status else None, overdue=overdue,
                                        as_of=as_of, station=station, region=region, branch=branch,
                                        after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [summary(r, as_of) for r in rows], (rows[-1]["waybill_no"] if more and rows else None)


# --------------------------------------------------------------------------- receipt actions

Side = Literal["origin", "destination"]


def _authorise(principal: Principal, row: Mapping[str, Any], side: Side | None, what: str) -> None:
    """Desk roles act anywhere; a branch only as the station whose job ``what`` is."""
    if principal.role in DESK:
        return
    if side is not None and principal.role == "branch" and principal.branch == row[side]:
        return
    who = f"the {side} station ({row[side]}) or the desk" if side else "the desk"
    raise Forbidden(f"only {who} may {what}")


async def _load(conn: asyncpg.Connection, principal: Principal, waybill_no: str, side: Side | None,
                what: str) -> asyncpg.Record:
    row = await repo.get_receipt(conn, waybill_no, for_update=True)
    if row is None or not _visible(principal, row):
        raise NotFound("receipt", waybill_no)
    _authorise(principal, row, side, what)
    return row


async def _step(conn: asyncpg.Connection, row: Mapping[str, Any], action: ReceiptAction, *, at: datetime,
                actor: str, note: str = "", courier_no: str | None = None, handover_to: HandoverTo | None = None,
                recipient: str | None = None, envelope_id: uuid.UUID | None = None,
                changes: Mapping[str, Any] | None = None) -> Step:
    """Apply one state-machine action: validate, append custody, update the row."""
    step = apply_action(
        ReceiptStatus(row["status"]), action, payment=Payment(row["payment"]), at=at, actor=actor,
        origin=row["origin"], destination=row["destination"], courier_no=courier_no or row["courier_no"],
        handover_to=handover_to, recipient=recipient, note=note,
    )
    await repo.append_custody(conn, row["waybill_no"], step.custody, envelope_id=envelope_id)
    await repo.update_receipt(conn, row["waybill_no"], {"status": step.status.value, **(changes or {})})
    count(TRANSITIONS_TOTAL.labels(action.value))
    return step


async def inspect(pool: asyncpg.Pool, rules: Rules, principal: Principal, waybill_no: str, *,
                  result: InspectionResult, anomalies: Sequence[Anomaly], by: str, at: datetime | None,
                  now: datetime) -> None:
    """Check the signed paper against the requirements: qualified, or abnormal with its anomalies."""
    found = validate_inspection(result, anomalies)
    at = at or now
    _not_in_future("at", at, now, rules)
    async with pool.acquire() as conn, conn.transaction():
        row = await _load(conn, principal, waybill_no, "destination", "inspect this receipt")
        abnormal = InspectionResult(result) is InspectionResult.ABNORMAL
        note = f"inspected by {by}: " + (", ".join(a.value for a in found) if abnormal else "qualified")
        changes: dict[str, Any] = {"anomalies": [a.value for a in found]}
        if abnormal and row["abnormal_at"] is None:
            changes["abnormal_at"] = at  # the first abnormal inspection decides "caught late"
        await _step(conn, row, inspection_action(result), at=at, actor=principal.actor, note=note,
                    changes=changes)
        if abnormal:
            await publish(conn, ReceiptAbnormal(
                waybill_no=waybill_no, anomalies=[a.value for a in found], inspected_at=at, by=by,
                destination=row["destination"], station_contact=_contact(row["station_contact"]),
            ), source=SOURCE)


async def re_sign(pool: asyncpg.Pool, rules: Rules, principal: Principal, waybill_no: str, *, at: datetime,
                  by: str, now: datetime) -> None:
    _not_in_future("at", at, now, rules)
    async with pool.acquire() as conn, conn.transaction():
        row = await _load(conn, principal, waybill_no, "destination", "have this receipt re-signed")
        await _step(conn, row, ReceiptAction.RE_SIGN, at=at, actor=principal.actor, note=f"re-signed; reported by {by}")


async def hand_over(pool: asyncpg.Pool, rules: Rules, principal: Principal, waybill_no: str, *, to: HandoverTo,
                    recipient: str, at: datetime, now: datetime) -> None:
    _not_in_future("at", at, now, rules)
    async with pool.acquire() as conn, conn.transaction():
        row = await _load(conn, principal, waybill_no, "origin", "hand this receipt over")
        await _step(conn, row, ReceiptAction.HAND_OVER, at=at, actor=principal.actor, handover_to=to,
                    recipient=recipient)


async def write_off(pool: asyncpg.Pool, rules: Rules, principal: Principal, waybill_no: str, *, at: datetime,
                    collector: str, now: datetime) -> None:
    _not_in_future("at", at, now, rules)
    async with pool.acquire() as conn, conn.transaction():
        row = await _load(conn, principal, waybill_no, "origin", "write this receipt off")
        await _step(conn, row, ReceiptAction.WRITE_OFF, at=at, actor=principal.actor, recipient=collector,
                    note="collected by the customer in person")


async def cancel(pool: asyncpg.Pool, rules: Rules, principal: Principal, waybill_no: str, *, at: datetime | None,
                 reason: str | None, now: datetime) -> None:
    at = at or now
    _not_in_future("at", at, now, rules)
    async with pool.acquire() as conn, conn.transaction():
        row = await _load(conn, principal, waybill_no, None, "cancel a receipt")
        note = "cash on delivery: customer told, receipt cancelled" + (f"; {reason}" if reason else "")
        await _step(conn, row, ReceiptAction.CANCEL, at=at, actor=principal.actor, note=note)


async def receive_found(pool: asyncpg.Pool, rules: Rules, principal: Principal, waybill_no: str, *, at: datetime,
                        note: str | None, now: datetime) -> None:
    """A receipt flagged lost turned up at the origin after all (``lost`` → ``received``)."""
    _not_in_future("at", at, now, rules)
    async with pool.acquire() as conn, conn.transaction():
        row = await _load(conn, principal, waybill_no, "origin", "receive this receipt")
        if row["status"] == ReceiptStatus.MAILED.value:
            raise DomainError(
                "invalid_transition",
                "a mailed receipt is received through its envelope's arrival (POST /v1/envelopes/{id}/arrival)",
                {"current": row["status"], "action": ReceiptAction.RECEIVE.value,
                 "envelope_id": str(row["envelope_id"]) if row["envelope_id"] else None},
            )
        await _step(conn, row, ReceiptAction.RECEIVE, at=at, actor=principal.actor,
                    note=note or "turned up after being flagged lost", changes={"returned_at": at})


# --------------------------------------------------------------------------- envelopes


async def mail_envelope(pool: asyncpg.Pool, rules: Rules, principal: Principal, *, from_station: str,
                        to_station: str, waybills: Sequence[str], sent_at: datetime, courier_no: str,
                        now: datetime) -> uuid.UUID:
    """Seal qualified receipts of one station into an envelope to their origin station: all or none."""
    if principal.role not in DESK and principal.branch != from_station:
        raise Forbidden(f"only the sending station ({from_station}) or the desk may mail this envelope")
    if len(waybills) > rules.envelope_max_waybills:
        raise DomainError("too_many_waybills", f"an envelope lists at most {rules.envelope_max_waybills} waybills",
                          {"count": len(waybills), "max": rules.envelope_max_waybills})
    _not_in_future("sent_at", sent_at, now, rules)
    envelope_id = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        rows = {r["waybill_no"]: r for r in await repo.get_receipts_for_update(conn, sorted(waybills))}
        unknown = [w for w in waybills if not _visible(principal, rows.get(w))]
        if unknown:
            raise DomainError("unknown_receipts", "no receipt is known for some waybills", {"waybills": unknown})
        wrong_from = [w for w in waybills if rows[w]["destination"] != from_station]
        wrong_to = [w for w in waybills if rows[w]["origin"] != to_station]
        if wrong_from or wrong_to:
            raise DomainError(
                "envelope_route_mismatch",
                "an envelope carries receipts from their destination station (from_station) "
                "to their origin station (to_station) only",
                {"not_from_station": wrong_from, "not_to_station": wrong_to},
            )
        not_qualified = [{"waybill_no": w, "current": rows[w]["status"]} for w in waybills
                         if rows[w]["status"] != ReceiptStatus.QUALIFIED.value]
        if not_qualified:
            first = not_qualified[0]
            raise DomainError(
                "invalid_transition",
                f"only qualified receipts can be mailed; {first['waybill_no']} is {first['current']}",
                {"action": ReceiptAction.MAIL.value, "current": first["current"], "receipts": not_qualified},
            )
        await repo.insert_envelope(conn, envelope_id=envelope_id, from_station=from_station, to_station=to_station,
                                   courier_no=courier_no, sent_at=sent_at, sent_by=principal.actor, waybills=waybills)
        for w in waybills:
            await _step(conn, rows[w], ReceiptAction.MAIL, at=sent_at, actor=principal.actor, courier_no=courier_no,
                        envelope_id=envelope_id, note=f"envelope {envelope_id}",
                        changes={"envelope_id": envelope_id, "courier_no": courier_no})
    return envelope_id


async def receive_envelope(pool: asyncpg.Pool, rules: Rules, principal: Principal, envelope_id: uuid.UUID, *,
                           received_at: datetime, waybills_present: Sequence[str], now: datetime) -> None:
    """Reconcile an arrived envelope against its list: present → received, missing → lost (chased at once)."""
    _not_in_future("received_at", received_at, now, rules)
    async with pool.acquire() as conn, conn.transaction():
        env = await repo.get_envelope(conn, envelope_id, for_update=True)
        if env is None or not principal.sees_station(env["from_station"], env["to_station"]):
            raise NotFound("envelope", str(envelope_id))
        if principal.role not in DESK and principal.branch != env["to_station"]:
            raise Forbidden(f"only the receiving station ({env['to_station']}) or the desk may record the arrival")
        if env["status"] == "received":
            raise DomainError("envelope_already_received", "this envelope's arrival was already recorded",
                              {"received_at": env["received_at"].isoformat()})
        if received_at < env["sent_at"]:
            raise DomainError("arrival_before_sending", "received_at is before the envelope was sent",
                              {"sent_at": env["sent_at"].isoformat()})
        listed = [i["waybill_no"] for i in await repo.envelope_items(conn, envelope_id)]
        extra = sorted(set(waybills_present) - set(listed))
        if extra:
            raise DomainError("not_in_envelope", "some waybills present are not on the envelope's list",
                              {"waybills": extra})
        present = set(waybills_present)
        rows = {r["waybill_no"]: r for r in await repo.get_receipts_for_update(conn, sorted(listed))}
        for w in listed:
            row = rows[w]
            if w in present:
                await _step(conn, row, ReceiptAction.RECEIVE, at=received_at, actor=principal.actor,
                            courier_no=env["courier_no"], envelope_id=envelope_id, note=f"envelope {envelope_id}",
                            changes={"returned_at": received_at})
                continue
            await _step(conn, row, ReceiptAction.FLAG_LOST, at=received_at, actor=principal.actor,
                        courier_no=env["courier_no"], envelope_id=envelope_id,
                        note=f"listed on envelope {envelope_id} but missing on arrival",
                        changes={"lost_at": row["lost_at"] or received_at})
            await publish(conn, ReceiptLost(
                waybill_no=w, envelope_id=str(envelope_id), courier_no=env["courier_no"],
                from_station=env["from_station"], to_station=env["to_station"], flagged_at=received_at,
                due_at=row["due_at"], origin=row["origin"], destination=row["destination"],
                station_contact=_contact(row["station_contact"]),
            ), source=SOURCE)
            count(LOST_FLAGGED_TOTAL)
        await repo.close_envelope(conn, envelope_id, received_at=received_at, received_by=principal.actor,
                                  present=sorted(present))


async def get_envelope(pool: asyncpg.Pool, principal: Principal, envelope_id: uuid.UUID) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        env = await repo.get_envelope(conn, envelope_id)
        if env is None or not principal.sees_station(env["from_station"], env["to_station"]):
            raise NotFound("envelope", str(envelope_id))
        items = await repo.envelope_items(conn, envelope_id)
    return {
        **dict(env),
        "count": len(items),
        "waybills": [dict(i) for i in items],
        "present": [i["waybill_no"] for i in items if i["outcome"] == "present"],
        "missing": [i["waybill_no"] for i in items if i["outcome"] == "missing"],
    }


# --------------------------------------------------------------------------- chasing


def days_overdue(deadline: datetime, as_of: datetime, cfg: DeadlineConfig) -> int:
    """Local days late: the first day after the last allowed one counts as one day overdue."""
    if as_of < deadline:
        return 0
    return (as_of.astimezone(cfg.tz).date() - deadline.astimezone(cfg.tz).date()).days + 1


async def chase(pool: asyncpg.Pool, rules: Rules, as_of: datetime) -> dict[str, Any]:
    """Announce every overdue stage reached at ``as_of`` and not announced yet (idempotent).

    Keyset batches over the partial chase index, one transaction per batch. The unique
    (receipt, stage) row is claimed before the event is written, in the same
    transaction, so overlapping runners can never announce a stage twice.
    """
    emitted: list[dict[str, Any]] = []
    scanned = 0
    after: tuple[datetime, str] | None = None
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await repo.chase_candidates(conn, as_of=as_of, after=after, limit=rules.chase_batch_size)
            for row in rows:
                scanned += 1
                done = set(row["emitted"])
                for stage in stages_to_emit(done, _stage(row, as_of)):
                    deadline = row["due_at"] if stage is OverdueStage.DUE else row["final_due_at"]
                    event_id = uuid.uuid4()
                    if not await repo.record_chase(conn, waybill_no=row["waybill_no"], stage=stage.value,
                                                   deadline=deadline, as_of=as_of, event_id=event_id):
                        continue
                    late_days = days_overdue(deadline, as_of, rules.deadlines)
                    await publish(conn, ReceiptOverdue(
                        waybill_no=row["waybill_no"], stage=stage.value, due_at=deadline, status=row["status"],
                        origin=row["origin"], destination=row["destination"],
                        station_contact=_contact(row["station_contact"]), days_overdue=late_days,
                    ), source=SOURCE, event_id=event_id)
                    count(OVERDUE_EMITTED_TOTAL.labels(stage.value))
                    done.add(stage.value)
                    emitted.append({"waybill_no": row["waybill_no"], "stage": stage, "due_at": deadline,
                                    "days_overdue": late_days, "event_id": event_id,
                                    "destination": row["destination"]})
                reachable = {OverdueStage.DUE.value} | ({OverdueStage.FINAL.value} if row["final_due_at"] else set())
                if reachable <= done:
                    # Nothing left to announce: drop it from the chase index.
                    await repo.update_receipt(conn, row["waybill_no"], {"chase_done": True})
        if len(rows) < rules.chase_batch_size:
            break
        after = (rows[-1]["due_at"], rows[-1]["waybill_no"])
    if emitted:
        log.info("overdue receipts chased", extra={"as_of": as_of.isoformat(), "emitted": len(emitted)})
    return {"as_of": as_of, "scanned": scanned, "emitted": emitted}


# --------------------------------------------------------------------------- month end

_COUNTS = ("required", "returned_on_time", "returned_late", "outstanding", "abnormal", "abnormal_caught_late", "lost")
_MONEY = ("late_penalty_cny", "abnormal_penalty_cny", "lost_penalty_cny", "penalty_cny")


def _row_dict(row: RegionReportRow) -> dict[str, Any]:
    return {"region": row.region, **{k: getattr(row, k) for k in (*_COUNTS, *_MONEY)}}


async def monthly(pool: asyncpg.Pool, rules: Rules, *, month: str, as_of: datetime | None,
                  now: datetime) -> dict[str, Any]:
    """Per-region figures for receipts due in ``month``, a snapshot at ``as_of`` (default: month end or now)."""
    tz = rules.deadlines.business_tz
    start, end = parse_month(month, business_tz=tz)
    snapshot = as_of if as_of is not None else min(end, now)
    async with pool.acquire() as conn:
        records = await repo.report_facts(conn, start=start, end=end)
    facts = [ReceiptFact(waybill_no=r["waybill_no"], region=r["region"], status=ReceiptStatus(r["status"]),
                         due_at=r["due_at"], required=r["required"], returned_at=r["returned_at"],
                         abnormal_at=r["abnormal_at"], lost_at=r["lost_at"]) for r in records]
    rows = monthly_report(month, facts, as_of=snapshot, penalties=rules.penalties, business_tz=tz)
    regions = [_row_dict(r) for r in rows]
    totals: dict[str, Any] = {"region": "all"}
    for key in _COUNTS:
        totals[key] = sum(r[key] for r in regions)
    for key in _MONEY:
        totals[key] = sum((r[key] for r in regions), Decimal("0.00"))
    return {"month": month, "as_of": snapshot, "currency": "CNY", "regions": regions, "totals": totals}
