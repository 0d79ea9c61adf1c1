"""What the receipts service's routes, handlers and jobs share besides the pool and the bus:
the configured rules, built once from the settings at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends

from services.receipts.domain.deadlines import DeadlineConfig
from services.receipts.domain.reports import PenaltyConfig
from services.receipts.settings import ReceiptsSettings
from shared.auth import DESK, Principal, require_roles
from shared.context import Runtime, runtime

SOURCE = "/lcs/receipts"  # the CloudEvents source of what the receipts service publishes


@dataclass(frozen=True)
class ReceiptsContext:
    """The numbers the use cases need, from `ReceiptsSettings` (the handbook's are the defaults)."""

    deadlines: DeadlineConfig
    penalties: PenaltyConfig
    # How far ahead of the server's clock a time stated by a station may be.
    max_future_skew: timedelta
    envelope_max_waybills: int
    chase_batch_size: int

    @classmethod
    def from_settings(cls, s: ReceiptsSettings) -> ReceiptsContext:
        return cls(
            deadlines=s.deadlines(),
            penalties=s.penalties(),
            max_future_skew=timedelta(seconds=s.receipt_max_future_skew_seconds),
            envelope_max_waybills=s.envelope_max_waybills,
            chase_batch_size=s.chase_batch_size,
        )


ReceiptsRuntime = Runtime[ReceiptsSettings, ReceiptsContext]
RuntimeDep = Annotated[ReceiptsRuntime, Depends(runtime)]

# Stations (a branch, for what touches its station) and the desk.
StationOrDesk = Annotated[Principal, Depends(require_roles(*DESK, "branch"))]
DeskPrincipal = Annotated[Principal, Depends(require_roles(*DESK))]
# Reads a key-account customer may make too: the receipts of its own shipments (scoped in the use cases).
ReceiptReader = Annotated[Principal, Depends(require_roles(*DESK, "branch", "customer"))]
AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
