"""Use cases of the call log: every call recorded, the callbacks the desk owes, and settling
them (a returning call, or marking one done)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.complaints.calls import repository
from services.complaints.context import ComplaintsRuntime
from services.complaints.customers.repository import customer_seen
from services.complaints.domain.calls import check_callback_owed, check_returning_call, settles_callback
from services.complaints.tickets.repository import get_complaint
from shared.auth import Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Invalid, NotFound

Row = repository.Row


async def log_call(rt: ComplaintsRuntime, *, principal: Principal, call: Mapping[str, Any]) -> Row:
    """Record a call (422 `callback_due_required`, `unknown_complaint`, `unknown_call`,
    `not_a_callback`; 409 `callback_settled`)."""
    now = utcnow()
    if call["outcome"] == "callback" and call["callback_due"] is None:
        raise Invalid("callback_due_required", "a call to be returned needs callback_due")
    async with uow(rt) as conn:
        if call["complaint_id"] is not None and await get_complaint(conn, call["complaint_id"]) is None:
            raise Invalid("unknown_complaint", f"complaint {call['complaint_id']} does not exist",
                          {"complaint_id": str(call["complaint_id"])})
        settles = False
        if call.get("callback_of") is not None:
            original = await repository.lock_callback(conn, call["callback_of"])
            check_returning_call(original_id=str(call["callback_of"]),
                                 original_outcome=None if original is None else original["outcome"],
                                 settled=bool(original and original["settled"]))
            settles = settles_callback(call["outcome"])
        row = await repository.insert_call(conn, {**call, "id": uuid.uuid4(), "called_at": call["called_at"] or now,
                                                  "recorded_by": principal.actor, "settles_callback": settles})
        if call["customer_id"]:
            await customer_seen(conn, call["customer_id"], at=row["called_at"])
        return row


async def mark_callback_done(rt: ComplaintsRuntime, *, principal: Principal, call_id: uuid.UUID,
                             note: str | None) -> Row:
    """Settle the callback call `call_id` promised without a returning call: it leaves the
    callbacks owed (404 unknown call, 422 `not_a_callback`, 409 `callback_settled`)."""
    async with uow(rt) as conn:
        original = await repository.lock_callback(conn, call_id)
        if original is None:
            raise NotFound.of("call", call_id)
        check_callback_owed(call_id=str(call_id), outcome=original["outcome"], settled=original["settled"])
        await repository.mark_callback_done(conn, call_id, at=utcnow(), by=principal.actor, note=note)
        row = await repository.get_call(conn, call_id)
        assert row is not None
        return row


async def list_calls(rt: ComplaintsRuntime, *, customer_id: str | None, waybill_no: str | None,
                     outcome: str | None, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    async with rt.pool.acquire() as conn:
        return await repository.list_calls(conn, customer_id=customer_id, waybill_no=waybill_no, outcome=outcome,
                                           after=after, limit=limit)


async def callbacks_due(rt: ComplaintsRuntime, *, due_before: datetime | None, customer_id: str | None,
                        after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Row]:
    async with rt.pool.acquire() as conn:
        return await repository.callbacks_due(conn, now=utcnow(), due_before=due_before, customer_id=customer_id,
                                              after=after, limit=limit)
