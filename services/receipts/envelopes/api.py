"""Routes of envelopes: mail receipts, read an envelope, record its arrival."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from services.receipts.context import RuntimeDep, StationOrDesk
from services.receipts.envelopes import service
from services.receipts.envelopes.models import EnvelopeArrivalCreate, EnvelopeCreate, EnvelopeRead
from services.receipts.receipts.api import R404, R409

router = APIRouter(prefix="/v1", tags=["envelopes"])


@router.post("/envelopes", status_code=201, response_model=EnvelopeRead, responses={**R409})
async def mail_envelope(body: EnvelopeCreate, rt: RuntimeDep, principal: StationOrDesk) -> dict[str, Any]:
    """Mail qualified receipts of one station to their origin station; all of them or none."""
    envelope_id = await service.mail_envelope(
        rt, principal=principal, from_station=body.from_station, to_station=body.to_station,
        waybills=body.waybills, sent_at=body.sent_at, courier_no=body.courier_no)
    return await service.get_envelope(rt, principal=principal, envelope_id=envelope_id)


@router.get("/envelopes/{envelope_id}", response_model=EnvelopeRead, responses=R404)
async def get_envelope(envelope_id: uuid.UUID, rt: RuntimeDep, principal: StationOrDesk) -> dict[str, Any]:
    return await service.get_envelope(rt, principal=principal, envelope_id=envelope_id)


@router.post("/envelopes/{envelope_id}/arrival", response_model=EnvelopeRead, responses={**R404, **R409})
async def envelope_arrival(envelope_id: uuid.UUID, body: EnvelopeArrivalCreate, rt: RuntimeDep,
                           principal: StationOrDesk) -> dict[str, Any]:
    """Reconcile the envelope's list: present → `received`; missing → `lost` and chased at once."""
    await service.receive_envelope(rt, principal=principal, envelope_id=envelope_id, received_at=body.received_at,
                                   waybills_present=body.waybills_present)
    return await service.get_envelope(rt, principal=principal, envelope_id=envelope_id)
