"""Use cases of notifications: from a routed event to stored, decided, rendered rows (in the
consumer's inbox transaction), the audit reads, and the desk's retry.

* `on_event` — resolve recipients, decide (queued / deferred / held by the throttle for the
  recipient's summary, `summaries.service`), render, insert one row per event x channel x
  address (`ON CONFLICT DO NOTHING` on the idempotency key) and wake the dispatcher. A routed
  event that reaches nobody still leaves one row (`record_undelivered`: `failed` /
  `no_recipient`, or `suppressed` / `opted_out`).
* `retry` — the desk sends a notification that ended unsent (failed, suppressed) again.

Rendering happens when the row is inserted: the stored subject/text/html is exactly what is
sent (and what the audit shows), a template error is visible at once as a `failed` row, and
retries do not depend on templates that may have changed in between.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.notifier import metrics
from services.notifier.context import SOURCE, NotifierRuntime
from services.notifier.delivery.repository import wake_dispatcher
from services.notifier.delivery.senders import Attachment
from services.notifier.domain.decisions import decide, decision_time, schedule
from services.notifier.domain.idempotency import idempotency_key, normalize_address, undelivered_key
from services.notifier.domain.links import LINKED_AUDIENCES, sms_fits_with_link
from services.notifier.domain.preferences import QuietHours
from services.notifier.domain.recipients import (
    Contact,
    Delivery,
    ShipmentContacts,
    Undelivered,
    mask_address,
    resolve_recipients,
    undelivered,
)
from services.notifier.domain.retries import check_retryable
from services.notifier.domain.summaries import SUMMARY_TEMPLATE, summary_item
from services.notifier.domain.throttling import THROTTLED_AUDIENCES, WINDOW
from services.notifier.domain.vocabulary import ACTIVE_STATUSES, Channel, Language, Status
from services.notifier.notifications import repository
from services.notifier.notifications.bindings import BINDINGS, subject_waybill
from services.notifier.recipients.repository import preferences
from services.notifier.shipments.repository import (
    get_shipment,
    lock_waybill,
    park_event,
    set_appointment,
    set_arrived,
    set_delivered,
    set_eta,
)
from services.notifier.summaries.repository import follow, members_of
from services.notifier.summaries.service import find_open_summary, hold
from services.notifier.templates.renderer import Rendered, TemplateRenderer
from shared.auth import Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import NotFound
from shared.events import (
    DeliveryAppointed,
    Envelope,
    Event,
    NotificationFailed,
    ShipmentArrived,
    ShipmentDelayed,
    ShipmentDelivered,
    ShipmentDeparted,
    ShipmentRecovered,
)
from shared.metrics import count
from shared.outbox import publish

log = logging.getLogger("lcs.notifier")


def masked(channel: Channel | str, address: str) -> str:
    """An address as the audit and the events show it (`138****0000`, `o***@example.com`, a
    group robot's key as `693a****`)."""
    return mask_address(channel, address)


# --------------------------------------------------------------------------- from events


async def on_event(conn: asyncpg.Connection, *, rt: NotifierRuntime, event: Event, envelope: Envelope) -> None:
    """A routed event: its notifications, decided and rendered, or parked until its shipment is known."""
    binding = BINDINGS[envelope.type]
    waybill_no = subject_waybill(event)
    shipment = None
    if waybill_no is not None:
        await lock_waybill(conn, waybill_no)
        shipment = await get_shipment(conn, waybill_no)
    if binding.needs_shipment and shipment is None:
        # Out of order (or registered before we existed): wait for the registration.
        assert waybill_no is not None
        await park_event(conn, event_id=envelope.id, waybill_no=waybill_no, type_=envelope.type,
                         envelope=envelope.model_dump(mode="json"), event_time=envelope.time)
        log.info("event parked until its shipment is registered",
                 extra={"type": envelope.type, "waybill_no": waybill_no})
        return
    contacts = None
    if shipment is not None:
        if not await _track_shipment(conn, event, envelope):
            log.info("stale event: a newer one was applied already; nothing to tell",
                     extra={"type": envelope.type, "waybill_no": waybill_no})
            return
        contacts = ShipmentContacts(waybill_no=shipment["waybill_no"],
                                    shipper=Contact.from_dict(shipment["shipper"]),
                                    consignee=Contact.from_dict(shipment["consignee"]))
    data = binding.routing_data(event)
    customer_ids = [data.get("customer_id"), shipment["shipper_customer_id"] if shipment else None]
    prefs = await preferences(conn, [c for c in customer_ids if isinstance(c, str)])
    policy = rt.context.policy
    deliveries = resolve_recipients(envelope.type, data, contacts, prefs, policy)
    now = decision_time(envelope.time, wall=utcnow(),
                        max_lead=timedelta(seconds=rt.settings.decision_time_max_lead_seconds))
    if not deliveries:
        trace = undelivered(envelope.type, data, contacts, prefs, policy)
        if trace is not None:
            await record_undelivered(conn, trace=trace, event_id=envelope.id, event_type=envelope.type,
                                     waybill_no=waybill_no, now=now)
        return
    context = binding.context(event)
    # What a message is keyed on: the event, or (an appointment) what the event is about.
    dedupe = binding.dedupe_id(event) if binding.dedupe_id is not None else str(envelope.id)
    for delivery in sorted(deliveries, key=lambda d: (str(d.channel), normalize_address(d.channel, d.to))):
        await queue(conn, rt=rt, delivery=delivery, context=context, event_id=envelope.id,
                    event_type=envelope.type, waybill_no=waybill_no, now=now,
                    key=idempotency_key(dedupe, delivery.channel, delivery.to),
                    throttle=delivery.audience in THROTTLED_AUDIENCES,
                    fallback_key=(idempotency_key(dedupe, Channel.EMAIL, delivery.fallback_to)
                                  if delivery.fallback_to else None))


async def _track_shipment(conn: asyncpg.Connection, event: Event, envelope: Envelope) -> bool:
    """Keep what the daily reports need (ETA, arrival, delivery, the appointment); False when the
    event is stale and tells nothing any more (an appointment superseded by a newer booking)."""
    if isinstance(event, ShipmentDeparted | ShipmentDelayed | ShipmentRecovered):
        if event.eta is not None:
            await set_eta(conn, event.waybill_no, event.eta, envelope.time, event.promised_at)
    elif isinstance(event, ShipmentArrived):
        await set_arrived(conn, event.waybill_no, event.arrived_at if event.final else None,
                          pieces_arrived=event.pieces_arrived, batch_at=event.arrived_at)
    elif isinstance(event, ShipmentDelivered):
        await set_delivered(conn, event.waybill_no, event.delivered_at)
    elif isinstance(event, DeliveryAppointed):
        return await set_appointment(conn, event.waybill_no, event.model_dump(mode="json"), envelope.time)
    return True


def _row(delivery: Delivery, *, nid: uuid.UUID, key: str, event_id: uuid.UUID, event_type: str,
         waybill_no: str | None, now: datetime) -> dict[str, Any]:
    """The columns of a notification row that the delivery decides."""
    channel = delivery.channel
    return {
        "id": nid, "idempotency_key": key, "event_id": event_id, "event_type": event_type,
        "channel": str(channel), "to_address": delivery.to,
        "recipient_key": f"{channel}:{normalize_address(channel, delivery.to)}",
        "audience": str(delivery.audience), "customer_id": delivery.customer_id, "waybill_no": waybill_no,
        "template": delivery.template, "language": str(delivery.language), "urgent": delivery.urgent,
        "quiet_hours": delivery.quiet_hours.as_dict(), "decided_at": now,
    }


async def _failed(conn: asyncpg.Connection, *, nid: uuid.UUID, event_id: uuid.UUID, delivery: Delivery,
                  error: str, waybill_no: str | None) -> None:
    await publish(conn, NotificationFailed(
        notification_id=str(nid), event_id=str(event_id), channel=str(delivery.channel),
        to=masked(delivery.channel, delivery.to),
        template=delivery.template, error=error, attempts=0, waybill_no=waybill_no), source=SOURCE)


def render_notice(renderer: TemplateRenderer, *, template: str, channel: Channel, language: Language,
                  data: dict[str, Any], link: str | None) -> Rendered:
    """One notice with its public tracking link (`domain/links.py`); an SMS that the link would
    take past `SMS_PARTS_WITH_LINK` parts goes without it."""
    rendered = renderer.render(template, channel, language, {**data, "link": link})
    if link and channel is Channel.SMS and not sms_fits_with_link(rendered.text):
        rendered = renderer.render(template, channel, language, {**data, "link": None})
    return rendered


async def queue(conn: asyncpg.Connection, *, rt: NotifierRuntime, delivery: Delivery, context: dict[str, Any],
                event_id: uuid.UUID, event_type: str, waybill_no: str | None, now: datetime, key: str,
                throttle: bool = True, fallback_key: str | None = None,
                attachment: Attachment | None = None) -> bool:
    """Decide, render and store one delivery (the caller's transaction); True when this call created it.
    A message the throttle holds is stored in the recipient's summary (`summaries.service.hold`).
    A group message keeps what its e-mail fallback needs (`delivery/fallback.py`): the address,
    `fallback_key` (the key the notice's own e-mail has) and the template variables. An e-mail
    may carry one `attachment` (stored with the message)."""
    channel = delivery.channel
    recipient_key = f"{channel}:{normalize_address(channel, delivery.to)}"
    await repository.lock_recipient(conn, recipient_key)
    slots: list[datetime] = []
    open_summary = None
    if throttle:
        open_summary = await find_open_summary(conn, recipient_key)
        slots = await repository.recent_slots(conn, recipient_key, now, window=WINDOW,
                                              limit=rt.context.policy.throttle_per_hour)
    decision = decide(channel=channel, urgent=delivery.urgent, now=now, quiet_hours=delivery.quiet_hours,
                      slots=slots, throttle_limit=rt.context.policy.throttle_per_hour, open_summary=open_summary)
    status, reason, error = str(decision.status), decision.reason, None
    subject, text, html = None, "", None
    language = delivery.language
    links = rt.context.links
    link = links.for_waybill(waybill_no, now) if links and waybill_no and delivery.audience in LINKED_AUDIENCES \
        else None
    try:
        rendered = render_notice(rt.context.renderer, template=delivery.template, channel=channel,
                                 language=delivery.language, data={**context, "recipient_name": delivery.name},
                                 link=link)
        subject, text, html, language = rendered.subject, rendered.text, rendered.html, rendered.language
    except Exception as exc:  # noqa: BLE001 - a template error fails this message, visibly
        status, reason, error = str(Status.FAILED), None, f"template: {type(exc).__name__}: {exc}"[:500]
        log.error("template rendering failed", extra={"template": delivery.template, "error": error})
    nid = uuid.uuid4()
    row = {**_row(delivery, nid=nid, key=key, event_id=event_id, event_type=event_type, waybill_no=waybill_no,
                  now=now), "language": str(language), "subject": subject, "body_text": text, "body_html": html}
    if attachment is not None:
        row.update({"attachment_name": attachment.name, "attachment_type": attachment.content_type,
                    "attachment": attachment.content})
    if delivery.fallback_to and fallback_key:
        row["fallback"] = {"to": delivery.fallback_to, "key": fallback_key,
                           "context": {**context, "recipient_name": delivery.name}}
    if decision.rolled_up and error is None:
        return await hold(conn, rt=rt, delivery=delivery, decision=decision, member=row,
                          item=summary_item(delivery.template, context))
    created = await repository.insert_notification(conn, {
        **row, "status": status, "reason": reason,
        "next_attempt_at": decision.not_before if decision.status is Status.DEFERRED else utcnow(),
        "last_error": error,
    })
    if not created:
        return False
    count(metrics.NOTIFICATIONS.labels(str(channel), "none", status))
    if status in ACTIVE_STATUSES:
        await wake_dispatcher(conn)
    elif status == Status.FAILED:
        await _failed(conn, nid=nid, event_id=event_id, delivery=delivery, error=error or "", waybill_no=waybill_no)
    return True


async def record_undelivered(conn: asyncpg.Connection, *, trace: Undelivered, event_id: uuid.UUID, event_type: str,
                             waybill_no: str | None, now: datetime) -> bool:
    """The one audit row of a routed notice that reached nobody (the caller's transaction).

    ``no_recipient``: stored `failed` (attempts 0), counted in
    `lcs_notifier_no_recipient_total`, logged, and announced as `notifier.notification.failed.v1`
    like any failure. ``opted_out``: stored `suppressed`. True when this call created the row."""
    delivery = trace.delivery
    channel = delivery.channel
    key = idempotency_key(str(event_id), channel, delivery.to) if delivery.to else undelivered_key(str(event_id))
    nid = uuid.uuid4()
    error = None
    if trace.status is Status.FAILED:
        error = f"{trace.reason}: no {delivery.audience} address for this notice"
    row = _row(delivery, nid=nid, key=key, event_id=event_id, event_type=event_type, waybill_no=waybill_no, now=now)
    created = await repository.insert_notification(conn, {
        **row, "subject": None, "body_text": "", "body_html": None, "status": str(trace.status),
        "reason": trace.reason, "next_attempt_at": now, "last_error": error,
    })
    if not created:
        return False
    count(metrics.NOTIFICATIONS.labels(str(channel), "none", str(trace.status)))
    if trace.status is Status.FAILED:
        count(metrics.NO_RECIPIENT.labels(event_type, str(delivery.audience), str(channel)))
        log.warning("routed notice has no recipient", extra={
            "type": event_type, "audience": str(delivery.audience), "channel": str(channel),
            "template": delivery.template, "waybill_no": waybill_no})
        await _failed(conn, nid=nid, event_id=event_id, delivery=delivery, error=error or "", waybill_no=waybill_no)
    return True


# --------------------------------------------------------------------------- the audit


def view(row: asyncpg.Record) -> dict[str, Any]:
    """A notification as the audit shows it: the address masked."""
    return {
        "id": row["id"], "event_id": row["event_id"], "event_type": row["event_type"], "channel": row["channel"],
        "to": masked(row["channel"], row["to_address"]), "template": row["template"], "language": row["language"],
        "status": row["status"], "reason": row["reason"], "attempts": row["attempts"],
        "provider": row["provider"], "sent_at": row["sent_at"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] in ACTIVE_STATUSES else None,
        "last_error": row["last_error"], "waybill_no": row["waybill_no"], "customer_id": row["customer_id"],
        "rolled_into": row["rolled_into"], "fallback_of": row["fallback_of"], "created_at": row["created_at"],
    }


def _branch(principal: Principal) -> str | None:
    """A branch sees notifications of shipments touching its station; the desk sees all."""
    return principal.branch if principal.role == "branch" else None


async def list_notifications(rt: NotifierRuntime, *, principal: Principal, waybill_no: str | None,
                             customer_id: str | None, status: str | None, channel: str | None,
                             after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[asyncpg.Record]:
    """Up to `limit` rows of the audit, newest first, after the cursor's (created_at, id)."""
    return await repository.list_notifications(rt.pool, waybill_no=waybill_no, customer_id=customer_id,
                                               status=status, channel=channel, branch=_branch(principal),
                                               after=after, limit=limit)


async def get_notification(rt: NotifierRuntime, *, principal: Principal, notification_id: uuid.UUID) -> dict[str, Any]:
    """One notification with its subject, every delivery attempt, every retry by the desk and,
    for a throttle summary, the messages it carries."""
    async with rt.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row = await repository.get_notification(conn, notification_id, _branch(principal))
        if row is None:
            raise NotFound.of("notification", str(notification_id))
        attempts = await repository.attempts_of(conn, notification_id)
        retries = await repository.retries_of(conn, notification_id)
        members = await members_of(conn, notification_id) if row["template"] == SUMMARY_TEMPLATE else []
    return {
        **view(row), "subject": row["subject"],
        "delivery_attempts": [{k: a[k] for k in ("attempt", "provider", "outcome", "error", "duration_ms", "at")}
                              for a in attempts],
        "retries": [{"at": r["at"], "by": r["actor"], "from_status": r["from_status"],
                     "from_reason": r["from_reason"], "attempts": r["attempts"], "last_error": r["last_error"]}
                    for r in retries],
        "members": [{k: m[k] for k in ("id", "event_id", "event_type", "waybill_no", "template", "status")}
                    for m in members],
    }


# --------------------------------------------------------------------------- the desk's retry


async def retry(rt: NotifierRuntime, *, principal: Principal, notification_id: uuid.UUID) -> dict[str, Any]:
    """Queue a notification that ended unsent (failed, suppressed) for delivery again.

    The dispatcher sends it as it sends any queued row (same rendered message, same
    idempotency key, so a provider can still drop a true duplicate); a non-urgent SMS inside
    the recipient's quiet hours waits for their end. `attempts` goes on counting, and the
    retry limit (`LCS_MAX_ATTEMPTS`) counts again from here. Audited in `notification_retries`
    (who, when, from which status). Retrying a queued, deferred or sent one is 409
    `invalid_transition`; one with nothing to send (no recipient, opted out, never rendered)
    409 `not_retryable`, and so is a message that went inside a throttle summary (the summary is
    what is sent again; its messages follow it)."""
    async with uow(rt) as conn:
        row = await repository.get_for_update(conn, notification_id)
        if row is None:
            raise NotFound.of("notification", str(notification_id))
        check_retryable(Status(row["status"]), reason=row["reason"], to=row["to_address"], text=row["body_text"],
                        rolled_into=row["rolled_into"])
        decision = schedule(channel=Channel(row["channel"]), urgent=row["urgent"], at=utcnow(),
                            quiet_hours=QuietHours.from_dict(row["quiet_hours"]))
        await repository.record_retry(conn, notification_id, actor=principal.actor, from_status=row["status"],
                                      from_reason=row["reason"], attempts=row["attempts"],
                                      last_error=row["last_error"])
        await repository.requeue(conn, notification_id, status=str(decision.status), reason=decision.reason,
                                 next_attempt_at=decision.not_before)
        if row["template"] == SUMMARY_TEMPLATE:
            await follow(conn, notification_id, status=str(Status.DEFERRED), next_attempt_at=decision.not_before)
        await wake_dispatcher(conn)
    metrics.RETRIES_REQUESTED.labels(row["channel"], row["status"]).inc()
    log.info("notification sent again by the desk", extra={
        "notification_id": str(notification_id), "actor": principal.actor, "from_status": row["status"],
        "status": str(decision.status)})
    return await get_notification(rt, principal=principal, notification_id=notification_id)
