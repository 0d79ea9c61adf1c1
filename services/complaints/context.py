"""What the complaints service's routes, event handlers and jobs share: the typed runtime.

`ComplaintsContext` holds the rules built once from the settings at start-up (the
business hours the SLA clocks run in, the customer-care thresholds). Routes take
`rt: RuntimeDep` and one of the principal aliases below; use cases take the runtime
first (`async def verb(rt, *, ...)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.complaints.domain.care import CareRules
from services.complaints.domain.hours import BusinessHours
from services.complaints.settings import ComplaintsSettings
from shared.auth import DESK, Principal, require_roles
from shared.context import Runtime, runtime


@dataclass(frozen=True)
class ComplaintsContext:
    """The desk's configured rules: when the SLA clock runs (`None`: round the clock), who is
    a key or new customer."""

    hours: BusinessHours | None
    care: CareRules

    @classmethod
    def of(cls, settings: ComplaintsSettings) -> ComplaintsContext:
        return cls(hours=settings.business_hours(), care=settings.care_rules())


ComplaintsRuntime = Runtime[ComplaintsSettings, ComplaintsContext]
RuntimeDep = Annotated[ComplaintsRuntime, Depends(runtime)]


async def build_context(rt: ComplaintsRuntime) -> ComplaintsContext:
    """`ServiceSpec.context`: the context of a starting service."""
    return ComplaintsContext.of(rt.settings)


# The customer-service desk: tickets' steps, calls, customer files, reports.
DeskPrincipal = Annotated[Principal, Depends(require_roles(*DESK))]
# The desk, or a partner branch system (which files and reads complaints about its own waybills).
DeskOrBranchPrincipal = Annotated[Principal, Depends(require_roles(*DESK, "branch"))]
# ... or a key-account customer, which files and follows its own complaints (scoped in the use cases).
TicketReader = Annotated[Principal, Depends(require_roles(*DESK, "branch", "customer"))]
# The steps a customer takes on its own ticket (its reply, its rating), or the desk recording them.
DeskOrCustomerPrincipal = Annotated[Principal, Depends(require_roles(*DESK, "customer"))]
# Changing SLA policies and running the SLA monitor by hand.
AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
