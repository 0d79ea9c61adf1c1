"""Response model of the admin storage report route."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class StorageReportRun(BaseModel):
    day: date
    accounts: int = Field(description="key accounts that want the report (and the one asked for, if any)")
    queued: int
    already_done: int
    skipped_no_email: int
