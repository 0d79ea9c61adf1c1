"""Composition root of the receipts service: the spec `shared.runtime` runs."""

from __future__ import annotations

from pathlib import Path

from services.receipts.chasing import api as chasing_api
from services.receipts.chasing import service as chasing
from services.receipts.context import ReceiptsContext, ReceiptsRuntime
from services.receipts.envelopes import api as envelopes_api
from services.receipts.receipts import api as receipts_api
from services.receipts.receipts import handlers
from services.receipts.reports import api as reports_api
from services.receipts.settings import ReceiptsSettings
from shared import events
from shared.runtime import PeriodicSpec, ServiceSpec, run


async def build_context(rt: ReceiptsRuntime) -> ReceiptsContext:
    return ReceiptsContext.from_settings(rt.settings)


def _chase_interval(settings: ReceiptsSettings) -> float:
    return settings.chase_interval_seconds


SPEC = ServiceSpec(
    name="receipts",
    title="LCS receipts",
    description=(
        "Proof-of-delivery receipts (回单): deadlines, inspection, custody chain, envelopes, "
        "overdue chasing and the month-end report. Learns of shipments from tracking's events."
    ),
    package_dir=Path(__file__).parent,
    routers=[receipts_api.router, envelopes_api.router, reports_api.router, chasing_api.router],
    settings_cls=ReceiptsSettings,
    context=build_context,
    consumes=events.types_of(events.ShipmentRegistered, events.ShipmentArrived, events.ShipmentDelivered),
    handlers=handlers.handlers,
    group_handlers=handlers.group_handlers,
    periodic=[PeriodicSpec(name="chase", interval_seconds=_chase_interval, job=chasing.job)],
    body_limits={"/v1/envelopes": 512_000},
)


def main() -> None:
    run(SPEC)
