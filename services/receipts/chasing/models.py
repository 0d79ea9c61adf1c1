"""Response models of the chase route."""

from __future__ import annotations

import uuid

from pydantic import BaseModel

from services.receipts.domain.overdue import OverdueStage
from shared.types import Instant


class ChaseEmission(BaseModel):
    waybill_no: str
    stage: OverdueStage
    due_at: Instant
    days_overdue: int
    event_id: uuid.UUID
    destination: str


class ChaseResult(BaseModel):
    as_of: Instant
    scanned: int
    emitted: list[ChaseEmission]
