"""The routing table: which event reaches whom, on which channels, with which template."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from services.notifier.domain.vocabulary import Audience, Channel

EventData = Mapping[str, Any]


@dataclass(frozen=True)
class Route:
    """One line of the routing table.

    ``when`` is an optional predicate on the event data; a route whose predicate is false
    sends nothing (e.g. an ``arrived`` scan of a first batch of a split shipment).
    """

    audience: Audience
    channels: tuple[Channel, ...]
    template: str
    urgent: bool = False
    when: Callable[[EventData], bool] | None = None

    def applies_to(self, data: EventData) -> bool:
        return self.when is None or bool(self.when(data))


def _is_final_arrival(data: EventData) -> bool:
    # Split shipments arrive in several batches; the customer hears about it once, when
    # every piece is in (the contract sets ``final`` then).
    return data.get("final") is True


def _departed_on_time(data: EventData) -> bool:
    # "Departure with ETA": the ETA is told when tracking has one (the truck has reported);
    # without one the departure itself is still news. An ETA that already misses the promised
    # time is told by the delay notice instead, with the reason and an apology, not as a
    # cheerful departure.
    eta, promised = _as_instant(data.get("eta")), _as_instant(data.get("promised_at"))
    return eta is None or promised is None or eta <= promised


def _as_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo is not None else None
    return None


def _is_out_for_delivery_scan(data: EventData) -> bool:
    # The contract publishes scans, not an out-for-delivery event; the scan's type is
    # ``type`` in the scan API, and may be called ``scan_type`` in the event payload.
    return data.get("scan_type", data.get("type")) == "out_for_delivery"


_BOTH = (Channel.SMS, Channel.EMAIL)
_EMAIL = (Channel.EMAIL,)
# A key account's group (its preferences name a group robot) hears about delays and exceptions
# of its shipments, besides SMS and e-mail.
_BOTH_AND_GROUP = (Channel.SMS, Channel.EMAIL, Channel.WECOM)

# The one table. Order inside a tuple matters only for de-duplication: when two routes
# reach the same address on the same channel, the first wins (the shipper before the
# consignee).
ROUTES: Mapping[str, tuple[Route, ...]] = MappingProxyType(
    {
        "tracking.shipment.departed.v1": (Route(Audience.SHIPPER, _BOTH, "departed", when=_departed_on_time),),
        "tracking.shipment.delayed.v1": (
            Route(Audience.SHIPPER, _BOTH_AND_GROUP, "delayed", urgent=True),
            Route(Audience.CONSIGNEE, _BOTH, "delayed", urgent=True),
        ),
        "tracking.shipment.recovered.v1": (
            Route(Audience.SHIPPER, _BOTH, "recovered"),
            Route(Audience.CONSIGNEE, _BOTH, "recovered"),
        ),
        "tracking.shipment.arrived.v1": (
            Route(Audience.SHIPPER, _BOTH, "arrived", when=_is_final_arrival),
            Route(Audience.CONSIGNEE, _BOTH, "arrived", when=_is_final_arrival),
        ),
        # Not in the contract yet; routed so that tracking can publish it without a
        # notifier change. Tracking publishes either this or the scan, not both.
        "tracking.shipment.out_for_delivery.v1": (Route(Audience.CONSIGNEE, _BOTH, "out_for_delivery"),),
        "tracking.shipment.scanned.v1": (
            Route(Audience.CONSIGNEE, _BOTH, "out_for_delivery", when=_is_out_for_delivery_scan),
        ),
        "tracking.shipment.delivered.v1": (Route(Audience.SHIPPER, _BOTH, "delivered"),),
        "tracking.exception.reported.v1": (Route(Audience.SHIPPER, _BOTH_AND_GROUP, "exception_reported"),),
        # A delivery booked with the consignee (与客户预约送货) is confirmed to them; keyed on the
        # appointment, so a booking published twice is confirmed once and a new booking again.
        "tracking.delivery.appointed.v1": (Route(Audience.CONSIGNEE, _BOTH, "delivery_appointed"),),
        "receipts.receipt.overdue.v1": (Route(Audience.STATION_CONTACT, _BOTH, "receipt_overdue"),),
        # A receipt missing from its envelope is chased at once with the sending station.
        "receipts.receipt.lost.v1": (Route(Audience.STATION_CONTACT, _BOTH, "receipt_lost", urgent=True),),
        "complaints.complaint.opened.v1": (Route(Audience.COMPLAINANT, _BOTH, "complaint_opened"),),
        "complaints.complaint.responded.v1": (Route(Audience.COMPLAINANT, _BOTH, "complaint_responded"),),
        "complaints.complaint.resolved.v1": (Route(Audience.COMPLAINANT, _BOTH, "complaint_resolved"),),
        "complaints.complaint.sla_breached.v1": (
            Route(Audience.SUPERVISOR, _EMAIL, "complaint_sla_breached", urgent=True),
        ),
    }
)

# Contract events that deliberately send nothing, listed so that a test can prove every
# contract event type was considered. ``registered`` only feeds the contact store.
NOT_NOTIFIED: frozenset[str] = frozenset(
    {
        "tracking.shipment.registered.v1",  # stored as shipment contacts
        "tracking.vehicle.stale.v1",  # an internal ops signal, not a customer message
        "receipts.receipt.abnormal.v1",  # handled at the station, no customer message
        "notifier.notification.sent.v1",  # our own output
        "notifier.notification.failed.v1",  # our own output
    }
)

# The templates the scheduled reports render; they are not driven by an event.
DIGEST_TEMPLATE = "daily_arrivals"  # e-mail, and the account's group when it has one
STORAGE_REPORT_TEMPLATE = "storage_report"  # e-mail


def routes_for(event_type: str, data: EventData) -> tuple[Route, ...]:
    """The routes that apply to one event (unknown types and false predicates give none)."""
    return tuple(route for route in ROUTES.get(event_type, ()) if route.applies_to(data))


def route_templates() -> dict[str, frozenset[Channel]]:
    """Every template the table uses and the channels it is used on (templates must exist)."""
    used: dict[str, set[Channel]] = {}
    for routes in ROUTES.values():
        for route in routes:
            used.setdefault(route.template, set()).update(route.channels)
    used.setdefault(DIGEST_TEMPLATE, set()).update((Channel.EMAIL, Channel.WECOM))
    used.setdefault(STORAGE_REPORT_TEMPLATE, set()).add(Channel.EMAIL)
    return {name: frozenset(channels) for name, channels in used.items()}
