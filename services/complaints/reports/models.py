"""Response models of the reports: the month's complaints, the day's work per desk member."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class SlaOutcomeRead(BaseModel):
    met: int
    breached: int
    met_share: float | None = Field(description="0..1 of the tickets whose SLA is decided; null if none")


class ComplaintsReportRead(BaseModel):
    """Tickets opened in the month (desk timezone). Minutes are wall-clock minutes from opening."""

    month: str
    total: int
    by_category: dict[str, int]
    by_channel: dict[str, int]
    first_response: SlaOutcomeRead
    resolution: SlaOutcomeRead
    median_first_response_minutes: float | None
    median_resolution_minutes: float | None
    csat_average: float | None
    csat_count: int
    csat_distribution: dict[str, int]


class WorkCounts(BaseModel):
    calls_logged: int = Field(description="calls recorded (in or out)")
    receipts_chased: int = Field(description="of those, calls about a receipt (topic receipt)")
    callbacks_returned: int = Field(description="calls that settled a callback the desk owed")
    complaints_opened: int
    complaints_claimed: int = Field(description="tickets taken (or handed to them)")
    complaints_answered: int = Field(description="tickets answered, each counted once")
    first_answers: int = Field(description="tickets whose first answer was theirs")
    first_answers_within_sla: int = Field(description="of those, answered by the first-response deadline")
    complaints_resolved: int
    resolved_within_sla: int = Field(description="of those, never past their resolution deadline")


class PersonWork(WorkCounts):
    person: str = Field(description="the desk member's user name (the token's subject)")


class DailyWorkRead(BaseModel):
    """当日工作报表: one calendar day (desk timezone), one row per person who did anything."""

    model_config = ConfigDict(populate_by_name=True)

    date: date
    from_: datetime = Field(alias="from")
    to: datetime
    people: list[PersonWork]
    totals: WorkCounts
