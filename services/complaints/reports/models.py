"""Response model of the monthly complaints report."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
