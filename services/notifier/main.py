"""Composition root of the notifier: the spec `shared.runtime` runs, and the context it builds."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from pathlib import Path

import httpx

from services.notifier.context import NotifierContext, NotifierRuntime
from services.notifier.delivery import api as delivery_api
from services.notifier.delivery.dispatcher import dispatch_worker
from services.notifier.delivery.senders import EmailSender, SmsSender, WecomSender
from services.notifier.digest import api as digest_api
from services.notifier.digest import service as digest
from services.notifier.domain.links import tracking_links
from services.notifier.domain.recipients import NotifierConfig
from services.notifier.domain.vocabulary import Language
from services.notifier.notifications import api as notifications_api
from services.notifier.notifications import handlers as notification_handlers
from services.notifier.recipients import api as recipients_api
from services.notifier.settings import NotifierSettings
from services.notifier.shipments import handlers as shipment_handlers
from services.notifier.storage import api as storage_api
from services.notifier.storage import service as storage
from services.notifier.templates import api as templates_api
from services.notifier.templates.renderer import TemplateRenderer
from shared import events
from shared.bus import Handler
from shared.runtime import PeriodicSpec, ServiceSpec, run

log = logging.getLogger("lcs.notifier")


async def build_context(rt: NotifierRuntime) -> NotifierContext:
    s = rt.settings
    http = httpx.AsyncClient(timeout=s.sms_timeout, limits=httpx.Limits(max_connections=50))
    policy = NotifierConfig(
        supervisor_email=s.supervisor_email,
        default_language=Language(s.default_language),
        supervisor_language=Language(s.default_language),
        throttle_per_hour=s.throttle_per_hour,
        max_attempts=s.max_attempts,
        retry_base_s=s.retry_base_seconds,
        retry_cap_s=s.retry_cap_seconds,
    )
    links = tracking_links(s.public_base_url, s.link_keys(), s.link_lifetime())
    if links is None:
        log.warning("notices carry no public tracking link: %s", "LCS_PUBLIC_BASE_URL is not set"
                    if not s.public_base_url else "LCS_PUBLIC_LINK_KEYS is not set")
    return NotifierContext(policy=policy, renderer=TemplateRenderer(), email=EmailSender(s), sms=SmsSender(s, http),
                           wecom=WecomSender(s, http), http=http, rng=random.SystemRandom(), links=links)


def handlers(rt: NotifierRuntime) -> Mapping[str, Handler]:
    return {**shipment_handlers.handlers(rt), **notification_handlers.handlers(rt)}


def _digest_interval(settings: NotifierSettings) -> float:
    return settings.digest_interval_seconds


def _storage_report_interval(settings: NotifierSettings) -> float:
    return settings.storage_report_interval_seconds


SPEC = ServiceSpec(
    name="notifier",
    title="lcs notifier",
    description="SMS, e-mail and WeChat Work group fan-out: routing, templates, preferences, quiet hours, "
                "throttling, retries with provider fallback, the key customers' daily arrival and storage "
                "reports, and the delivery audit.",
    package_dir=Path(__file__).parent,
    routers=[recipients_api.router, notifications_api.router, templates_api.router, digest_api.router,
             storage_api.router, delivery_api.router],
    settings_cls=NotifierSettings,
    context=build_context,
    consumes=events.types_of(
        events.ShipmentRegistered,
        events.ShipmentDeparted,
        events.ShipmentDelayed,
        events.ShipmentRecovered,
        events.ShipmentArrived,
        events.ShipmentOutForDelivery,
        events.ShipmentDelivered,
        events.ExceptionReported,
        events.DeliveryAppointed,
        events.ReceiptOverdue,
        events.ReceiptLost,
        events.ComplaintOpened,
        events.ComplaintResponded,
        events.ComplaintResolved,
        events.ComplaintSlaBreached,
    ),
    handlers=handlers,
    group_handlers=shipment_handlers.group_handlers,
    periodic=[PeriodicSpec(name="digest", interval_seconds=_digest_interval, job=digest.job),
              PeriodicSpec(name="storage_report", interval_seconds=_storage_report_interval, job=storage.job)],
    workers=[dispatch_worker],
    body_limits={"/v1/templates": 64_000, "/v1/recipients": 8_000},
)


def main() -> None:
    run(SPEC)
