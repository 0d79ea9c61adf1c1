"""`GET /v1/public/shipments`: the public's view of a waybill, for web's tracking page only.

The proof travels in headers, not the query string, so that access logs never hold the digits or
a link: `X-Phone-Last4` (4 digits) or `X-Tracking-Link` (a signed link's token, shared.links)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query

from services.tracking.context import RuntimeDep
from services.tracking.public import service
from services.tracking.public.models import PublicShipmentRead
from shared.auth import Principal, require_roles
from shared.errors import ErrorResponse
from shared.links import TOKEN_MAX_LENGTH

router = APIRouter(tags=["public"])

# web's service role for the public page: this route and nothing else.
PublicOnly = Annotated[Principal, Depends(require_roles("public"))]
E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse,
                                               "description": "unknown waybill, wrong digits, bad or expired link "
                                                              "(one answer for all)"}}


@router.get("/v1/public/shipments", response_model=PublicShipmentRead, responses=E404)
async def public_shipment(
    rt: RuntimeDep,
    principal: PublicOnly,
    waybill_no: Annotated[str | None, Query(min_length=1, max_length=64,
                                            description="as the public typed it (case, spaces and full-width "
                                                        "forms are normalised)")] = None,
    x_phone_last4: Annotated[str | None, Header(pattern=r"^[0-9]{4}$",
                                                description="last 4 digits of the shipper's or the consignee's "
                                                            "phone: the detailed view")] = None,
    x_tracking_link: Annotated[str | None, Header(min_length=1, max_length=TOKEN_MAX_LENGTH,
                                                  description="a signed link's token instead of waybill_no: "
                                                              "the detailed view")] = None,
) -> PublicShipmentRead:
    """A waybill as the public may see it: stage and city for the number alone; with the right
    digits or a valid link, the city-level timeline, the ETA's day and half-day, the delay reason
    and the masked signer. Never coordinates, phones, ID numbers or the vehicle. Role `public`."""
    return await service.public_shipment(rt, principal=principal, waybill_no=waybill_no,
                                         phone_last4=x_phone_last4, link=x_tracking_link)
