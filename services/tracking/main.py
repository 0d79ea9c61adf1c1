"""Composition root of the tracking service: its `ServiceSpec`, the context builder, `main`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from services.tracking.appointments.api import router as appointments_router
from services.tracking.context import TrackingContext, TrackingRuntime
from services.tracking.daily.api import router as daily_router
from services.tracking.desk.api import router as desk_router
from services.tracking.feeds.api import OSMAND_DIRECT, osmand_fast, positions_fast
from services.tracking.feeds.api import router as feeds_router
from services.tracking.feeds.group_commit import OsmandGroupCommit, run_osmand_group_commit
from services.tracking.feeds.partitions import run_maintenance
from services.tracking.feeds.trailing import run_trailing_evaluations
from services.tracking.public.api import public_shipment_fast, public_shipment_lookups_fast
from services.tracking.public.api import router as public_router
from services.tracking.registry import service as registry
from services.tracking.registry.api import router as registry_router
from services.tracking.settings import TrackingSettings
from services.tracking.shipments import service as shipments
from services.tracking.shipments.api import import_router
from services.tracking.shipments.api import router as shipments_router
from services.tracking.storage.api import router as storage_router
from shared.context import Runtime
from shared.runtime import PeriodicSpec, ServiceSpec, run
from shared.scheduler import Job


async def build_context(rt: Runtime[TrackingSettings, Any]) -> TrackingContext:
    """The context every part of the service reads (`TrackingContext`), from the settings."""
    s = rt.settings
    return TrackingContext(eta=s.eta_config(), limits=s.position_limits(),
                           osmand=OsmandGroupCommit(rt, s.osmand_group_max))


def _stale_job(rt: TrackingRuntime) -> Job:
    async def job(now: datetime) -> None:
        await registry.stale_scan(rt, now=now)
        # with the same cadence: what a rolling upgrade's old release wrote past `on_board`
        await shipments.reconcile_on_board(rt)
    return job


async def _backfill_phone_keys(rt: TrackingRuntime) -> None:
    await shipments.backfill_phone_keys(rt)


def _partitions_job(rt: TrackingRuntime) -> Job:
    async def job(now: datetime) -> None:
        await run_maintenance(rt, now=now)
    return job


def _stale_interval(settings: TrackingSettings) -> float:
    return settings.stale_check_interval_seconds


def _partitions_interval(settings: TrackingSettings) -> float:
    return settings.positions_sweep_interval_seconds


SPEC = ServiceSpec(
    name="tracking",
    title="LCS tracking",
    description="Waybills, vehicles, GPS feeds (batch, OsmAnd, Traccar), ETA and delay detection, scans, "
                "and the desk's deliveries, notes, exceptions, reports, delivery appointments and bulk import.",
    package_dir=Path(__file__).parent,
    # The device feed first: routes are matched in order, and /osmand is the request every
    # phone sends every few seconds (each route tried before it costs it microseconds).
    routers=[feeds_router, registry_router, shipments_router, desk_router, daily_router, import_router,
             appointments_router, storage_router, public_router],
    # ... and its usual form is answered in front of FastAPI altogether (feeds.api.osmand_fast).
    fast_routes={"/osmand": osmand_fast},
    # ... and before that, by the HTTP protocol itself, without an ASGI cycle (shared.fastpath.http)
    direct_routes={"/osmand": OSMAND_DIRECT},
    # ... and the batch API's, behind the guard (feeds.api.positions_fast), as is web's public
    # page's look-ups (public.api.public_shipment_fast, public_shipment_lookups_fast).
    guarded_fast_routes={"/v1/positions": positions_fast, "/v1/public/shipments": public_shipment_fast,
                         "/v1/public/shipments/lookups": public_shipment_lookups_fast},
    settings_cls=TrackingSettings,
    tags={"public": "The public's view of a waybill, already redacted, for web's tracking page (role `public`)."},
    context=build_context,
    periodic=[
        PeriodicSpec(name="stale-vehicles",
                     interval_seconds=_stale_interval,
                     job=_stale_job),
        # the partitions of positions: created ahead, expired ones dropped (feeds.partitions)
        PeriodicSpec(name="positions-partitions",
                     interval_seconds=_partitions_interval,
                     job=_partitions_job),
    ],
    workers=[run_osmand_group_commit, _backfill_phone_keys, run_trailing_evaluations],
    body_limits={"/v1/positions": 8_000_000, "/v1/shipments/import": 20_000_000,
                 "/v1/exceptions": 6_000_000},
)


def main() -> None:
    run(SPEC)
