"""Composition root of the tracking service."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from services.tracking import service
from services.tracking.api import feeds_router, osmand_fast, positions_fast, router
from services.tracking.desk_api import router as desk_router
from services.tracking.feeds import run_osmand_group_commit
from services.tracking.settings import TrackingSettings, tracking_settings
from shared.context import Runtime
from shared.runtime import PeriodicSpec, ServiceSpec, run
from shared.scheduler import Job


def _stale_job(rt: Runtime) -> Job:
    async def job(now: datetime) -> None:
        await service.stale_scan(rt, now)
    return job


def _retention_job(rt: Runtime) -> Job:
    async def job(now: datetime) -> None:
        await service.sweep_positions(rt, now)
    return job


SPEC = ServiceSpec(
    name="tracking",
    title="LCS tracking",
    description="Waybills, vehicles, GPS feeds (batch, OsmAnd, Traccar), ETA and delay detection, scans, "
                "and the desk's deliveries, notes, exceptions, reports and bulk import.",
    package_dir=Path(__file__).parent,
    # The device feed first: routes are matched in order, and /osmand is the request every
    # phone sends every few seconds (each route tried before it costs it microseconds).
    routers=[feeds_router, router, desk_router],
    # ... and its usual form is answered in front of FastAPI altogether (api.osmand_fast).
    fast_routes={"/osmand": osmand_fast},
    # ... and the batch API's, behind the guard (api.positions_fast).
    guarded_fast_routes={"/v1/positions": positions_fast},
    settings_cls=TrackingSettings,
    periodic=[
        PeriodicSpec(name="stale-vehicles",
                     interval_seconds=lambda s: tracking_settings(s).stale_check_interval_seconds,
                     job=lambda rt: _stale_job(rt)),
        PeriodicSpec(name="positions-retention",
                     interval_seconds=lambda s: tracking_settings(s).positions_sweep_interval_seconds,
                     job=lambda rt: _retention_job(rt)),
    ],
    workers=[run_osmand_group_commit],
    body_limits={"/v1/positions": 8_000_000, "/v1/shipments/import": 20_000_000,
                 "/v1/exceptions": 6_000_000},
)


def main() -> None:
    run(SPEC)
