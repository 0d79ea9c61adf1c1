"""Composition root of the complaints service."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from services.complaints import service
from services.complaints.api import ROUTERS
from services.complaints.handlers import make_group_handlers, make_handlers
from services.complaints.settings import ComplaintsSettings
from shared import events
from shared.context import Runtime
from shared.runtime import PeriodicSpec, ServiceSpec, run
from shared.scheduler import Job
from shared.settings import Settings


def _interval(settings: Settings) -> float:
    assert isinstance(settings, ComplaintsSettings)
    return settings.sla_monitor_interval_seconds


def _sla_monitor(rt: Runtime) -> Job:
    settings = rt.settings
    assert isinstance(settings, ComplaintsSettings)

    async def job(now: datetime) -> None:
        await service.scan_sla(rt.pool, settings, now)

    return job


SPEC = ServiceSpec(
    name="complaints",
    title="lcs complaints",
    description="Complaint tickets with SLAs and escalation, suggested replies from live tracking, "
                "call log, customer files, return visits, satisfaction and the monthly report.",
    package_dir=Path(__file__).parent,
    routers=list(ROUTERS),
    settings_cls=ComplaintsSettings,
    consumes=events.types_of(
        events.ShipmentRegistered,
        events.ShipmentDeparted,
        events.ShipmentDelayed,
        events.ShipmentRecovered,
        events.ShipmentArrived,
        events.ShipmentOutForDelivery,
        events.ShipmentDelivered,
        events.ExceptionReported,
    ),
    handlers=make_handlers,
    group_handlers=make_group_handlers,
    periodic=[PeriodicSpec(name="sla-monitor", interval_seconds=_interval, job=_sla_monitor)],
    body_limits={"/v1/": 64_000},
)


def main() -> None:
    run(SPEC)
