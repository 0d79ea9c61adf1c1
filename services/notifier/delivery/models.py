"""Response model of the admin dispatch route."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class DispatchRun(BaseModel):
    now: datetime
    processed: int
