"""What every part of the tracking service shares at run time: its typed runtime and context,
and the dependencies its routes declare (the runtime, and who may call).

The context is built once at start-up (`main.build_context`) from the settings: the rules'
numbers and the /osmand group committer. Routes take `rt: RuntimeDep` and a principal alias;
use cases read `rt.settings` and `rt.context`, typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends

from services.tracking.domain.config import EtaConfig
from services.tracking.domain.fixes import PositionLimits
from services.tracking.settings import TrackingSettings
from shared.auth import DESK, Principal, Role, require_roles
from shared.context import Runtime, runtime

if TYPE_CHECKING:
    from services.tracking.feeds.group_commit import OsmandGroupCommit


# The CloudEvents `source` of every event tracking publishes.
SOURCE = "/lcs/tracking"


@dataclass
class TrackingContext:
    eta: EtaConfig  # every number of the ETA, delay and stale rules
    limits: PositionLimits  # a reported position's sanity limits
    osmand: OsmandGroupCommit  # the /osmand group committer (its loops run as the service's worker)


TrackingRuntime = Runtime[TrackingSettings, TrackingContext]
RuntimeDep = Annotated[TrackingRuntime, Depends(runtime)]

# Who may push positions (the feeds' routes; the batch fast route checks it by hand).
FEED_ROLES: frozenset[Role] = frozenset(("admin", "carrier"))

AnyRole = Annotated[Principal, Depends(require_roles("admin", "supervisor", "staff", "branch", "carrier"))]
DeskOrBranch = Annotated[Principal, Depends(require_roles(*DESK, "branch"))]
# Reads a key-account customer may make too, of its own shipments only (the use cases scope them).
ShipmentReader = Annotated[Principal, Depends(require_roles(*DESK, "branch", "customer"))]
DeskOrCarrier = Annotated[Principal, Depends(require_roles(*DESK, "carrier"))]
AdminOnly = Annotated[Principal, Depends(require_roles("admin"))]
AdminOrCarrier = Annotated[Principal, Depends(require_roles(*sorted(FEED_ROLES)))]
