"""HTTP routes of customer files (客户档案) and return visits (回访): the desk's alone."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from services.complaints.context import DeskPrincipal, RuntimeDep
from services.complaints.customers import service
from services.complaints.customers.models import CustomerRead, CustomerUpdate, VisitCreate, VisitRead, VisitsDueRead
from shared.errors import ErrorResponse
from shared.types import Identifier, MonthText

E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse, "description": "no such customer file"}}
CustomerId = Annotated[Identifier, Path(description="customer id")]

customers = APIRouter(prefix="/v1/customers", tags=["customers"])


@customers.get("/visits-due", response_model=VisitsDueRead, responses={422: {"model": ErrorResponse}})
async def visits_due(rt: RuntimeDep, _: DeskPrincipal,
                     month: Annotated[MonthText, Query(description="YYYY-MM (desk timezone)")]) -> dict[str, Any]:
    """Key and new customers without a return visit (回访) in the month; key customers first."""
    parsed, due = await service.due_visits(rt, month=month)
    return {"month": str(parsed), "items": [{"customer_id": d.customer_id, "name": d.name,
                                             "reasons": [r.value for r in d.reasons],
                                             "last_visit_at": d.last_visit_at} for d in due]}


@customers.get("/{customer_id}", response_model=CustomerRead, responses=E404)
async def get_customer(customer_id: CustomerId, rt: RuntimeDep, _: DeskPrincipal) -> dict[str, Any]:
    """The customer file: contacts, shipments seen, complaints, CSAT, key flag, last return visit."""
    return await service.customer_file(rt, customer_id=customer_id)


@customers.put("/{customer_id}", response_model=CustomerRead, responses={422: {"model": ErrorResponse}})
async def put_customer(customer_id: CustomerId, body: CustomerUpdate, rt: RuntimeDep,
                       principal: DeskPrincipal) -> dict[str, Any]:
    """Create or update the file; only the fields given change (`key_customer` sets the key flag)."""
    fields = body.model_dump(exclude_unset=True)
    if body.contacts is not None:
        fields["contacts"] = [c.model_dump() for c in body.contacts]  # every key, also the unset ones
    return await service.update_customer(rt, principal=principal, customer_id=customer_id, fields=fields)


@customers.post("/{customer_id}/visits", status_code=201, response_model=VisitRead,
             responses={**E404, 422: {"model": ErrorResponse}})
async def record_visit(customer_id: CustomerId, body: VisitCreate, rt: RuntimeDep,
                       principal: DeskPrincipal) -> dict[str, Any]:
    return await service.record_visit(rt, principal=principal, customer_id=customer_id, visit=body.model_dump())
