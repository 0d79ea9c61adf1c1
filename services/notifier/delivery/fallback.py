"""The e-mail fallback of a group robot message (in the dispatcher's transaction).

A message to a key account's WeChat Work group that ends `failed` — a permanent error (the
robot was removed: errcode 93000), or a transient one past the retry limit — is sent by e-mail
instead, to the account's e-mail address (its preferences, else the event's contact), once:

* the e-mail carries the idempotency key the notice's own e-mail has (`fallback.key`, kept on the
  group message when it was queued), so a notice that also went by e-mail (the account has the
  channel on) is not sent a second time — the insert finds that e-mail and does nothing;
* it is rendered from the template variables kept with the group message, in its language, and
  queued at once (e-mail is never held for quiet hours; it stands in for a message the throttle
  already let through, so it is not throttled again);
* the audit links the two: the e-mail's `fallback_of` is the group message.

The account's e-mail switch is not asked: it says which routine messages they want by e-mail,
while the fallback is the one way left to reach them with a message meant for them.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg

from services.notifier import metrics
from services.notifier.context import NotifierRuntime
from services.notifier.delivery.repository import wake_dispatcher
from services.notifier.domain.idempotency import normalize_address
from services.notifier.domain.vocabulary import Channel, Status
from services.notifier.notifications.repository import insert_notification
from shared.clock import utcnow
from shared.metrics import count

log = logging.getLogger("lcs.notifier")


async def send_by_email(conn: asyncpg.Connection, *, rt: NotifierRuntime, failed: asyncpg.Record) -> bool:
    """Queue the e-mail standing in for the failed group message ``failed``; True when queued
    (False: the notice has its e-mail already, or the e-mail could not be rendered)."""
    fallback: dict[str, Any] = failed["fallback"]
    to = str(fallback["to"])
    try:
        rendered = rt.context.renderer.render(failed["template"], Channel.EMAIL, failed["language"],
                                              fallback.get("context") or {})
    except Exception as exc:  # noqa: BLE001 - the group message stays failed; nothing else to send
        log.error("fallback e-mail could not be rendered", extra={
            "notification_id": str(failed["id"]), "template": failed["template"], "error": repr(exc)[:300]})
        return False
    now = utcnow()
    created = await insert_notification(conn, {
        "id": uuid.uuid4(), "idempotency_key": str(fallback["key"]), "event_id": failed["event_id"],
        "event_type": failed["event_type"], "channel": str(Channel.EMAIL), "to_address": to,
        "recipient_key": f"{Channel.EMAIL}:{normalize_address(Channel.EMAIL, to)}", "audience": failed["audience"],
        "customer_id": failed["customer_id"], "waybill_no": failed["waybill_no"], "template": failed["template"],
        "language": str(rendered.language), "urgent": failed["urgent"], "quiet_hours": failed["quiet_hours"],
        "decided_at": now, "subject": rendered.subject, "body_text": rendered.text, "body_html": rendered.html,
        "status": str(Status.QUEUED), "reason": None, "next_attempt_at": now, "last_error": None,
        "fallback_of": failed["id"],
    })
    if not created:
        log.info("group message failed; its notice went by e-mail already",
                 extra={"notification_id": str(failed["id"])})
        return False
    count(metrics.NOTIFICATIONS.labels(str(Channel.EMAIL), "none", str(Status.QUEUED)))
    metrics.FALLBACKS.labels(failed["channel"], str(Channel.EMAIL)).inc()
    await wake_dispatcher(conn)
    log.info("group message failed; sent by e-mail instead", extra={"notification_id": str(failed["id"])})
    return True
