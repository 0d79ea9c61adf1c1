"""The complaints service's own settings (`LCS_*` environment variables)."""

from __future__ import annotations

from datetime import date, time

from pydantic import Field, field_validator, model_validator

from services.complaints.domain.care import CareRules
from services.complaints.domain.hours import BusinessHours
from shared.clock import BUSINESS_TZ_NAME
from shared.settings import Settings


class ComplaintsSettings(Settings):
    """Business hours, SLA monitor, customer-care rules and the desk's timezone.

    The SLA targets themselves (the 5-minute first response, the 8-hour quote) are not
    settings: they are the policy table (`domain/sla.py` defaults, replaced by admins
    through `PUT /v1/admin/sla-policies`).

    `LCS_BUSINESS_HOURS_ENABLED=false` runs every SLA clock round the clock (24x7);
    otherwise the clock only runs inside `[start, end)` local time on `weekdays`
    (Monday = 0) that are not `holidays` (JSON list of dates).
    """

    desk_tz: str = BUSINESS_TZ_NAME
    business_hours_enabled: bool = True
    business_hours_start: time = time(8, 0)
    business_hours_end: time = time(18, 0)
    business_weekdays: list[int] = Field(default_factory=lambda: list(range(7)))
    business_holidays: list[date] = Field(default_factory=list)

    sla_monitor_interval_seconds: float = Field(default=60.0, gt=0)
    sla_monitor_batch: int = Field(default=500, ge=1, le=10_000)

    # Key customers: explicit flag, or at least this many waybills in the previous month (0 = flag only).
    care_key_min_monthly_shipments: int = Field(default=30, ge=0)
    care_new_customer_days: int = Field(default=90, ge=1, le=3650)
    proactive_care_enabled: bool = True

    @field_validator("business_weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if not value or any(d not in range(7) for d in value):
            raise ValueError("business_weekdays must be a non-empty list of 0..6 (Monday = 0)")
        return sorted(set(value))

    @model_validator(mode="after")
    def _check_hours(self) -> ComplaintsSettings:
        self.business_hours()  # fail at start on an unknown zone or an overnight window
        return self

    def business_hours(self) -> BusinessHours | None:
        if not self.business_hours_enabled:
            return None
        return BusinessHours(tz=self.desk_tz, start=self.business_hours_start, end=self.business_hours_end,
                             weekdays=frozenset(self.business_weekdays),
                             holidays=frozenset(self.business_holidays))

    def care_rules(self) -> CareRules:
        threshold = self.care_key_min_monthly_shipments or None
        return CareRules(key_min_monthly_shipments=threshold, new_customer_days=self.care_new_customer_days)
