"""The event catalogue: the CloudEvents 1.0 envelope and one pydantic model per type.

Routing key = CloudEvents `type` = `<service>.<entity>.<happening>.v<N>`. A type's
schema only ever grows by optional fields; a breaking change is a new `.v2` type
published side by side. Consumers ignore fields they do not know.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

SPECVERSION: Literal["1.0"] = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
DATA_CONTENT_TYPE = "application/json"
# A JSON media type, with or without parameters: what `datacontenttype` may say of a `data` that is JSON
# (the CloudEvents JSON format: `application/json`, `text/json` or any `+json` suffix).
JSON_MEDIA_TYPE = r"^\s*(?i:application/json|text/json|[a-z0-9.+-]+/[a-z0-9.+-]+\+json)\s*(;.*)?$"


class Envelope(BaseModel):
    """CloudEvents 1.0 attributes in structured JSON mode.

    lcs publishes every attribute below except an absent `subject` (never `"subject": null`) and
    `datacontenttype` `application/json`. What it accepts is what the spec allows: `time` may be
    missing (then it is the moment the event was read), `datacontenttype` may be any JSON media type
    with parameters (`application/json; charset=utf-8`), extension attributes pass through. The other
    forms the spec allows (binary mode, a non-UUID `id`, `data_base64`) are read by `shared.wire`."""

    model_config = ConfigDict(extra="allow")

    specversion: Literal["1.0"] = SPECVERSION
    id: uuid.UUID
    source: str = Field(min_length=1, max_length=200)
    type: str = Field(min_length=1, max_length=200)
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = Field(default=None, min_length=1, max_length=200)
    datacontenttype: str = Field(default=DATA_CONTENT_TYPE, pattern=JSON_MEDIA_TYPE, max_length=200)
    data: dict[str, Any]

    @model_serializer(mode="wrap")
    def _without_absent_subject(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`subject` is optional: absent, not null (the spec's attributes have no null value)."""
        out: dict[str, Any] = handler(self)
        if out.get("subject") is None:
            out.pop("subject", None)
        return out

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class Event(BaseModel):
    """Base of every event payload (`data`). `TYPE` is the versioned type name."""

    model_config = ConfigDict(extra="ignore")
    TYPE: ClassVar[str]

    def subject(self) -> str | None:
        """The CloudEvents subject: the entity the event is about (a ticket or notification
        before the shipment it concerns)."""
        for key in ("complaint_id", "notification_id", "waybill_no", "vehicle_id"):
            value = getattr(self, key, None)
            if value is not None:
                return str(value)
        return None


EVENT_TYPES: dict[str, type[Event]] = {}


def event_type(cls: type[Event]) -> type[Event]:
    EVENT_TYPES[cls.TYPE] = cls
    return cls


def make_envelope(event: Event, source: str, *, event_id: uuid.UUID | None = None,
                  time: datetime | None = None) -> Envelope:
    return Envelope(
        id=event_id or uuid.uuid4(),
        source=source,
        type=event.TYPE,
        time=time or datetime.now(UTC),
        subject=event.subject(),
        data=event.model_dump(mode="json"),
    )


def types_of(*classes: type[Event]) -> tuple[str, ...]:
    """The type names of event classes, e.g. for a service's `consumes` declaration."""
    return tuple(cls.TYPE for cls in classes)


class UnknownEventType(ValueError):
    pass


def parse_event(envelope: Envelope) -> Event:
    """The typed payload of an envelope; raises on unknown type or wrong schema."""
    cls = EVENT_TYPES.get(envelope.type)
    if cls is None:
        raise UnknownEventType(f"unknown event type {envelope.type!r}")
    return cls.model_validate(envelope.data)


# --- shared value shapes -------------------------------------------------------------


class Position(BaseModel):
    at: AwareDatetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None


class Contact(BaseModel):
    name: str | None = None
    phone: str | None = None
    email: str | None = None


class Shipper(Contact):
    customer_id: str | None = None


class Consignee(Contact):
    company: str | None = None


class StationRef(BaseModel):
    code: str
    name: str | None = None
    city: str | None = None
    region: str | None = None
    contact_phone: str | None = None
    contact_email: str | None = None


class Cargo(BaseModel):
    description: str
    pieces: int
    weight_kg: float | None = None
    volume_m3: float | None = None
    dangerous: bool = False
    fragile: bool = False
    keep_upright: bool = False
    moisture_sensitive: bool = False


