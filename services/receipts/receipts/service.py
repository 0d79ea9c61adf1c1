"""Use cases of the receipt itself: reading it, and the actions stations and the desk take on
it (inspect, re-sign, hand over, write off, cancel, receive a lost one). One transaction each;
events leave through the outbox inside it.

Authorisation that depends on the receipt (which station may act) is checked on the row
locked by the transaction, so the check and the change agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.receipts.context import SOURCE, ReceiptsRuntime
from services.receipts.domain import access
from services.receipts.domain.custody import HandoverTo, Step, apply_action
from services.receipts.domain.inspection import Anomaly, InspectionResult, inspection_action, validate_inspection
from services.receipts.domain.lifecycle import Payment, ReceiptAction, ReceiptStatus, actions_for
from services.receipts.domain.overdue import OverdueStage, is_overdue, overdue_stage
from services.receipts.domain.times import not_in_future
from services.receipts.receipts import repository
from shared.auth import DESK, Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Conflict, NotFound
from shared.events import Contact, ReceiptAbnormal
from shared.metrics import count
from shared.outbox import publish

TRANSITIONS_TOTAL = Counter("lcs_receipts_transitions_total", "Receipt state transitions", ["action"])


def station_contact(raw: Any) -> Contact | None:
    """The destination station's contact as stored on the receipt, for the events that chase it."""
    return Contact.model_validate(raw) if raw else None


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
    return row is not None and access.visible(principal, row["origin"], row["destination"],
                                              customer=row["customer_id"])


async def get_receipt(rt: ReceiptsRuntime, *, principal: Principal, waybill_no: str,
                      as_of: datetime | None = None) -> dict[str, Any]:
    """The receipt, its deadlines, `overdue` at `as_of` (default now) and its custody chain."""
    as_of = as_of or utcnow()
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await repository.get_receipt(conn, waybill_no)
        if row is None or not _visible(principal, row):
            raise NotFound.of("receipt", waybill_no)
        custody = await repository.custody_of(conn, waybill_no)
    if principal.role == "customer":  # its own receipt: status and deadlines, not the desk's workings
        return {**_detail(row, as_of, [access.custody_for_customer(dict(c)) for c in custody]),
                "allowed_actions": [], "station_contact": None}
    return _detail(row, as_of, [dict(c) for c in custody])


def _detail(row: Mapping[str, Any], as_of: datetime, custody: list[dict[str, Any]]) -> dict[str, Any]:
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
        "allowed_actions": actions_for(ReceiptStatus(row["status"]), Payment(row["payment"])),
        "station_contact": row["station_contact"],
        "custody": custody,
    }


