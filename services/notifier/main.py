"""Composition root of the notifier."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import httpx

from services.notifier.api import router
from services.notifier.dispatcher import Dispatcher
from services.notifier.handlers import make_group_handlers, make_handlers
from services.notifier.service import NotifierService
from services.notifier.settings import NotifierSettings
from shared import events
from shared.context import Runtime
from shared.runtime import PeriodicSpec, ServiceSpec, run
from shared.settings import Settings


def _settings(s: Settings) -> NotifierSettings:
    return cast(NotifierSettings, s)


def _service(rt: Runtime) -> NotifierService:
    return cast(NotifierService, rt.extras["notifier"])


async def on_start(rt: Runtime) -> None:
    s = _settings(rt.settings)
    http = httpx.AsyncClient(timeout=s.sms_timeout, limits=httpx.Limits(max_connections=50))
    rt.extras["notifier"] = NotifierService(s, rt.pool, http)


async def dispatch_worker(rt: Runtime) -> None:
    s = _settings(rt.settings)
    await Dispatcher(_service(rt), dsn=s.database_url, concurrency=s.dispatch_concurrency,
                     poll_seconds=s.dispatch_poll_seconds).run()


SPEC = ServiceSpec(
    name="notifier",
    title="lcs notifier",
    description="SMS and e-mail fan-out: routing, templates, preferences, quiet hours, throttling, "
                "retries with provider fallback, the daily key-customer digest, and the delivery audit.",
    package_dir=Path(__file__).parent,
    routers=[router],
    settings_cls=NotifierSettings,
    consumes=events.types_of(
        events.ShipmentRegistered,
        events.ShipmentDeparted,
        events.ShipmentDelayed,
        events.ShipmentRecovered,
        events.ShipmentArrived,
        events.ShipmentOutForDelivery,
        events.ShipmentDelivered,
        events.ExceptionReported,
        events.ReceiptOverdue,
        events.ReceiptLost,
        events.ComplaintOpened,
        events.ComplaintResponded,
        events.ComplaintResolved,
        events.ComplaintSlaBreached,
    ),
    handlers=lambda rt: make_handlers(_service(rt)),
    group_handlers=lambda rt: make_group_handlers(_service(rt)),
    periodic=[PeriodicSpec(name="digest", interval_seconds=lambda s: _settings(s).digest_interval_seconds,
                           job=lambda rt: _service(rt).scheduled_digest)],
    workers=[dispatch_worker],
    on_start=on_start,
    body_limits={"/v1/templates": 64_000, "/v1/recipients": 8_000},
)


def main() -> None:
    run(SPEC)