class ReceiptRequirements(BaseModel):
    required: bool = False
    signature: bool = True
    stamp: bool = False
    id_number: bool = False
    copies: int = 1


# --- tracking -------------------------------------------------------------------------


@event_type
class ShipmentRegistered(Event):
    TYPE: ClassVar[str] = "tracking.shipment.registered.v1"
    waybill_no: str
    origin: str
    destination: str
    via: list[str] = []
    origin_station: StationRef | None = None
    destination_station: StationRef | None = None
    shipper: Shipper
    consignee: Consignee
    cargo: Cargo
    promised_at: AwareDatetime
    payment: str
    receipt: ReceiptRequirements
    registered_at: AwareDatetime


@event_type
class ShipmentDeparted(Event):
    TYPE: ClassVar[str] = "tracking.shipment.departed.v1"
    waybill_no: str
    station: str
    at: AwareDatetime
    vehicle_id: str | None = None
    eta: AwareDatetime | None = None
    promised_at: AwareDatetime | None = None
    destination: str | None = None


class DelayReason(StrEnum):
    """The codes `ShipmentDelayed.reason` carries: why a shipment is late, inferred from the
    vehicle's track (vehicle_stopped, no_signal, slow_progress) or stated by staff in a note.
    Tracking decides with them; complaints and the notifier put them into words. The field
    stays a plain string: a consumer reads a code it does not know (a later release may add
    one) as `other`, or as its own fallback."""

    TRAFFIC_JAM = "traffic_jam"
    BREAKDOWN = "breakdown"
    CUSTOMS_INSPECTION = "customs_inspection"
    WEATHER = "weather"
    FORCE_MAJEURE = "force_majeure"
    VEHICLE_STOPPED = "vehicle_stopped"
    NO_SIGNAL = "no_signal"
    SLOW_PROGRESS = "slow_progress"
    OTHER = "other"


@event_type
class ShipmentDelayed(Event):
    TYPE: ClassVar[str] = "tracking.shipment.delayed.v1"
    waybill_no: str
    eta: AwareDatetime
    promised_at: AwareDatetime
    delay_minutes: int
    reason: str
    last_position: Position | None = None
    vehicle_id: str | None = None
    destination: str | None = None
    detected_at: AwareDatetime | None = None


@event_type
class ShipmentRecovered(Event):
    TYPE: ClassVar[str] = "tracking.shipment.recovered.v1"
    waybill_no: str
    eta: AwareDatetime
    promised_at: AwareDatetime
    last_position: Position | None = None
    vehicle_id: str | None = None
    destination: str | None = None


@event_type
class ShipmentArrived(Event):
    TYPE: ClassVar[str] = "tracking.shipment.arrived.v1"
    waybill_no: str
    station: str
    arrived_at: AwareDatetime
    pieces: int
    pieces_arrived: int
    pieces_total: int
    final: bool


@event_type
class ShipmentOutForDelivery(Event):
    TYPE: ClassVar[str] = "tracking.shipment.out_for_delivery.v1"
    waybill_no: str
    station: str
    at: AwareDatetime


@event_type
class ShipmentDelivered(Event):
    TYPE: ClassVar[str] = "tracking.shipment.delivered.v1"
    waybill_no: str
    delivered_at: AwareDatetime
    signer_name: str
    delegated: bool = False
    company_stamp: bool = False
    pieces: int
    station: str | None = None


@event_type
class DeliveryAppointed(Event):
    """A delivery window agreed with the consignee (预约送货); it supersedes any earlier one for
    the waybill. ``booked_by`` is the actor who booked it (``staff:li``, ``customer:lenovo``)."""

    TYPE: ClassVar[str] = "tracking.delivery.appointed.v1"
    appointment_id: str
    waybill_no: str
    station: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    channel: Literal["phone", "email", "portal"]
    note: str | None = None
    booked_by: str


@event_type
class ExceptionReported(Event):
    TYPE: ClassVar[str] = "tracking.exception.reported.v1"
    exception_id: str
    waybill_no: str
    kind: str
    pieces: int
    station: str
    description: str
    reported_at: AwareDatetime


@event_type
class VehicleStale(Event):
    TYPE: ClassVar[str] = "tracking.vehicle.stale.v1"
    vehicle_id: str
    plate: str | None = None
    carrier: str | None = None
    last_fix_at: AwareDatetime | None = None
    silent_minutes: int
    waybills: list[str] = []


# --- receipts -------------------------------------------------------------------------