async def list_receipts(rt: ReceiptsRuntime, *, principal: Principal, status: ReceiptStatus | None,
                        overdue: bool | None, station: str | None, region: str | None, as_of: datetime | None,
                        after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """A page of summaries and the waybill number to continue after (None at the end)."""
    as_of = as_of or utcnow()
    branch = access.branch_scope(principal)
    customer = principal.own_customer
    if branch is None and customer is None and principal.role not in DESK:
        return [], None
    async with rt.pool.acquire() as conn:
        rows = await repository.list_receipts(conn, status=status.value if status else None, overdue=overdue,
                                              as_of=as_of, station=station, region=region,
                                              branch=None if customer else branch, customer=customer,
                                              after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return [summary(r, as_of) for r in rows], (rows[-1]["waybill_no"] if more and rows else None)


# --------------------------------------------------------------------------- the step every action takes


async def load_for_update(conn: asyncpg.Connection, *, principal: Principal, waybill_no: str,
                          side: str | None, what: str) -> asyncpg.Record:
    """The receipt, locked until commit, if the caller may see it (404) and act on it (403)."""
    row = await repository.get_receipt(conn, waybill_no, for_update=True)
    if row is None or not _visible(principal, row):
        raise NotFound.of("receipt", waybill_no)
    access.authorise(principal, side=side, station=row[side] if side else None, what=what)
    return row


async def lock_receipts(conn: asyncpg.Connection, waybills: Sequence[str]) -> dict[str, asyncpg.Record]:
    """Several receipts, by waybill, locked until commit in waybill order (one order everywhere: no deadlocks)."""
    return {r["waybill_no"]: r for r in await repository.get_receipts_for_update(conn, sorted(waybills))}


async def record_step(conn: asyncpg.Connection, row: Mapping[str, Any], action: ReceiptAction, *, at: datetime,
                      actor: str, note: str = "", courier_no: str | None = None,
                      handover_to: HandoverTo | None = None, recipient: str | None = None,
                      envelope_id: uuid.UUID | None = None, changes: Mapping[str, Any] | None = None) -> Step:
    """Apply one state-machine action to a locked receipt: validate, append custody, update the row."""
    step = apply_action(
        ReceiptStatus(row["status"]), action, payment=Payment(row["payment"]), at=at, actor=actor,
        origin=row["origin"], destination=row["destination"], courier_no=courier_no or row["courier_no"],
        handover_to=handover_to, recipient=recipient, note=note,
    )
    await repository.append_custody(conn, row["waybill_no"], step.custody, envelope_id=envelope_id)
    await repository.update_receipt(conn, row["waybill_no"], {"status": step.status.value, **(changes or {})})
    count(TRANSITIONS_TOTAL.labels(action.value))
    return step


# --------------------------------------------------------------------------- actions


async def inspect(rt: ReceiptsRuntime, *, principal: Principal, waybill_no: str, result: InspectionResult,
                  anomalies: Sequence[Anomaly], by: str, at: datetime | None) -> None:
    """Check the signed paper against the requirements: qualified, or abnormal with its anomalies
    (then `receipts.receipt.abnormal.v1` goes out)."""
    found = validate_inspection(result, anomalies)
    now = utcnow()
    at = at or now
    not_in_future("at", at, now=now, max_skew=rt.context.max_future_skew)
    async with uow(rt) as conn:
        row = await load_for_update(conn, principal=principal, waybill_no=waybill_no, side="destination",
                                    what="inspect this receipt")
        abnormal = InspectionResult(result) is InspectionResult.ABNORMAL
        note = f"inspected by {by}: " + (", ".join(a.value for a in found) if abnormal else "qualified")
        changes: dict[str, Any] = {"anomalies": [a.value for a in found]}
        if abnormal and row["abnormal_at"] is None:
            changes["abnormal_at"] = at  # the first abnormal inspection decides "caught late"
        await record_step(conn, row, inspection_action(result), at=at, actor=principal.actor, note=note,
                          changes=changes)
        if abnormal:
            await publish(conn, ReceiptAbnormal(
                waybill_no=waybill_no, anomalies=[a.value for a in found], inspected_at=at, by=by,
                destination=row["destination"], station_contact=station_contact(row["station_contact"]),
            ), source=SOURCE)


async def re_sign(rt: ReceiptsRuntime, *, principal: Principal, waybill_no: str, at: datetime, by: str) -> None:
    """An abnormal receipt signed again at the destination (`abnormal` → `signed`)."""
    not_in_future("at", at, now=utcnow(), max_skew=rt.context.max_future_skew)
    async with uow(rt) as conn:
        row = await load_for_update(conn, principal=principal, waybill_no=waybill_no, side="destination",
                                    what="have this receipt re-signed")
        await record_step(conn, row, ReceiptAction.RE_SIGN, at=at, actor=principal.actor,
                          note=f"re-signed; reported by {by}")


async def hand_over(rt: ReceiptsRuntime, *, principal: Principal, waybill_no: str, to: HandoverTo,
                    recipient: str, at: datetime) -> None:
    """A received receipt handed to the customer or the account's salesperson."""
    not_in_future("at", at, now=utcnow(), max_skew=rt.context.max_future_skew)
    async with uow(rt) as conn:
        row = await load_for_update(conn, principal=principal, waybill_no=waybill_no, side="origin",
                                    what="hand this receipt over")
        await record_step(conn, row, ReceiptAction.HAND_OVER, at=at, actor=principal.actor, handover_to=to,
                          recipient=recipient)


async def write_off(rt: ReceiptsRuntime, *, principal: Principal, waybill_no: str, at: datetime,
                    collector: str) -> None:
    """A received receipt collected by the customer in person (核销)."""
    not_in_future("at", at, now=utcnow(), max_skew=rt.context.max_future_skew)
    async with uow(rt) as conn:
        row = await load_for_update(conn, principal=principal, waybill_no=waybill_no, side="origin",
                                    what="write this receipt off")
        await record_step(conn, row, ReceiptAction.WRITE_OFF, at=at, actor=principal.actor, recipient=collector,
                          note="collected by the customer in person")


async def cancel(rt: ReceiptsRuntime, *, principal: Principal, waybill_no: str, at: datetime | None,
                 reason: str | None) -> None:
    """Cancel a cash-on-delivery receipt (others: 409 `cancel_requires_cod`)."""
    now = utcnow()
    at = at or now
    not_in_future("at", at, now=now, max_skew=rt.context.max_future_skew)
    async with uow(rt) as conn:
        row = await load_for_update(conn, principal=principal, waybill_no=waybill_no, side=None,
                                    what="cancel a receipt")
        note = "cash on delivery: customer told, receipt cancelled" + (f"; {reason}" if reason else "")
        await record_step(conn, row, ReceiptAction.CANCEL, at=at, actor=principal.actor, note=note)


async def receive_found(rt: ReceiptsRuntime, *, principal: Principal, waybill_no: str, at: datetime,
                        note: str | None) -> None:
    """A receipt flagged lost turned up at the origin after all (``lost`` → ``received``)."""
    not_in_future("at", at, now=utcnow(), max_skew=rt.context.max_future_skew)
    async with uow(rt) as conn:
        row = await load_for_update(conn, principal=principal, waybill_no=waybill_no, side="origin",
                                    what="receive this receipt")
        if row["status"] == ReceiptStatus.MAILED.value:
            raise Conflict(
                "invalid_transition",
                "a mailed receipt is received through its envelope's arrival (POST /v1/envelopes/{id}/arrival)",
                {"current": row["status"], "action": ReceiptAction.RECEIVE.value,
                 "envelope_id": str(row["envelope_id"]) if row["envelope_id"] else None},
            )
        await record_step(conn, row, ReceiptAction.RECEIVE, at=at, actor=principal.actor,
                          note=note or "turned up after being flagged lost", changes={"returned_at": at})
