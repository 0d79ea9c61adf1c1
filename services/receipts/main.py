"""Composition root of the receipts service."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from services.receipts import service
from services.receipts.api import router
from services.receipts.handlers import group_handlers_for, handlers_for
from services.receipts.settings import ReceiptsSettings
from shared import events
from shared.context import Runtime
from shared.runtime import PeriodicSpec, ServiceSpec, run
from shared.scheduler import Job
from shared.settings import Settings


def _chase_interval(settings: Settings) -> float:
    assert isinstance(settings, ReceiptsSettings)
    return settings.chase_interval_seconds


def _chase_job(rt: Runtime) -> Job:
    rules = service.rules_of(rt)

    async def job(now: datetime) -> None:
        await service.chase(rt.pool, rules, now)

    return job


SPEC = ServiceSpec(
    name="receipts",
    title="LCS receipts",
    description=(
        "Proof-of-delivery receipts (回单): deadlines, inspection, custody chain, envelopes, "
        "overdue chasing and the month-end report. Learns of shipments from tracking's events."
    ),
    package_dir=Path(__file__).parent,
    routers=[router],
    settings_cls=ReceiptsSettings,
    consumes=events.types_of(events.ShipmentRegistered, events.ShipmentArrived, events.ShipmentDelivered),
    handlers=handlers_for,
    group_handlers=group_handlers_for,
    periodic=[PeriodicSpec(name="chase", interval_seconds=_chase_interval, job=_chase_job)],
    body_limits={"/v1/envelopes": 512_000},
)


def main() -> None:
    run(SPEC)
