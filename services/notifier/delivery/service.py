"""Delivery: claim one due notification (`FOR UPDATE SKIP LOCKED`), send it, record the attempt
and the outcome, and publish `notifier.notification.sent/failed.v1`, all in one transaction. The
messages a throttle summary carries take its outcome in the same transaction."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg

from services.notifier import metrics
from services.notifier.context import SOURCE, NotifierRuntime
from services.notifier.delivery import fallback, repository
from services.notifier.delivery.senders import Attachment, OutgoingMessage, SendResult
from services.notifier.domain.decisions import schedule
from services.notifier.domain.preferences import QuietHours
from services.notifier.domain.recipients import mask_address
from services.notifier.domain.retries import next_retry_delay, should_retry
from services.notifier.domain.summaries import SUMMARY_TEMPLATE
from services.notifier.domain.vocabulary import Channel, FailureKind
from services.notifier.summaries.repository import follow
from shared.clock import utcnow
from shared.context import uow
from shared.events import NotificationFailed, NotificationSent
from shared.outbox import publish

log = logging.getLogger("lcs.notifier")


async def dispatch_one(rt: NotifierRuntime, *, now: datetime | None = None, waybill_no: str | None = None) -> bool:
    """Send one due notification; False when nothing is due. `now` defaults to the wall clock."""
    at = now or utcnow()
    async with uow(rt) as conn:
        row = await repository.claim_due(conn, at, waybill_no)
        if row is None:
            return False
        channel = Channel(row["channel"])
        attachment = None
        if row["attachment"] is not None:
            attachment = Attachment(row["attachment_name"], row["attachment_type"], bytes(row["attachment"]))
        message = OutgoingMessage(notification_id=str(row["id"]), idempotency_key=row["idempotency_key"],
                                  channel=channel, to=row["to_address"], subject=row["subject"],
                                  text=row["body_text"], html=row["body_html"], attachment=attachment)
        result = await rt.context.sender(channel).send(message)
        attempt = row["attempts"] + 1
        await repository.record_attempts(conn, row["id"], attempt,
                                         [(c.provider, c.outcome, c.error, c.duration_ms) for c in result.calls])
        for call in result.calls:
            metrics.ATTEMPTS.labels(str(channel), call.provider, call.outcome).inc()
        await _settle(conn, rt, row=row, result=result, attempt=attempt, at=at)
    return True


async def dispatch_pass(rt: NotifierRuntime, *, now: datetime | None = None, waybill_no: str | None = None,
                        limit: int = 1000) -> int:
    """Send everything due at `now` once (the admin route); returns how many were processed."""
    processed = 0
    while processed < limit and await dispatch_one(rt, now=now, waybill_no=waybill_no):
        processed += 1
    return processed


async def _settle(conn: asyncpg.Connection, rt: NotifierRuntime, *, row: asyncpg.Record, result: SendResult,
                  attempt: int, at: datetime) -> None:
    channel = row["channel"]
    masked = mask_address(channel, row["to_address"])
    if result.ok:
        sent_at = utcnow()
        await repository.mark_sent(conn, row["id"], attempts=attempt, provider=result.provider,
                                   provider_message_id=result.provider_message_id, sent_at=sent_at)
        await publish(conn, NotificationSent(
            notification_id=str(row["id"]), event_id=str(row["event_id"]), channel=channel, to=masked,
            template=row["template"], provider=result.provider, sent_at=sent_at,
            waybill_no=row["waybill_no"]), source=SOURCE)
        metrics.NOTIFICATIONS.labels(channel, result.provider, "sent").inc()
        metrics.QUEUE_TO_SENT.labels(channel).observe((sent_at - row["created_at"]).total_seconds())
        if row["template"] == SUMMARY_TEMPLATE:
            held = await follow(conn, row["id"], status="sent", provider=result.provider, sent_at=sent_at)
            metrics.NOTIFICATIONS.labels(channel, result.provider, "sent").inc(held)
        return
    kind = result.kind or FailureKind.TRANSIENT
    error = result.error or "unknown error"
    policy = rt.context.policy
    # The limit counts from the desk's last retry of this notification, if any.
    tries = attempt - row["attempts_before_retry"]
    if should_retry(kind, tries, policy.max_attempts):
        delay = next_retry_delay(tries, policy.retry_base_s, policy.retry_cap_s, rt.context.rng)
        # A rate-limited group robot: not before its window has room again.
        delay = max(delay, result.retry_after or 0.0)
        # A retry of a non-urgent SMS must not ring at night either.
        decision = schedule(channel=Channel(channel), urgent=row["urgent"], at=at + timedelta(seconds=delay),
                            quiet_hours=QuietHours.from_dict(row["quiet_hours"]))
        await repository.mark_retry(conn, row["id"], attempts=attempt, provider=result.provider, error=error,
                                    status=str(decision.status), reason=decision.reason,
                                    next_attempt_at=decision.not_before)
        if row["template"] == SUMMARY_TEMPLATE:
            await follow(conn, row["id"], status="deferred", next_attempt_at=decision.not_before)
        log.info("send failed; will retry", extra={"notification_id": str(row["id"]), "attempt": attempt,
                                                   "error": error, "retry_at": decision.not_before.isoformat()})
        return
    await repository.mark_failed(conn, row["id"], attempts=attempt, provider=result.provider, error=error)
    if row["template"] == SUMMARY_TEMPLATE:
        held = await follow(conn, row["id"], status="failed", provider=result.provider, error=error)
        metrics.NOTIFICATIONS.labels(channel, result.provider, "failed").inc(held)
    await publish(conn, NotificationFailed(
        notification_id=str(row["id"]), event_id=str(row["event_id"]), channel=channel, to=masked,
        template=row["template"], error=error, attempts=attempt, waybill_no=row["waybill_no"]), source=SOURCE)
    metrics.NOTIFICATIONS.labels(channel, result.provider, "failed").inc()
    log.warning("notification failed", extra={"notification_id": str(row["id"]), "kind": str(kind),
                                              "attempts": attempt, "error": error})
    if row["fallback"] is not None:
        await fallback.send_by_email(conn, rt=rt, failed=row)
