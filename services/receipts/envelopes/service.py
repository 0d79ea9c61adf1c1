"""Use cases of envelopes: mail qualified receipts to their origin station (all or none), and
reconcile an arrived envelope against its list (present → received, missing → lost and
chased at once with `receipts.receipt.lost.v1`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from prometheus_client import Counter

from services.receipts.context import SOURCE, ReceiptsRuntime
from services.receipts.domain import access, envelopes
from services.receipts.domain.lifecycle import ReceiptAction
from services.receipts.domain.times import not_in_future
from services.receipts.envelopes import repository
from services.receipts.receipts.service import lock_receipts, record_step, station_contact
from shared.auth import Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import NotFound
from shared.events import ReceiptLost
from shared.metrics import count
from shared.outbox import publish

LOST_FLAGGED_TOTAL = Counter("lcs_receipts_lost_flagged_total", "Receipts flagged lost on envelope arrival")


async def mail_envelope(rt: ReceiptsRuntime, *, principal: Principal, from_station: str, to_station: str,
                        waybills: Sequence[str], sent_at: datetime, courier_no: str) -> uuid.UUID:
    """Seal qualified receipts of one station into an envelope to their origin station: all or none."""
    access.authorise(principal, side="sending", station=from_station, what="mail this envelope")
    envelopes.check_size(waybills, rt.context.envelope_max_waybills)
    not_in_future("sent_at", sent_at, now=utcnow(), max_skew=rt.context.max_future_skew)
    envelope_id = uuid.uuid4()
    async with uow(rt) as conn:
        rows = {w: r for w, r in (await lock_receipts(conn, waybills)).items()
                if access.visible(principal, r["origin"], r["destination"])}
        envelopes.check_contents(waybills, rows, from_station=from_station, to_station=to_station)
        await repository.insert_envelope(conn, envelope_id=envelope_id, from_station=from_station,
                                         to_station=to_station, courier_no=courier_no, sent_at=sent_at,
                                         sent_by=principal.actor, waybills=waybills)
        for w in waybills:
            await record_step(conn, rows[w], ReceiptAction.MAIL, at=sent_at, actor=principal.actor,
                              courier_no=courier_no, envelope_id=envelope_id, note=f"envelope {envelope_id}",
                              changes={"envelope_id": envelope_id, "courier_no": courier_no})
    return envelope_id


async def receive_envelope(rt: ReceiptsRuntime, *, principal: Principal, envelope_id: uuid.UUID,
                           received_at: datetime, waybills_present: Sequence[str]) -> None:
    """Reconcile an arrived envelope against its list: present → received, missing → lost (chased at once)."""
    not_in_future("received_at", received_at, now=utcnow(), max_skew=rt.context.max_future_skew)
    async with uow(rt) as conn:
        env = await repository.get_envelope(conn, envelope_id, for_update=True)
        if env is None or not access.visible(principal, env["from_station"], env["to_station"]):
            raise NotFound.of("envelope", str(envelope_id))
        access.authorise(principal, side="receiving", station=env["to_station"], what="record the arrival")
        listed = [i["waybill_no"] for i in await repository.envelope_items(conn, envelope_id)]
        envelopes.check_arrival(env, received_at=received_at, listed=listed, present=waybills_present)
        present = set(waybills_present)
        rows = await lock_receipts(conn, listed)
        for w in listed:
            row = rows[w]
            if w in present:
                await record_step(conn, row, ReceiptAction.RECEIVE, at=received_at, actor=principal.actor,
                                  courier_no=env["courier_no"], envelope_id=envelope_id,
                                  note=f"envelope {envelope_id}", changes={"returned_at": received_at})
                continue
            await record_step(conn, row, ReceiptAction.FLAG_LOST, at=received_at, actor=principal.actor,
                              courier_no=env["courier_no"], envelope_id=envelope_id,
                              note=f"listed on envelope {envelope_id} but missing on arrival",
                              changes={"lost_at": row["lost_at"] or received_at})
            await publish(conn, ReceiptLost(
                waybill_no=w, envelope_id=str(envelope_id), courier_no=env["courier_no"],
                from_station=env["from_station"], to_station=env["to_station"], flagged_at=received_at,
                due_at=row["due_at"], origin=row["origin"], destination=row["destination"],
                station_contact=station_contact(row["station_contact"]),
            ), source=SOURCE)
            count(LOST_FLAGGED_TOTAL)
        await repository.close_envelope(conn, envelope_id, received_at=received_at, received_by=principal.actor,
                                        present=sorted(present))


async def get_envelope(rt: ReceiptsRuntime, *, principal: Principal, envelope_id: uuid.UUID) -> dict[str, Any]:
    """The envelope, its list and, once it arrived, what was present and what was missing."""
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        env = await repository.get_envelope(conn, envelope_id)
        if env is None or not access.visible(principal, env["from_station"], env["to_station"]):
            raise NotFound.of("envelope", str(envelope_id))
        items = await repository.envelope_items(conn, envelope_id)
    return {
        **dict(env),
        "count": len(items),
        "waybills": [dict(i) for i in items],
        "present": [i["waybill_no"] for i in items if i["outcome"] == "present"],
        "missing": [i["waybill_no"] for i in items if i["outcome"] == "missing"],
    }
