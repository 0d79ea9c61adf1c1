"""Use cases of the notifier, one transaction each.

* `on_registered` / `on_event` (and `on_registered_many`, registrations set-based for the
  consumer's groups) — run inside the consumer's inbox transaction: resolve
  recipients, decide (queued / deferred / suppressed), render, insert one row per event x
  channel x address (`ON CONFLICT DO NOTHING` on the idempotency key) and wake the dispatcher.
* `dispatch_one` — claim one due row (`FOR UPDATE SKIP LOCKED`), send it, record the attempt
  and the outcome, publish `notifier.notification.sent/failed.v1` in the same transaction.
* `run_digest` — the key customers' daily arrival report, once per customer per day.

Rendering happens when the row is inserted: the stored subject/text/html is exactly what is
sent (and what the audit shows), a template error is visible at once as a `failed` row, and
retries do not depend on templates that may have changed in between.

The decision time (quiet hours, throttle window) is the later of the wall clock and the
event's CloudEvents `time` (capped at `decision_time_max_lead_seconds` ahead): in production
events are consumed right after they happen, so it is the wall clock; an event stamped with a
future time (a test, a replay tool) is judged as of that time.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from services.notifier import metrics
from services.notifier import repository as repo
from services.notifier.domain import (
    DIGEST_TEMPLATE,
    THROTTLED_AUDIENCES,
    Audience,
    Channel,
    Contact,
    Delivery,
    DigestShipment,
    FailureKind,
    Language,
    NotifierConfig,
    QuietHours,
    ShipmentContacts,
    Status,
    build_arrival_digest,
    decide,
    idempotency_key,
    next_retry_delay,
    normalize_address,
    quiet_until,
    resolve_recipients,
    should_retry,
)
from services.notifier.routing import BINDINGS, subject_waybill
from services.notifier.senders import EmailSender, OutgoingMessage, SendResult, SmsSender
from services.notifier.settings import NotifierSettings
from services.notifier.templating import TemplateRenderer
from shared.bus import repeated_keys
from shared.events import (
    Envelope,
    Event,
    NotificationFailed,
    NotificationSent,
    ShipmentArrived,
    ShipmentDelayed,
    ShipmentDelivered,
    ShipmentDeparted,
    ShipmentRecovered,
    ShipmentRegistered,
    parse_event,
)
from shared.metrics import count
from shared.outbox import publish
from shared.pii import mask_contact

log = logging.getLogger("lcs.notifier")

SOURCE = "/lcs/notifier"
DIGEST_EVENT_TYPE = "notifier.digest.daily_arrivals"
_DIGEST_NAMESPACE = uuid.UUID("6f1c0b8e-4a53-4c1e-9d0e-2b7f5f0c1d11")


def _quiet_json(q: QuietHours) -> dict[str, str]:
    return {"start": q.start.isoformat(timespec="minutes"), "end": q.end.isoformat(timespec="minutes"), "tz": q.tz}


@dataclass
class DigestOutcome:
    key_customers: int = 0
    queued: int = 0
    already_done: int = 0
    skipped_no_email: int = 0


class NotifierService:
    def __init__(self, settings: NotifierSettings, pool: asyncpg.Pool, http: httpx.AsyncClient,
                 renderer: TemplateRenderer | None = None) -> None:
        self.s = settings
        self.pool = pool
        self.http = http
        self.renderer = renderer or TemplateRenderer()
        self.config = NotifierConfig(
            supervisor_email=settings.supervisor_email,
            default_language=Language(settings.default_language),
            supervisor_language=Language(settings.default_language),
            throttle_per_hour=settings.throttle_per_hour,
            max_attempts=settings.max_attempts,
            retry_base_s=settings.retry_base_seconds,
            retry_cap_s=settings.retry_cap_seconds,
        )
        self.email = EmailSender(settings)
        self.sms = SmsSender(settings, http)
        self.rng = random.SystemRandom()

    # --- time -----------------------------------------------------------------------------

    def decision_time(self, event_time: datetime) -> datetime:
        wall = datetime.now(UTC)
        if wall < event_time <= wall + timedelta(seconds=self.s.decision_time_max_lead_seconds):
            return event_time
        return wall

    # --- consuming ------------------------------------------------------------------------

    async def on_registered(self, conn: asyncpg.Connection, event: ShipmentRegistered, envelope: Envelope) -> None:
        """Store the shipment's contacts and stations, then replay events that waited for them."""
        await repo.lock_waybill(conn, event.waybill_no)
        await repo.upsert_shipment(conn, event)
        for parked in await repo.take_parked(conn, event.waybill_no):
            await self._replay(conn, parked)

    async def on_registered_many(self, conn: asyncpg.Connection,
                                 events: Sequence[tuple[ShipmentRegistered, Envelope]]) -> None:
        """`on_registered` of each registration in turn, set-based (the consumer's group handler).

        The waybills named once are locked, stored and cleared of parked events with one
        statement each. A registration changes nothing another waybill's events read, so the
        only order that matters is that of what sends (the parked events' replays: throttling
        counts per recipient across waybills); those replays, and the waybills named twice or
        more here (through `on_registered`), then run in delivery order."""
        repeated = repeated_keys(event.waybill_no for event, _ in events)
        once = [event for event, _ in events if event.waybill_no not in repeated]
        waybills = [event.waybill_no for event in once]
        await repo.lock_waybills(conn, waybills)
        await repo.upsert_shipments(conn, once)
        parked = await repo.take_parked_of(conn, waybills)
        for event, envelope in events:
            if event.waybill_no in repeated:
                await self.on_registered(conn, event, envelope)
                continue
            for row in parked.get(event.waybill_no, ()):
                await self._replay(conn, row)

    async def _replay(self, conn: asyncpg.Connection, parked: asyncpg.Record) -> None:
        parked_envelope = Envelope.model_validate(parked["envelope"])
        await self.on_event(conn, parse_event(parked_envelope), parked_envelope)

    async def on_event(self, conn: asyncpg.Connection, event: Event, envelope: Envelope) -> None:
        binding = BINDINGS[envelope.type]
        waybill_no = subject_waybill(event)
        shipment = None
        if waybill_no is not None:
            await repo.lock_waybill(conn, waybill_no)
            shipment = await repo.get_shipment(conn, waybill_no)
        if binding.needs_shipment and shipment is None:
            # Out of order (or registered before we existed): wait for the registration.
            assert waybill_no is not None
            await repo.park_event(conn, event_id=envelope.id, waybill_no=waybill_no, type_=envelope.type,
                                  envelope=envelope.model_dump(mode="json"), event_time=envelope.time)
            log.info("event parked until its shipment is registered",
                     extra={"type": envelope.type, "waybill_no": waybill_no})
            return
        if shipment is not None:
            await self._track_shipment(conn, event, envelope)
        contacts = None
        if shipment is not None:
            contacts = ShipmentContacts(waybill_no=shipment["waybill_no"],
                                        shipper=Contact.from_dict(shipment["shipper"]),
                                        consignee=Contact.from_dict(shipment["consignee"]))
        data = binding.routing_data(event)
        customer_ids = [data.get("customer_id"), shipment["shipper_customer_id"] if shipment else None]
        prefs = await repo.preferences(conn, [c for c in customer_ids if isinstance(c, str)])
        deliveries = resolve_recipients(envelope.type, data, contacts, prefs, self.config)
        context = binding.context(event)
        now = self.decision_time(envelope.time)
        for delivery in sorted(deliveries, key=lambda d: (str(d.channel), normalize_address(d.channel, d.to))):
            await self._queue(conn, delivery=delivery, context=context, event_id=envelope.id,
                              event_type=envelope.type, waybill_no=waybill_no, now=now,
                              key=idempotency_key(str(envelope.id), delivery.channel, delivery.to),
                              throttle=delivery.audience in THROTTLED_AUDIENCES)

    async def _track_shipment(self, conn: asyncpg.Connection, event: Event, envelope: Envelope) -> None:
        """Keep the times the daily arrival report needs."""
        if isinstance(event, ShipmentDeparted | ShipmentDelayed | ShipmentRecovered):
            if event.eta is not None:
                await repo.set_eta(conn, event.waybill_no, event.eta, envelope.time, event.promised_at)
        elif isinstance(event, ShipmentArrived) and event.final:
            await repo.set_arrived(conn, event.waybill_no, event.arrived_at)
        elif isinstance(event, ShipmentDelivered):
            await repo.set_delivered(conn, event.waybill_no, event.delivered_at)

    async def _queue(self, conn: asyncpg.Connection, *, delivery: Delivery, context: dict[str, Any],
                     event_id: uuid.UUID, event_type: str, waybill_no: str | None, now: datetime, key: str,
                     throttle: bool = True) -> bool:
        channel = delivery.channel
        recipient_key = f"{channel}:{normalize_address(channel, delivery.to)}"
        await repo.lock_recipient(conn, recipient_key)
        recent = await repo.count_recent(conn, recipient_key, now) if throttle else 0
        decision = decide(channel=channel, urgent=delivery.urgent, now=now, quiet_hours=delivery.quiet_hours,
                          sent_in_last_hour=recent, throttle_limit=self.config.throttle_per_hour)
        status, reason, error = str(decision.status), decision.reason, None
        subject, text, html = None, "", None
        language = delivery.language
        try:
            rendered = self.renderer.render(delivery.template, channel, delivery.language,
                                            {**context, "recipient_name": delivery.name})
            subject, text, html, language = rendered.subject, rendered.text, rendered.html, rendered.language
        except Exception as exc:  # noqa: BLE001 - a template error fails this message, visibly
            status, reason, error = str(Status.FAILED), None, f"template: {type(exc).__name__}: {exc}"[:500]
            log.error("template rendering failed", extra={"template": delivery.template, "error": error})
        wall = datetime.now(UTC)
        nid = uuid.uuid4()
        created = await repo.insert_notification(conn, {
            "id": nid, "idempotency_key": key, "event_id": event_id, "event_type": event_type,
            "channel": str(channel), "to_address": delivery.to, "recipient_key": recipient_key,
            "audience": str(delivery.audience), "customer_id": delivery.customer_id, "waybill_no": waybill_no,
            "template": delivery.template, "language": str(language), "urgent": delivery.urgent,
            "quiet_hours": _quiet_json(delivery.quiet_hours), "subject": subject, "body_text": text,
            "body_html": html, "status": status, "reason": reason, "decided_at": now,
            "next_attempt_at": decision.not_before if decision.status is Status.DEFERRED else wall,
            "last_error": error,
        })
        if not created:
            return False
        count(metrics.NOTIFICATIONS.labels(str(channel), "none", status))
        if status in repo.ACTIVE:
            await repo.wake_dispatcher(conn)
        elif status == Status.FAILED:
            await publish(conn, NotificationFailed(
                notification_id=str(nid), event_id=str(event_id), channel=str(channel),
                to=mask_contact(delivery.to) or "", template=delivery.template, error=error or "", attempts=0,
                waybill_no=waybill_no), source=SOURCE)
        return True

    # --- delivering -----------------------------------------------------------------------

    async def dispatch_one(self, now: datetime | None = None, waybill_no: str | None = None) -> bool:
        """Send one due notification; False when nothing is due. `now` defaults to the wall clock."""
        wall = datetime.now(UTC)
        at = now or wall
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.claim_due(conn, at, waybill_no)
            if row is None:
                return False
            channel = Channel(row["channel"])
            message = OutgoingMessage(notification_id=str(row["id"]), idempotency_key=row["idempotency_key"],
                                      channel=channel, to=row["to_address"], subject=row["subject"],
                                      text=row["body_text"], html=row["body_html"])
            sender = self.sms if channel is Channel.SMS else self.email
            result = await sender.send(message)
            attempt = row["attempts"] + 1
            await repo.record_attempts(conn, row["id"], attempt,
                                       [(c.provider, c.outcome, c.error, c.duration_ms) for c in result.calls])
            for call in result.calls:
                metrics.ATTEMPTS.labels(str(channel), call.provider, call.outcome).inc()
            await self._settle(conn, row, result, attempt, at)
        return True

    async def _settle(self, conn: asyncpg.Connection, row: asyncpg.Record, result: SendResult, attempt: int,
                      at: datetime) -> None:
        channel = row["channel"]
        masked = mask_contact(row["to_address"]) or ""
        if result.ok:
            sent_at = datetime.now(UTC)
            await repo.mark_sent(conn, row["id"], attempts=attempt, provider=result.provider,
                                 provider_message_id=result.provider_message_id, sent_at=sent_at)
            await publish(conn, NotificationSent(
                notification_id=str(row["id"]), event_id=str(row["event_id"]), channel=channel, to=masked,
                template=row["template"], provider=result.provider, sent_at=sent_at,
                waybill_no=row["waybill_no"]), source=SOURCE)
            metrics.NOTIFICATIONS.labels(channel, result.provider, "sent").inc()
            metrics.QUEUE_TO_SENT.labels(channel).observe((sent_at - row["created_at"]).total_seconds())
            return
        kind = result.kind or FailureKind.TRANSIENT
        error = result.error or "unknown error"
        if should_retry(kind, attempt, self.s.max_attempts):
            next_at = at + timedelta(seconds=next_retry_delay(attempt, self.s.retry_base_seconds,
                                                              self.s.retry_cap_seconds, self.rng))
            status, reason = "queued", None
            if channel == "sms" and not row["urgent"]:
                # A retry of a non-urgent SMS must not ring at night either.
                until = quiet_until(next_at, QuietHours.from_dict(row["quiet_hours"]))
                if until is not None:
                    next_at, status, reason = until, "deferred", "quiet_hours"
            await repo.mark_retry(conn, row["id"], attempts=attempt, provider=result.provider, error=error,
                                  status=status, reason=reason, next_attempt_at=next_at)
            log.info("send failed; will retry", extra={"notification_id": str(row["id"]), "attempt": attempt,
                                                       "error": error, "retry_at": next_at.isoformat()})
            return
        await repo.mark_failed(conn, row["id"], attempts=attempt, provider=result.provider, error=error)
        await publish(conn, NotificationFailed(
            notification_id=str(row["id"]), event_id=str(row["event_id"]), channel=channel, to=masked,
            template=row["template"], error=error, attempts=attempt, waybill_no=row["waybill_no"]), source=SOURCE)
        metrics.NOTIFICATIONS.labels(channel, result.provider, "failed").inc()
        log.warning("notification failed", extra={"notification_id": str(row["id"]), "kind": str(kind),
                                                  "attempts": attempt, "error": error})

    async def dispatch_pass(self, now: datetime | None = None, waybill_no: str | None = None,
                            limit: int = 1000) -> int:
        """Send everything due at `now` once (the admin route); returns how many were processed."""
        processed = 0
        while processed < limit and await self.dispatch_one(now, waybill_no):
            processed += 1
        return processed

    # --- the key customers' daily arrival report ------------------------------------------

    def digest_day(self, now: datetime) -> date:
        return now.astimezone(ZoneInfo(self.s.digest_tz)).date()

    async def scheduled_digest(self, now: datetime) -> None:
        """Periodic job: after `digest_hour` (local), make sure today's reports are queued."""
        local = now.astimezone(ZoneInfo(self.s.digest_tz))
        if local.hour >= self.s.digest_hour:
            await self.run_digest(local.date())
        await repo.purge_parked(self.pool, self.s.parked_retention_hours)

    async def run_digest(self, day: date) -> DigestOutcome:
        outcome = DigestOutcome()
        zone = ZoneInfo(self.s.digest_tz)
        start_of_day = datetime.combine(day, time(0), tzinfo=zone)
        for customer in await repo.key_customers(self.pool):
            outcome.key_customers += 1
            if not customer["email"] or not customer["email_enabled"]:
                outcome.skipped_no_email += 1
                continue
            async with self.pool.acquire() as conn, conn.transaction():
                rows = await repo.shipments_of_customer(conn, customer["customer_id"], start_of_day)
                digest = build_arrival_digest(customer["customer_id"], _digest_shipments(rows), day,
                                              self.s.digest_tz)
                delivery = Delivery(
                    audience=Audience.SHIPPER,  # a key customer is the shipper of its shipments
                    customer_id=customer["customer_id"], channel=Channel.EMAIL, to=customer["email"],
                    language=Language(customer["language"]), template=DIGEST_TEMPLATE, urgent=False,
                    name=customer["name"])
                created = await self._queue(
                    conn, delivery=delivery, context=digest.template_data(customer["name"]),
                    event_id=uuid.uuid5(_DIGEST_NAMESPACE, digest.key), event_type=DIGEST_EVENT_TYPE,
                    waybill_no=None, now=datetime.now(UTC), key=digest.key, throttle=False)
            if created:
                outcome.queued += 1
                metrics.DIGESTS.labels("queued").inc()
            else:
                outcome.already_done += 1
                metrics.DIGESTS.labels("already_done").inc()
        return outcome


def _digest_shipments(rows: Iterable[asyncpg.Record]) -> list[DigestShipment]:
    return [
        DigestShipment(
            waybill_no=r["waybill_no"], destination=r["destination"],
            consignee_name=(r["consignee"] or {}).get("name"), pieces=r["pieces"], promised_at=r["promised_at"],
            eta=r["eta"], arrived_at=r["arrived_at"], delivered_at=r["delivered_at"])
        for r in rows
    ]
