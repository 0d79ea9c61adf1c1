"""Response model of the admin digest route."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class DigestRun(BaseModel):
    day: date
    key_customers: int
    queued: int
    already_done: int
    skipped_no_email: int
