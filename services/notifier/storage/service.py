"""The key accounts' storage report (货物暂存报表) by e-mail: once per account per local day, whoever
runs it — the periodic job once the account's own hour (`storage_report.hour`, in `LCS_DIGEST_TZ`)
has come, or an admin on demand (`POST /v1/admin/storage-report`).

The source is the notifier's own projection of tracking's events (`shipments`: the registration's
pieces, weight and volume; the arrival batches at the destination; the delivery; the current
appointment), as for the daily arrival report: no call to another service, so a report is
never held up by tracking being slow or down, and the notifier's tables alone explain what
it sent."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from services.notifier import metrics
from services.notifier.context import NotifierRuntime
from services.notifier.delivery.senders import Attachment
from services.notifier.domain.recipients import Delivery
from services.notifier.domain.routing import STORAGE_REPORT_TEMPLATE
from services.notifier.domain.storage import StoredShipment, build_storage_report, storage_report_due
from services.notifier.domain.vocabulary import Audience, Channel, Language
from services.notifier.notifications.service import queue
from services.notifier.recipients.repository import get_recipient, storage_report_accounts
from services.notifier.shipments.repository import in_storage_of_customer
from services.notifier.storage import spreadsheet
from shared.clock import utcnow
from shared.context import uow
from shared.errors import Invalid, NotFound
from shared.scheduler import Job

STORAGE_REPORT_EVENT_TYPE = "notifier.report.storage"
_STORAGE_NAMESPACE = uuid.UUID("0b6f3c1e-7d2a-4e59-8c41-3a9e5d7f2b60")


@dataclass
class StorageReportOutcome:
    accounts: int = 0
    queued: int = 0
    already_done: int = 0
    skipped_no_email: int = 0


async def run_storage_reports(rt: NotifierRuntime, *, day: date, customer_id: str | None = None,
                              now: datetime | None = None) -> StorageReportOutcome:
    """Queue `day`'s storage report of every key account that wants one (or of `customer_id`
    only, whether or not it asked for the daily one: the admin's on-demand report), each once.

    `now` (the job): only the accounts whose hour has come, for the local day it is then."""
    if customer_id is not None:
        row = await get_recipient(rt.pool, customer_id)
        if row is None:
            raise NotFound.of("recipient", customer_id)
        if not row["key_customer"]:
            raise Invalid("not_key_customer", f"{customer_id} is not a key customer", {"customer_id": customer_id})
        accounts = [row]
    else:
        accounts = await storage_report_accounts(rt.pool)
    outcome = StorageReportOutcome()
    for account in accounts:
        the_day = day
        if now is not None:
            due = storage_report_due(now, hour=account["storage_report_hour"], tz=rt.settings.digest_tz)
            if due is None:
                continue
            the_day = due
        outcome.accounts += 1
        if not account["email"] or not account["email_enabled"]:
            outcome.skipped_no_email += 1
            continue
        created = await _queue_report(rt, account=account, day=the_day)
        outcome.queued += created
        outcome.already_done += not created
        metrics.STORAGE_REPORTS.labels("queued" if created else "already_done").inc()
    return outcome


async def _queue_report(rt: NotifierRuntime, *, account: asyncpg.Record, day: date) -> bool:
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(rt.settings.digest_tz))
    async with uow(rt) as conn:
        rows = await in_storage_of_customer(conn, account["customer_id"], end_of_day - timedelta(microseconds=1))
        report = build_storage_report(account["customer_id"], _stored(rows), day, rt.settings.digest_tz)
        language = Language(account["language"])
        delivery = Delivery(
            audience=Audience.SHIPPER,  # a key account is the shipper of its shipments
            customer_id=account["customer_id"], channel=Channel.EMAIL, to=account["email"],
            language=language, template=STORAGE_REPORT_TEMPLATE, urgent=False, name=account["name"])
        data = report.template_data(account["name"])
        # The same rows as a spreadsheet, attached (the e-mail's table is for reading at a glance).
        workbook = Attachment(spreadsheet.file_name(data["date"], language), spreadsheet.CONTENT_TYPE,
                              spreadsheet.report_xlsx(data, language))
        return await queue(conn, rt=rt, delivery=delivery, context=data,
                           event_id=uuid.uuid5(_STORAGE_NAMESPACE, report.key),
                           event_type=STORAGE_REPORT_EVENT_TYPE, waybill_no=None, now=utcnow(), key=report.key,
                           throttle=False, attachment=workbook)


def job(rt: NotifierRuntime) -> Job:
    """The periodic job: every account whose hour has come gets today's report (once)."""

    async def run(now: datetime) -> None:
        await run_storage_reports(rt, day=now.astimezone(ZoneInfo(rt.settings.digest_tz)).date(), now=now)

    return run


def _stored(rows: Iterable[asyncpg.Record]) -> list[StoredShipment]:
    return [
        StoredShipment(
            waybill_no=r["waybill_no"], station=r["destination"], pieces_total=r["pieces"],
            pieces_arrived=r["pieces_arrived"], first_arrived_at=r["first_arrived_at"],
            delivered_at=r["delivered_at"], weight_kg=r["weight_kg"], volume_m3=r["volume_m3"],
            consignee_name=(r["consignee"] or {}).get("name"), appointment=r["appointment"])
        for r in rows
    ]
