"""The key customers' daily arrival report: once per customer per local day, whoever runs it
(the periodic job after `LCS_DIGEST_HOUR`, or an admin on demand)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg

from services.notifier import metrics
from services.notifier.context import NotifierRuntime
from services.notifier.domain.digest import DigestShipment, build_arrival_digest, digest_key
from services.notifier.domain.recipients import Delivery
from services.notifier.domain.routing import DIGEST_TEMPLATE
from services.notifier.domain.vocabulary import Audience, Channel, Language
from services.notifier.notifications.service import queue
from services.notifier.recipients.repository import key_customers, preferences_of
from services.notifier.shipments.repository import purge_parked, shipments_of_customer
from shared.clock import utcnow
from shared.context import uow
from shared.scheduler import Job

DIGEST_EVENT_TYPE = "notifier.digest.daily_arrivals"
_DIGEST_NAMESPACE = uuid.UUID("6f1c0b8e-4a53-4c1e-9d0e-2b7f5f0c1d11")


@dataclass
class DigestOutcome:
    key_customers: int = 0
    queued: int = 0
    already_done: int = 0
    skipped_no_email: int = 0


def digest_day(rt: NotifierRuntime, now: datetime) -> date:
    """The local day (`LCS_DIGEST_TZ`) a report run at `now` is about."""
    return now.astimezone(ZoneInfo(rt.settings.digest_tz)).date()


async def run_digest(rt: NotifierRuntime, *, day: date) -> DigestOutcome:
    """Queue `day`'s report of every key customer (each once, ever): by e-mail when its e-mail is
    enabled, and to its WeChat Work group when it has a robot (`queued` / `already_done` count
    messages; `skipped_no_email` the customers without an enabled e-mail)."""
    outcome = DigestOutcome()
    zone = ZoneInfo(rt.settings.digest_tz)
    start_of_day = datetime.combine(day, time(0), tzinfo=zone)
    for customer in await key_customers(rt.pool):
        outcome.key_customers += 1
        email = customer["email"] if customer["email_enabled"] else None
        group = customer["wecom_key"] if customer["wecom_enabled"] else None
        if not email:
            outcome.skipped_no_email += 1
        if not email and not group:
            continue
        async with uow(rt) as conn:
            rows = await shipments_of_customer(conn, customer["customer_id"], start_of_day)
            digest = build_arrival_digest(customer["customer_id"], _digest_shipments(rows), day,
                                          rt.settings.digest_tz)
            created: list[bool] = []
            for channel, to in ((Channel.EMAIL, email), (Channel.WECOM, group)):
                if not to:
                    continue
                delivery = Delivery(
                    audience=Audience.SHIPPER,  # a key customer is the shipper of its shipments
                    customer_id=customer["customer_id"], channel=channel, to=to,
                    language=Language(customer["language"]), template=DIGEST_TEMPLATE, urgent=False,
                    name=customer["name"], quiet_hours=preferences_of(customer).quiet_hours,
                    fallback_to=customer["email"] if channel is Channel.WECOM else None)
                created.append(await queue(
                    conn, rt=rt, delivery=delivery, context=digest.template_data(customer["name"]),
                    event_id=uuid.uuid5(_DIGEST_NAMESPACE, digest.key), event_type=DIGEST_EVENT_TYPE,
                    waybill_no=None, now=utcnow(), key=digest_key(customer["customer_id"], day, channel),
                    throttle=False, fallback_key=digest.key))
        for made in created:
            outcome.queued += made
            outcome.already_done += not made
            metrics.DIGESTS.labels("queued" if made else "already_done").inc()
    return outcome


def job(rt: NotifierRuntime) -> Job:
    """The periodic job: after `digest_hour` (local), make sure today's reports are queued; and
    forget parked events older than `LCS_PARKED_RETENTION_HOURS`."""

    async def run(now: datetime) -> None:
        local = now.astimezone(ZoneInfo(rt.settings.digest_tz))
        if local.hour >= rt.settings.digest_hour:
            await run_digest(rt, day=local.date())
        await purge_parked(rt.pool, rt.settings.parked_retention_hours)

    return run


def _digest_shipments(rows: Iterable[asyncpg.Record]) -> list[DigestShipment]:
    return [
        DigestShipment(
            waybill_no=r["waybill_no"], destination=r["destination"],
            consignee_name=(r["consignee"] or {}).get("name"), pieces=r["pieces"], promised_at=r["promised_at"],
            eta=r["eta"], arrived_at=r["arrived_at"], delivered_at=r["delivered_at"])
        for r in rows
    ]
