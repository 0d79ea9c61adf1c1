"""HTTP routes of the SLA (admin): the policy set and the SLA monitor run by hand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.complaints.context import AdminPrincipal, DeskPrincipal, RuntimeDep
from services.complaints.domain.hours import BusinessHours
from services.complaints.sla import service
from services.complaints.sla.models import SlaPoliciesIn, SlaPoliciesRead, SlaScanRead
from shared.clock import utcnow
from shared.errors import ErrorResponse
from shared.types import Instant

admin = APIRouter(prefix="/v1/admin", tags=["admin"])


def _hours(hours: BusinessHours | None) -> dict[str, Any] | None:
    if hours is None:
        return None
    return {"tz": hours.tz, "start": hours.start.isoformat("minutes"), "end": hours.end.isoformat("minutes"),
            "weekdays": sorted(hours.weekdays), "holidays": sorted(d.isoformat() for d in hours.holidays)}


@admin.get("/sla-policies", response_model=SlaPoliciesRead)
async def get_sla_policies(rt: RuntimeDep, _: DeskPrincipal) -> dict[str, Any]:
    """The SLA targets (minutes; business minutes within the business hours shown)."""
    return {"policies": await service.get_policies(rt), "business_hours": _hours(rt.context.hours)}


@admin.put("/sla-policies", response_model=SlaPoliciesRead, responses={422: {"model": ErrorResponse}})
async def put_sla_policies(body: SlaPoliciesIn, rt: RuntimeDep, principal: AdminPrincipal) -> dict[str, Any]:
    """Replace the whole policy set (admin). Tickets already open keep their targets."""
    policies = [p.model_dump(mode="json") for p in body.policies]
    rows = await service.replace_policies(rt, principal=principal, policies=policies)
    return {"policies": rows, "business_hours": _hours(rt.context.hours)}


@admin.post("/sla-scan", response_model=SlaScanRead)
async def sla_scan(rt: RuntimeDep, _: AdminPrincipal,
                   now: Annotated[Instant | None, Query(
                       description="the clock to scan at (RFC 3339 with offset); defaults to the current time")] = None,
                   ) -> dict[str, Any]:
    """Run the SLA monitor once, at a chosen time: each breach recorded and announced once."""
    at = now or utcnow()
    checked, found = await service.scan_sla(rt, now=at)
    return {"now": at, "checked": checked, "breaches": [vars(b) for b in found]}
