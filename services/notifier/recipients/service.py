"""Use cases of the recipients' preferences: set them (they win over contacts carried by
events), read them."""

from __future__ import annotations

import asyncpg

from services.notifier.context import NotifierRuntime
from services.notifier.recipients import repository
from services.notifier.recipients.models import RecipientPut
from shared.auth import Principal
from shared.context import uow
from shared.errors import NotFound


async def put_recipient(rt: NotifierRuntime, *, principal: Principal, customer_id: str,
                        body: RecipientPut) -> tuple[asyncpg.Record, bool]:
    """Create or replace a customer's preferences; the row and whether it was created."""
    values = {
        "name": body.name, "phone": body.phone, "email": body.email, "language": body.language,
        "sms": body.channels.sms, "email_enabled": body.channels.email,
        "quiet_start": body.quiet_hours.start, "quiet_end": body.quiet_hours.end,
        "quiet_tz": body.quiet_hours.tz, "key_customer": body.key_customer,
    }
    async with uow(rt) as conn:
        return await repository.put_recipient(conn, customer_id, values, principal.actor)


async def get_recipient(rt: NotifierRuntime, *, customer_id: str) -> asyncpg.Record:
    row = await repository.get_recipient(rt.pool, customer_id)
    if row is None:
        raise NotFound.of("recipient", customer_id)
    return row
