"""Request and response models of the call log and the callbacks the desk owes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.complaints.tickets.models import StrictIn
from shared.types import Identifier, Instant, Name, OptionalText, Phone, WaybillNo


class CallCreate(StrictIn):
    customer_id: Identifier | None = None
    caller_name: Name = Field(description="who called (or was called)")
    phone: Phone
    direction: Literal["inbound", "outbound"] = "inbound"
    waybill_no: WaybillNo | None = None
    topic: Literal["tracking", "delay", "damage", "loss", "quote", "billing", "attitude", "complaint",
                   "receipt", "other"]
    outcome: Literal["answered", "callback", "complaint_opened", "escalated", "no_answer"]
    note: OptionalText | None = None
    callback_due: Instant | None = Field(default=None, description="required when outcome is callback")
    complaint_id: uuid.UUID | None = None
    called_at: Instant | None = Field(default=None, description="defaults to now")
    callback_of: uuid.UUID | None = Field(
        default=None, description="the callback (a call with outcome callback) this call returns; an outcome "
                                  "other than no_answer settles it")


class CallRead(BaseModel):
    id: uuid.UUID
    customer_id: str | None
    caller_name: str
    phone: str | None
    direction: str
    waybill_no: str | None
    topic: str
    outcome: str
    note: str | None
    callback_due: datetime | None
    complaint_id: uuid.UUID | None
    called_at: datetime
    recorded_by: str
    callback_of: uuid.UUID | None = None
    settles_callback: bool = False
    callback_done_at: datetime | None = Field(default=None, description="when staff marked the callback done")
    callback_done_by: str | None = None
    callback_done_note: str | None = None


class CallbackDoneIn(StrictIn):
    note: OptionalText | None = Field(default=None, description="how the matter was settled")


class CallbackDue(CallRead):
    """A callback still owed."""

    overdue: bool = Field(description="callback_due has passed")
    attempts: int = Field(description="returning calls so far that did not settle it (no answer)")
