"""The receipts service's own settings (`LCS_RECEIPT_*`, `LCS_CHASE_*`), on top of the shared ones.

The handbook's numbers are the defaults; every one of them is configuration, not code.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, model_validator

from services.receipts.domain.deadlines import DeadlineConfig
from services.receipts.domain.reports import PenaltyConfig
from shared.clock import BUSINESS_TZ_NAME
from shared.settings import Settings


class ReceiptsSettings(Settings):
    # Return deadlines, in days after the (final-batch) arrival date at the destination.
    receipt_direct_days: int = Field(default=10, ge=0, le=365)
    receipt_one_transfer_days: int = Field(default=15, ge=0, le=365)
    receipt_two_plus_transfer_days: int = Field(default=20, ge=0, le=365)
    receipt_final_limit_days: int = Field(default=25, ge=0, le=365)
    # The business day (the clock counts local dates here).
    receipt_business_tz: str = BUSINESS_TZ_NAME

    # Month-end penalties (CNY) and the share of a loss a lost receipt costs.
    receipt_late_penalty_cny: Decimal = Field(default=Decimal("50"), ge=0)
    receipt_abnormal_late_penalty_cny: Decimal = Field(default=Decimal("100"), ge=0)
    receipt_lost_share: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)

    # The chase scan: how often the single runner looks (it is idempotent, so running it
    # more often than daily only makes chasing prompter), and its batch size.
    chase_interval_seconds: float = Field(default=3600.0, gt=0)
    chase_batch_size: int = Field(default=500, ge=1, le=10_000)

    # A time stated by a station (hand-off, arrival of an envelope...) may be at most this
    # far ahead of the server's clock; further is a typo or a wrong clock, refused with 422.
    receipt_max_future_skew_seconds: int = Field(default=3600, ge=0)
    # The most waybills one envelope may list.
    envelope_max_waybills: int = Field(default=500, ge=1, le=5000)

    @model_validator(mode="after")
    def _check_rules(self) -> ReceiptsSettings:
        # Build the domain configs once here so that bad numbers stop the process at start.
        self.deadlines()
        self.penalties()
        return self

    def deadlines(self) -> DeadlineConfig:
        return DeadlineConfig(
            direct_days=self.receipt_direct_days,
            one_transfer_days=self.receipt_one_transfer_days,
            two_plus_transfer_days=self.receipt_two_plus_transfer_days,
            final_limit_days=self.receipt_final_limit_days,
            business_tz=self.receipt_business_tz,
        )

    def penalties(self) -> PenaltyConfig:
        return PenaltyConfig(
            late_cny=self.receipt_late_penalty_cny,
            abnormal_late_cny=self.receipt_abnormal_late_penalty_cny,
            lost_share=self.receipt_lost_share,
        )
