"""From the event catalogue (`shared.events`) to the notifier's rules and templates: the one
place that knows the real payload field names of every event the notifier consumes.

Per routed event type, an `EventBinding` says:
* `context(event)` — the template variables, named as the templates name them
  (e.g. `delayed.eta` → `revised_eta`, `delivered.delivered_at` → `signed_at`);
* `routing_data(event)` — what `domain.recipients.resolve_recipients` reads (e.g. the complainant's
  nested contact flattened to `caller_name` / `phone` / `email` / `customer_id`);
* `needs_shipment` — shipment events address the shipper/consignee known from
  `tracking.shipment.registered.v1`, so they wait (parked) until that registration is known.

The recipient's name (`recipient_name`) is added per delivery by the service.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from services.notifier.domain.idempotency import appointment_dedupe_id
from services.notifier.domain.routing import ROUTES
from shared.events import (
    ComplaintOpened,
    ComplaintResolved,
    ComplaintResponded,
    ComplaintSlaBreached,
    DeliveryAppointed,
    Event,
    ExceptionReported,
    ReceiptLost,
    ReceiptOverdue,
    ShipmentArrived,
    ShipmentDelayed,
    ShipmentDelivered,
    ShipmentDeparted,
    ShipmentOutForDelivery,
    ShipmentRecovered,
)

Context = dict[str, Any]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class EventBinding:
    event_cls: type[Event]
    context: Callable[[Any], Context]
    needs_shipment: bool = False
    routing: Callable[[Any], Context] | None = None
    # What the notifications are keyed on instead of the event id (None: the event id).
    dedupe_id: Callable[[Any], str] | None = None

    def routing_data(self, event: Event) -> Context:
        base = event.model_dump(mode="json")
        return {**base, **self.routing(event)} if self.routing is not None else base


def _departed(e: ShipmentDeparted) -> Context:
    return {"waybill_no": e.waybill_no, "departed_at": _iso(e.at), "eta": _iso(e.eta),
            "origin": e.station, "destination": e.destination}


def _delayed(e: ShipmentDelayed) -> Context:
    return {"waybill_no": e.waybill_no, "reason": e.reason, "delay_minutes": e.delay_minutes,
            "revised_eta": _iso(e.eta), "location": None}


def _recovered(e: ShipmentRecovered) -> Context:
    return {"waybill_no": e.waybill_no, "eta": _iso(e.eta)}


def _arrived(e: ShipmentArrived) -> Context:
    # The route fires on the final batch only, so the customer hears the total.
    return {"waybill_no": e.waybill_no, "destination": e.station, "arrived_at": _iso(e.arrived_at),
            "pieces": e.pieces_total, "final": e.final}


def _out_for_delivery(e: ShipmentOutForDelivery) -> Context:
    return {"waybill_no": e.waybill_no, "station": e.station, "at": _iso(e.at)}


def _delivered(e: ShipmentDelivered) -> Context:
    return {"waybill_no": e.waybill_no, "signer_name": e.signer_name, "signed_at": _iso(e.delivered_at),
            "pieces": e.pieces}


def _exception(e: ExceptionReported) -> Context:
    return {"waybill_no": e.waybill_no, "kind": e.kind, "pieces": e.pieces, "station": e.station,
            "description": e.description}


def _receipt_overdue(e: ReceiptOverdue) -> Context:
    return {"waybill_no": e.waybill_no, "station": e.destination, "due_at": _iso(e.due_at),
            "days_overdue": e.days_overdue}


def _receipt_lost(e: ReceiptLost) -> Context:
    return {"waybill_no": e.waybill_no, "courier_no": e.courier_no, "from_station": e.from_station,
            "to_station": e.to_station, "due_at": _iso(e.due_at) if e.due_at else None}


def _appointed(e: DeliveryAppointed) -> Context:
    return {"waybill_no": e.waybill_no, "appointment_id": e.appointment_id, "station": e.station,
            "window_start": _iso(e.window_start), "window_end": _iso(e.window_end), "note": e.note}


def _complainant(e: ComplaintOpened | ComplaintResponded | ComplaintResolved) -> Context:
    c = e.complainant
    return {"caller_name": c.caller_name, "phone": c.phone, "email": c.email,
            "customer_id": c.customer_id, "language": c.language}


def _complaint_opened(e: ComplaintOpened) -> Context:
    return {"complaint_id": e.complaint_id, "waybill_no": e.waybill_no, "category": e.category,
            "first_response_due": _iso(e.first_response_due)}


def _complaint_responded(e: ComplaintResponded) -> Context:
    return {"complaint_id": e.complaint_id, "waybill_no": e.waybill_no, "message": e.message}


def _complaint_resolved(e: ComplaintResolved) -> Context:
    return {"complaint_id": e.complaint_id, "waybill_no": e.waybill_no, "resolution": e.resolution}


def _sla_breached(e: ComplaintSlaBreached) -> Context:
    return {"complaint_id": e.complaint_id, "customer_id": e.customer_id, "waybill_no": e.waybill_no,
            "category": e.category, "sla": e.kind, "due_at": _iso(e.due_at)}


BINDINGS: Mapping[str, EventBinding] = MappingProxyType({
    ShipmentDeparted.TYPE: EventBinding(ShipmentDeparted, _departed, needs_shipment=True),
    ShipmentDelayed.TYPE: EventBinding(ShipmentDelayed, _delayed, needs_shipment=True),
    ShipmentRecovered.TYPE: EventBinding(ShipmentRecovered, _recovered, needs_shipment=True),
    ShipmentArrived.TYPE: EventBinding(ShipmentArrived, _arrived, needs_shipment=True),
    ShipmentOutForDelivery.TYPE: EventBinding(ShipmentOutForDelivery, _out_for_delivery, needs_shipment=True),
    ShipmentDelivered.TYPE: EventBinding(ShipmentDelivered, _delivered, needs_shipment=True),
    ExceptionReported.TYPE: EventBinding(ExceptionReported, _exception, needs_shipment=True),
    # Confirmed once per appointment (a booking published twice is one booking), to the consignee
    # the shipment's registration named.
    DeliveryAppointed.TYPE: EventBinding(DeliveryAppointed, _appointed, needs_shipment=True,
                                         dedupe_id=lambda e: appointment_dedupe_id(e.appointment_id)),
    ReceiptOverdue.TYPE: EventBinding(ReceiptOverdue, _receipt_overdue),
    ReceiptLost.TYPE: EventBinding(ReceiptLost, _receipt_lost),
    ComplaintOpened.TYPE: EventBinding(ComplaintOpened, _complaint_opened, routing=_complainant),
    ComplaintResponded.TYPE: EventBinding(ComplaintResponded, _complaint_responded, routing=_complainant),
    ComplaintResolved.TYPE: EventBinding(ComplaintResolved, _complaint_resolved, routing=_complainant),
    ComplaintSlaBreached.TYPE: EventBinding(ComplaintSlaBreached, _sla_breached),
})


def unbound_routes() -> set[str]:
    """Routed event types the catalogue has no model for (consumed only once it has one)."""
    return set(ROUTES) - set(BINDINGS)


def subject_waybill(event: Event) -> str | None:
    value = getattr(event, "waybill_no", None)
    return str(value) if value is not None else None
