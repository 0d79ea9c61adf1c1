"""Composition root of the complaints service: its routers, the tracking events it consumes,
the SLA monitor, and the typed context built at start-up."""

from __future__ import annotations

from datetime import datetime
from operator import attrgetter
from pathlib import Path

from services.complaints.calls.api import calls
from services.complaints.context import ComplaintsRuntime, build_context
from services.complaints.customers.api import customers
from services.complaints.domain.shipments import TRACKING_EVENTS
from services.complaints.reports.api import reports
from services.complaints.settings import ComplaintsSettings
from services.complaints.shipments.handlers import make_group_handlers, make_handlers
from services.complaints.sla.api import admin
from services.complaints.sla.service import scan_sla
from services.complaints.tickets.api import complaints
from shared import events
from shared.runtime import PeriodicSpec, ServiceSpec, run
from shared.scheduler import Job

ROUTERS = (complaints, admin, calls, customers, reports)


def _sla_monitor(rt: ComplaintsRuntime) -> Job:
    async def job(now: datetime) -> None:
        await scan_sla(rt, now=now)

    return job


SPEC = ServiceSpec(
    name="complaints",
    title="lcs complaints",
    description="Complaint tickets with SLAs and escalation, suggested replies from live tracking, "
                "call log, customer files, return visits, satisfaction and the monthly report.",
    package_dir=Path(__file__).parent,
    routers=list(ROUTERS),
    settings_cls=ComplaintsSettings,
    consumes=events.types_of(*TRACKING_EVENTS),
    handlers=make_handlers,
    group_handlers=make_group_handlers,
    # The host passes the service's own settings (`settings_cls`); the spec's type names the base class.
    periodic=[PeriodicSpec(name="sla-monitor", interval_seconds=attrgetter("sla_monitor_interval_seconds"),
                           job=_sla_monitor)],
    body_limits={"/v1/": 64_000},
    context=build_context,
)


def main() -> None:
    run(SPEC)