@event_type
class ReceiptOverdue(Event):
    TYPE: ClassVar[str] = "receipts.receipt.overdue.v1"
    waybill_no: str
    stage: Literal["due", "final"]
    due_at: AwareDatetime
    status: str
    origin: str | None = None
    destination: str | None = None
    station_contact: Contact | None = None
    days_overdue: int = 0


@event_type
class ReceiptAbnormal(Event):
    TYPE: ClassVar[str] = "receipts.receipt.abnormal.v1"
    waybill_no: str
    anomalies: list[str]
    inspected_at: AwareDatetime
    by: str | None = None
    destination: str | None = None
    station_contact: Contact | None = None


# --- complaints -----------------------------------------------------------------------


class Complainant(BaseModel):
    customer_id: str | None = None
    caller_name: str | None = None
    phone: str | None = None
    email: str | None = None
    language: str = "zh-CN"


@event_type
class ComplaintOpened(Event):
    TYPE: ClassVar[str] = "complaints.complaint.opened.v1"
    complaint_id: str
    complainant: Complainant
    waybill_no: str | None = None
    category: str
    channel: str
    priority: str
    opened_at: AwareDatetime
    first_response_due: AwareDatetime
    resolution_due: AwareDatetime
    proactive: bool = False


@event_type
class ComplaintResponded(Event):
    TYPE: ClassVar[str] = "complaints.complaint.responded.v1"
    complaint_id: str
    complainant: Complainant
    waybill_no: str | None = None
    message: str
    responded_at: AwareDatetime


@event_type
class ComplaintResolved(Event):
    TYPE: ClassVar[str] = "complaints.complaint.resolved.v1"
    complaint_id: str
    complainant: Complainant
    waybill_no: str | None = None
    resolution: str
    resolved_at: AwareDatetime


@event_type
class ComplaintEscalated(Event):
    """A ticket went to a supervisor: by staff (`reason` theirs) or by the SLA monitor
    (`reason` = "sla_breached")."""

    TYPE: ClassVar[str] = "complaints.complaint.escalated.v1"
    complaint_id: str
    waybill_no: str | None = None
    category: str
    priority: str
    reason: str | None = None
    escalated_by: str
    escalated_at: AwareDatetime


@event_type
class ComplaintReopened(Event):
    """A resolved or closed ticket is open again (the customer was not satisfied)."""

    TYPE: ClassVar[str] = "complaints.complaint.reopened.v1"
    complaint_id: str
    waybill_no: str | None = None
    category: str
    reason: str | None = None
    reopened_at: AwareDatetime


@event_type
class ComplaintClosed(Event):
    """A ticket is closed: with the customer's satisfaction score (a survey) or without one."""

    TYPE: ClassVar[str] = "complaints.complaint.closed.v1"
    complaint_id: str
    waybill_no: str | None = None
    category: str
    csat_score: int | None = None
    closed_at: AwareDatetime


@event_type
class ComplaintSlaBreached(Event):
    TYPE: ClassVar[str] = "complaints.complaint.sla_breached.v1"
    complaint_id: str
    kind: Literal["first_response", "resolution"]
    due_at: AwareDatetime
    breached_at: AwareDatetime
    category: str
    priority: str
    waybill_no: str | None = None
    customer_id: str | None = None


# --- notifier -------------------------------------------------------------------------


@event_type
class NotificationSent(Event):
    TYPE: ClassVar[str] = "notifier.notification.sent.v1"
    notification_id: str
    event_id: str
    channel: str
    to: str  # masked
    template: str
    provider: str
    sent_at: AwareDatetime
    waybill_no: str | None = None


@event_type
class NotificationFailed(Event):
    TYPE: ClassVar[str] = "notifier.notification.failed.v1"
    notification_id: str
    event_id: str
    channel: str
    to: str  # masked
    template: str
    error: str
    attempts: int
    waybill_no: str | None = None


# --- receipts (additional) ---
# Appended by the receipts service; existing classes above are untouched.


@event_type
class ReceiptLost(Event):
    """A receipt listed on an envelope was missing when the envelope arrived: chase it at once.

    ``station_contact`` is the sending station's (the receipt's destination station's)
    responsible person, who is asked to find the paper.
    """

    TYPE: ClassVar[str] = "receipts.receipt.lost.v1"
    waybill_no: str
    envelope_id: str
    courier_no: str
    from_station: str
    to_station: str
    flagged_at: AwareDatetime
    due_at: AwareDatetime | None = None
    origin: str | None = None
    destination: str | None = None
    station_contact: Contact | None = None
