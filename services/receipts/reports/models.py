"""Response models of the month-end report."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from shared.types import Instant


class RegionRow(BaseModel):
    region: str
    required: int
    returned_on_time: int
    returned_late: int
    outstanding: int
    abnormal: int
    abnormal_caught_late: int
    lost: int
    late_penalty_cny: Decimal
    abnormal_penalty_cny: Decimal
    lost_penalty_cny: Decimal
    penalty_cny: Decimal


class MonthlyReport(BaseModel):
    month: str
    as_of: Instant
    currency: Literal["CNY"] = "CNY"
    regions: list[RegionRow]
    totals: RegionRow
