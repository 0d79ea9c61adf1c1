"""Use cases of the recipients' preferences: set them (they win over contacts carried by
events), read them."""

from __future__ import annotations

import asyncpg

from services.notifier.context import NotifierRuntime
from services.notifier.domain import wecom
from services.notifier.recipients import repository
from services.notifier.recipients.models import RecipientPut
from shared.auth import Principal
from shared.context import uow
from shared.errors import Invalid, NotFound


async def put_recipient(rt: NotifierRuntime, *, principal: Principal, customer_id: str,
                        body: RecipientPut) -> tuple[asyncpg.Record, bool]:
    """Create or replace a customer's preferences; the row and whether it was created."""
    values = {
        "name": body.name, "phone": body.phone, "email": body.email, "language": body.language,
        "sms": body.channels.sms, "email_enabled": body.channels.email, "wecom_enabled": body.channels.wecom,
        "quiet_start": body.quiet_hours.start, "quiet_end": body.quiet_hours.end,
        "quiet_tz": body.quiet_hours.tz, "key_customer": body.key_customer,
        "storage_report_enabled": body.storage_report.enabled, "storage_report_hour": body.storage_report.hour,
    }
    # The webhook is a secret nobody reads back: left out, the stored one stays.
    keep_webhook = "wecom_webhook" not in body.model_fields_set
    values["wecom_key"] = None if keep_webhook or body.wecom_webhook is None else _robot_key(rt, body.wecom_webhook)
    async with uow(rt) as conn:
        return await repository.put_recipient(conn, customer_id, values, principal.actor, keep_wecom=keep_webhook)


def _robot_key(rt: NotifierRuntime, webhook: str) -> str:
    try:
        return wecom.webhook_key(webhook, rt.settings.wecom_base_url)
    except wecom.InvalidWebhook as exc:
        raise Invalid("invalid_webhook", str(exc), {"field": "wecom_webhook"}) from None


async def get_recipient(rt: NotifierRuntime, *, customer_id: str) -> asyncpg.Record:
    row = await repository.get_recipient(rt.pool, customer_id)
    if row is None:
        raise NotFound.of("recipient", customer_id)
    return row
