"""Pure rules of the notifier: who gets which message, on which channel, when, and how often.

Nothing here touches the network, the database or the clock: every function takes what it
needs (event data, stored contacts, preferences, ``now``) as arguments, so the rules can be
unit-tested alone and the consumers/senders stay thin.

The pieces, in the order a message meets them:

* ``ROUTES`` — one declarative table: event type → routes (audience, channels, template,
  urgent, optional predicate on the event data).
* ``resolve_recipients`` — turns an event into concrete ``Delivery`` rows (one per
  recipient and channel), letting stored preferences win over contacts carried by events.
* ``idempotency_key`` — at most one message per event, channel and address, even across
  redeliveries and two replicas (the repository puts a unique index on it).
* ``decide`` (``throttle_decision`` + ``quiet_until``) — queue now, defer to the end of the
  quiet hours, or suppress.
* ``classify_failure`` / ``next_retry_delay`` / ``should_retry`` — what to do when a send fails.
* ``sms_info`` — how many SMS parts a text costs.
* ``build_arrival_digest`` / ``digest_key`` — the key customers' daily arrival report.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol
from zoneinfo import ZoneInfo

# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------


class Audience(StrEnum):
    """Who a route addresses; each audience has its own way of finding the address."""

    SHIPPER = "shipper"
    CONSIGNEE = "consignee"
    STATION_CONTACT = "station_contact"
    COMPLAINANT = "complainant"
    SUPERVISOR = "supervisor"


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class Status(StrEnum):
    """Delivery status as stored and as returned by ``GET /v1/notifications``."""

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    DEFERRED = "deferred"


class FailureKind(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class DelayReason(StrEnum):
    """Reason codes a delay can carry; templates translate them into plain words."""

    TRAFFIC_JAM = "traffic_jam"
    BREAKDOWN = "breakdown"
    CUSTOMS_INSPECTION = "customs_inspection"
    WEATHER = "weather"
    FORCE_MAJEURE = "force_majeure"
    VEHICLE_STOPPED = "vehicle_stopped"
    NO_SIGNAL = "no_signal"
    SLOW_PROGRESS = "slow_progress"
    OTHER = "other"


REASON_THROTTLED = "throttled"
REASON_QUIET_HOURS = "quiet_hours"

SHANGHAI = "Asia/Shanghai"

# --------------------------------------------------------------------------------------
# Routing table
# --------------------------------------------------------------------------------------

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


# The hourly throttle protects customers from floods. Staff addresses (the supervisor, a
# station's contact) are not throttled: an SLA breach or a receipt chase must never be dropped.
THROTTLED_AUDIENCES: frozenset[Audience] = frozenset({Audience.SHIPPER, Audience.CONSIGNEE, Audience.COMPLAINANT})

_BOTH = (Channel.SMS, Channel.EMAIL)
_EMAIL = (Channel.EMAIL,)

# The one table. Order inside a tuple matters only for de-duplication: when two routes
# reach the same address on the same channel, the first wins (the shipper before the
# consignee).
ROUTES: Mapping[str, tuple[Route, ...]] = MappingProxyType(
    {
        "tracking.shipment.departed.v1": (Route(Audience.SHIPPER, _BOTH, "departed", when=_departed_on_time),),
        "tracking.shipment.delayed.v1": (
            Route(Audience.SHIPPER, _BOTH, "delayed", urgent=True),
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
        "tracking.exception.reported.v1": (Route(Audience.SHIPPER, _BOTH, "exception_reported"),),
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

# The template that the digest job renders; it is not driven by an event.
DIGEST_TEMPLATE = "daily_arrivals"


def routes_for(event_type: str, data: EventData) -> tuple[Route, ...]:
    """The routes that apply to one event (unknown types and false predicates give none)."""
    return tuple(route for route in ROUTES.get(event_type, ()) if route.applies_to(data))


def route_templates() -> dict[str, frozenset[Channel]]:
    """Every template the table uses and the channels it is used on (templates must exist)."""
    used: dict[str, set[Channel]] = {}
    for routes in ROUTES.values():
        for route in routes:
            used.setdefault(route.template, set()).update(route.channels)
    used.setdefault(DIGEST_TEMPLATE, set()).add(Channel.EMAIL)
    return {name: frozenset(channels) for name, channels in used.items()}


# --------------------------------------------------------------------------------------
# Contacts and preferences
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local wall-clock time; ``start > end`` means it crosses midnight."""

    start: time
    end: time
    tz: str = SHANGHAI

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> QuietHours:
        return cls(start=_as_time(raw["start"]), end=_as_time(raw["end"]), tz=str(raw.get("tz") or SHANGHAI))


DEFAULT_QUIET_HOURS = QuietHours(start=time(22, 0), end=time(8, 0), tz=SHANGHAI)


@dataclass(frozen=True)
class Contact:
    """A person as an event carried them; any address may be missing."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    customer_id: str | None = None
    company: str | None = None
    language: Language | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Contact:
        raw = raw or {}
        return cls(
            name=_opt_str(raw.get("name")),
            phone=_opt_str(raw.get("phone")),
            email=_opt_str(raw.get("email")),
            customer_id=_opt_str(raw.get("customer_id")),
            company=_opt_str(raw.get("company")),
            language=_opt_language(raw.get("language")),
        )


@dataclass(frozen=True)
class ShipmentContacts:
    """The notifier's local copy of a waybill's shipper and consignee.

    Taken from ``tracking.shipment.registered.v1``; later shipment events carry only the
    waybill number, so the consumer looks this up and passes it in.
    """

    waybill_no: str
    shipper: Contact
    consignee: Contact

    @classmethod
    def from_registered(cls, data: Mapping[str, Any]) -> ShipmentContacts:
        return cls(
            waybill_no=str(data["waybill_no"]),
            shipper=Contact.from_dict(data.get("shipper")),
            consignee=Contact.from_dict(data.get("consignee")),
        )


@dataclass(frozen=True)
class ChannelPreferences:
    sms: bool = True
    email: bool = True

    def allows(self, channel: Channel) -> bool:
        return self.sms if channel is Channel.SMS else self.email


@dataclass(frozen=True)
class Preferences:
    """What a customer told us via ``PUT /v1/recipients/{customer_id}``; it wins over events."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    language: Language = Language.ZH_CN
    channels: ChannelPreferences = field(default_factory=ChannelPreferences)
    quiet_hours: QuietHours = DEFAULT_QUIET_HOURS

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Preferences:
        channels = raw.get("channels") or {}
        quiet = raw.get("quiet_hours")
        return cls(
            name=_opt_str(raw.get("name")),
            phone=_opt_str(raw.get("phone")),
            email=_opt_str(raw.get("email")),
            language=_opt_language(raw.get("language")) or Language.ZH_CN,
            channels=ChannelPreferences(sms=bool(channels.get("sms", True)), email=bool(channels.get("email", True))),
            quiet_hours=QuietHours.from_dict(quiet) if quiet else DEFAULT_QUIET_HOURS,
        )


@dataclass(frozen=True)
class NotifierConfig:
    """The policy knobs; ``main`` fills it from settings (environment variables)."""

    supervisor_email: str | None = None
    supervisor_language: Language = Language.ZH_CN
    default_language: Language = Language.ZH_CN
    default_quiet_hours: QuietHours = DEFAULT_QUIET_HOURS
    throttle_per_hour: int = 10
    max_attempts: int = 5
    retry_base_s: float = 2.0
    retry_cap_s: float = 300.0


@dataclass(frozen=True)
class Delivery:
    """One message to send: one recipient address on one channel for one event.

    ``name`` (for the greeting) and ``quiet_hours`` (the recipient's own window) ride along
    so that the consumer does not have to look the preferences up a second time.
    """

    audience: Audience
    customer_id: str | None
    channel: Channel
    to: str
    language: Language
    template: str
    urgent: bool
    name: str | None = None
    quiet_hours: QuietHours = DEFAULT_QUIET_HOURS


def resolve_recipients(
    event_type: str,
    data: EventData,
    shipment_contacts: ShipmentContacts | None,
    preferences_by_customer_id: Mapping[str, Preferences],
    config: NotifierConfig,
) -> list[Delivery]:
    """Every delivery one event causes, after preferences, opt-outs and de-duplication.

    Rules:
    * preferences (looked up by ``customer_id``) win field by field over the contact the
      event carried; a field the preferences leave empty falls back to the event's;
    * a channel the customer switched off gives no delivery, nor does a missing address;
    * the same address on the same channel is reached once per event (first route wins),
      because the idempotency key would reject the second anyway.
    """
    deliveries: list[Delivery] = []
    seen: set[tuple[Channel, str]] = set()
    for route in routes_for(event_type, data):
        for contact in _contacts_for(route.audience, data, shipment_contacts, config):
            prefs = preferences_by_customer_id.get(contact.customer_id) if contact.customer_id else None
            language = _language_for(contact, prefs, config)
            for channel in route.channels:
                if prefs is not None and not prefs.channels.allows(channel):
                    continue
                address = _address(channel, contact, prefs)
                if address is None:
                    continue
                dedupe = (channel, normalize_address(channel, address))
                if dedupe in seen:
                    continue
                seen.add(dedupe)
                deliveries.append(
                    Delivery(
                        audience=route.audience,
                        customer_id=contact.customer_id,
                        channel=channel,
                        to=address,
                        language=language,
                        template=route.template,
                        urgent=route.urgent,
                        name=(prefs.name if prefs and prefs.name else contact.name),
                        quiet_hours=prefs.quiet_hours if prefs else config.default_quiet_hours,
                    )
                )
    return deliveries


def _contacts_for(
    audience: Audience,
    data: EventData,
    shipment_contacts: ShipmentContacts | None,
    config: NotifierConfig,
) -> list[Contact]:
    if audience is Audience.SHIPPER:
        return [shipment_contacts.shipper] if shipment_contacts else []
    if audience is Audience.CONSIGNEE:
        return [shipment_contacts.consignee] if shipment_contacts else []
    if audience is Audience.STATION_CONTACT:
        raw = data.get("station_contact")
        return [Contact.from_dict(raw)] if raw else []
    if audience is Audience.COMPLAINANT:
        return [
            Contact(
                name=_opt_str(data.get("caller_name")),
                phone=_opt_str(data.get("phone")),
                email=_opt_str(data.get("email")),
                customer_id=_opt_str(data.get("customer_id")),
                language=_opt_language(data.get("language")),
            )
        ]
    # SUPERVISOR: one configured mailbox; no phone, so SMS routes would resolve to nothing.
    if config.supervisor_email:
        return [Contact(email=config.supervisor_email, language=config.supervisor_language)]
    return []


def _language_for(contact: Contact, prefs: Preferences | None, config: NotifierConfig) -> Language:
    if prefs is not None:
        return prefs.language
    return contact.language or config.default_language


def _address(channel: Channel, contact: Contact, prefs: Preferences | None) -> str | None:
    if channel is Channel.SMS:
        return (prefs.phone if prefs else None) or contact.phone
    return (prefs.email if prefs else None) or contact.email


def template_context(delivery: Delivery, data: EventData) -> dict[str, Any]:
    """The variables a template sees: the event data plus who it is addressed to."""
    return {**data, "recipient_name": delivery.name, "audience": str(delivery.audience)}


# --------------------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------------------


def normalize_address(channel: Channel | str, to: str) -> str:
    """Canonical form of an address, so that ``A@x.com`` and ``a@x.com `` are one recipient."""
    if Channel(channel) is Channel.EMAIL:
        return to.strip().casefold()
    return "".join(ch for ch in to if ch not in " -()\t")


def idempotency_key(event_id: str, channel: Channel | str, to: str) -> str:
    """Stable key for "this event, this channel, this address": a hex sha256.

    The unit separator keeps the parts from running into each other.
    """
    channel = Channel(channel)
    raw = "\x1f".join((event_id, str(channel), normalize_address(channel, to)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------------------
# Quiet hours, throttling and the send decision
# --------------------------------------------------------------------------------------


def quiet_until(now: datetime, quiet_hours: QuietHours) -> datetime | None:
    """The end of the quiet window ``now`` falls in, or ``None`` when it is not quiet.

    The window is ``[start, end)`` in the recipient's local time. ``start > end`` crosses
    midnight (22:00–08:00); ``start < end`` does not (12:00–14:00); ``start == end`` is an
    empty window (never quiet) rather than a 24-hour one, so a bad setting cannot silence
    a customer forever. The result is an aware datetime in the window's time zone.
    """
    _require_aware(now)
    zone = ZoneInfo(quiet_hours.tz)
    local = now.astimezone(zone)
    if not _in_window(local, quiet_hours):
        return None
    end_date = local.date()
    if quiet_hours.start > quiet_hours.end and local.time() >= quiet_hours.start:
        end_date += timedelta(days=1)
    # Normally the first candidate is the answer. The loop only matters around DST changes
    # (not in Shanghai, but preferences may name any zone): an end time repeated by a
    # fall-back, or one skipped by a spring-forward that lands back inside the window.
    for _ in range(3):
        candidate = _local_instant(end_date, quiet_hours.end, zone)
        if candidate <= now:
            candidate = datetime.combine(end_date, quiet_hours.end, tzinfo=zone).replace(fold=1)
        if candidate > now and not _in_window(candidate, quiet_hours):
            return candidate
        end_date += timedelta(days=1)
    return candidate


def _in_window(moment: datetime, quiet_hours: QuietHours) -> bool:
    t = moment.astimezone(ZoneInfo(quiet_hours.tz)).time().replace(tzinfo=None, fold=0)
    start, end = quiet_hours.start, quiet_hours.end
    if start == end:
        return False
    if start < end:
        return start <= t < end
    return t >= start or t < end


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    # Round-trip through UTC so that a wall time that does not exist (DST spring-forward)
    # becomes the real instant just after the gap.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


@dataclass(frozen=True)
class ThrottleDecision:
    allowed: bool
    reason: str | None = None


def throttle_decision(sent_in_last_hour: int, limit: int) -> ThrottleDecision:
    """At most ``limit`` messages per recipient per rolling hour; the excess is suppressed."""
    if limit < 1:
        raise ValueError("throttle limit must be at least 1")
    if sent_in_last_hour < limit:
        return ThrottleDecision(allowed=True)
    return ThrottleDecision(allowed=False, reason=REASON_THROTTLED)


@dataclass(frozen=True)
class Decision:
    """What to do with a delivery now: ``queued`` (send at ``not_before`` = now),
    ``deferred`` (send at ``not_before``) or ``suppressed`` (never send; ``reason``)."""

    status: Status
    not_before: datetime
    reason: str | None = None


def decide(
    *,
    channel: Channel,
    urgent: bool,
    now: datetime,
    quiet_hours: QuietHours,
    sent_in_last_hour: int,
    throttle_limit: int,
) -> Decision:
    """Throttle first, then quiet hours.

    * over the hourly limit → ``suppressed`` (``throttled``), urgent or not: the limit
      exists to stop floods (e.g. a shipment flapping between delayed and recovered);
    * non-urgent SMS in quiet hours → ``deferred`` to the end of the window;
    * urgent SMS (a delay) go out at night: the customer needs the revised time in order to
      plan, and the issue defers only non-urgent SMS;
    * e-mail is never deferred — it does not ring.
    """
    _require_aware(now)
    throttle = throttle_decision(sent_in_last_hour, throttle_limit)
    if not throttle.allowed:
        return Decision(status=Status.SUPPRESSED, not_before=now, reason=throttle.reason)
    if channel is Channel.SMS and not urgent:
        until = quiet_until(now, quiet_hours)
        if until is not None:
            return Decision(status=Status.DEFERRED, not_before=until, reason=REASON_QUIET_HOURS)
    return Decision(status=Status.QUEUED, not_before=now)


# --------------------------------------------------------------------------------------
# Failures and retries
# --------------------------------------------------------------------------------------


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


# 4xx from a gateway means "this request is wrong" and repeating it will not help — except
# "request timeout" and "too many requests", which are the gateway asking us to come back.
_TRANSIENT_HTTP_4XX = frozenset({408, 429})


def classify_failure(
    *,
    http_status: int | None = None,
    smtp_code: int | None = None,
    invalid_address: bool = False,
    error: BaseException | None = None,
) -> FailureKind:
    """Transient (retry later) or permanent (give up now).

    Permanent: an invalid address, SMTP 5xx, HTTP 4xx (but 408/429). Transient: timeouts,
    connection errors, HTTP 5xx, SMTP 4xx. An ``error`` carrying an SMTP ``code`` or an HTTP
    ``response.status_code`` is judged by that code. Anything unrecognised is transient: the
    retry limit bounds the cost, while a wrong "permanent" would lose a message.
    """
    if invalid_address:
        return FailureKind.PERMANENT
    if error is not None and http_status is None and smtp_code is None:
        smtp_code, http_status = _codes_of(error)
    if smtp_code is not None:
        return FailureKind.PERMANENT if 500 <= smtp_code < 600 else FailureKind.TRANSIENT
    if http_status is not None:
        if 400 <= http_status < 500 and http_status not in _TRANSIENT_HTTP_4XX:
            return FailureKind.PERMANENT
        return FailureKind.TRANSIENT
    # Timeouts, refused or dropped connections, and whatever we do not recognise.
    return FailureKind.TRANSIENT


def _codes_of(error: BaseException) -> tuple[int | None, int | None]:
    """(SMTP code, HTTP status) an exception carries, read by duck typing so that the
    domain imports neither aiosmtplib (``.code``; ``.recipients`` for a refused recipient
    list) nor httpx (``.response.status_code``)."""
    smtp_code = _int_or_none(getattr(error, "code", None))
    if smtp_code is None:
        refused = getattr(error, "recipients", None)
        if isinstance(refused, list | tuple) and refused:
            smtp_code = _int_or_none(getattr(refused[0], "code", None))
    http_status = _int_or_none(getattr(getattr(error, "response", None), "status_code", None))
    return smtp_code, http_status


def next_retry_delay(attempt: int, base_s: float, cap_s: float, rng: RandomSource) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Exponential back-off with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``.
    Full jitter spreads the retries of many messages that failed together (a gateway
    outage) instead of having them hammer the gateway in lock-step.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base_s < 0 or cap_s < 0:
        raise ValueError("base and cap must not be negative")
    # Clamp the exponent: 2**1100 overflows a float long after the cap has taken over.
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt - 1, 62))
    return min(max(rng.uniform(0.0, ceiling), 0.0), ceiling)


def should_retry(kind: FailureKind, attempt: int, max_attempts: int) -> bool:
    """Retry a transient failure while attempts remain; after that the delivery is ``failed``."""
    return kind is FailureKind.TRANSIENT and attempt < max_attempts


# --------------------------------------------------------------------------------------
# SMS length
# --------------------------------------------------------------------------------------

# GSM 03.38 basic set (one septet each) and extension set (escape + char = two septets).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsInfo:
    encoding: SmsEncoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def sms_info(text: str) -> SmsInfo:
    """Encoding, length and number of parts an SMS text costs.

    One Chinese character forces UCS-2 for the whole text: 70 units fit one SMS, a longer
    text is sent in parts of 67 (the rest is the concatenation header). GSM-7-only texts:
    160 / 153. An empty text still costs one SMS.
    """
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return SmsInfo(SmsEncoding.GSM7, units, _segments(units, single=160, part=153))
    # UTF-16 code units: an emoji outside the BMP costs two.
    units = len(text.encode("utf-16-le")) // 2
    return SmsInfo(SmsEncoding.UCS2, units, _segments(units, single=70, part=67))


def sms_segments(text: str) -> int:
    """Number of SMS parts ``text`` is sent as."""
    return sms_info(text).segments


def _segments(units: int, *, single: int, part: int) -> int:
    if units <= single:
        return 1
    return math.ceil(units / part)


# --------------------------------------------------------------------------------------
# Daily arrival digest
# --------------------------------------------------------------------------------------


class DigestKind(StrEnum):
    ARRIVED = "arrived"
    DUE = "due"


@dataclass(frozen=True)
class DigestShipment:
    """What the notifier knows about one of a key customer's shipments."""

    waybill_no: str
    destination: str
    consignee_name: str | None = None
    pieces: int | None = None
    promised_at: datetime | None = None
    eta: datetime | None = None
    arrived_at: datetime | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class DigestRow:
    kind: DigestKind
    waybill_no: str
    destination: str
    consignee_name: str | None
    pieces: int | None
    at: datetime  # arrival time for ``arrived``, expected time for ``due``
    late: bool  # due rows only: the expected time is already past the promised time

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "waybill_no": self.waybill_no,
            "destination": self.destination,
            "consignee_name": self.consignee_name,
            "pieces": self.pieces,
            "at": self.at.isoformat(),
            "late": self.late,
        }


@dataclass(frozen=True)
class ArrivalDigest:
    customer_id: str
    day: date
    rows: tuple[DigestRow, ...]
    key: str

    @property
    def arrived_count(self) -> int:
        return sum(1 for row in self.rows if row.kind is DigestKind.ARRIVED)

    @property
    def due_count(self) -> int:
        return sum(1 for row in self.rows if row.kind is DigestKind.DUE)

    def template_data(self, customer_name: str | None) -> dict[str, Any]:
        """The context of the ``daily_arrivals`` template."""
        return {
            "customer_id": self.customer_id,
            "recipient_name": customer_name,
            "date": self.day.isoformat(),
            "arrived_count": self.arrived_count,
            "due_count": self.due_count,
            "rows": [row.as_dict() for row in self.rows],
        }


def digest_key(customer_id: str, day: date) -> str:
    """Idempotency key of one customer's report for one (local) day: sent once per day."""
    raw = "\x1f".join(("digest", customer_id, day.isoformat()))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def build_arrival_digest(
    customer_id: str, shipments: Iterable[DigestShipment], day: date, tz: str = SHANGHAI
) -> ArrivalDigest:
    """The daily arrival report of one key customer for local date ``day``.

    Rows: shipments that arrived that day, then shipments not yet arrived whose expected
    time (ETA, else the promised time) falls on or before that day — still-due shipments
    from earlier days stay on the report until they arrive. Delivered shipments that
    arrived on an earlier day are done and left out. Each group is sorted by time.
    """
    zone = ZoneInfo(tz)
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    arrived: list[DigestRow] = []
    due: list[DigestRow] = []
    for s in shipments:
        if s.arrived_at is not None:
            _require_aware(s.arrived_at)
            if s.arrived_at.astimezone(zone).date() == day:
                arrived.append(_digest_row(DigestKind.ARRIVED, s, s.arrived_at, late=False))
            continue
        if s.delivered_at is not None:
            continue
        expected = s.eta or s.promised_at
        if expected is None:
            continue
        _require_aware(expected)
        if expected < end_of_day:
            late = s.promised_at is not None and expected > s.promised_at
            due.append(_digest_row(DigestKind.DUE, s, expected, late=late))
    arrived.sort(key=lambda r: (r.at, r.waybill_no))
    due.sort(key=lambda r: (r.at, r.waybill_no))
    return ArrivalDigest(customer_id=customer_id, day=day, rows=(*arrived, *due), key=digest_key(customer_id, day))


def _digest_row(kind: DigestKind, s: DigestShipment, at: datetime, *, late: bool) -> DigestRow:
    return DigestRow(
        kind=kind,
        waybill_no=s.waybill_no,
        destination=s.destination,
        consignee_name=s.consignee_name,
        pieces=s.pieces,
        at=at,
        late=late,
    )


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("aware datetimes only")


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _opt_language(value: Any) -> Language | None:
    try:
        return Language(value) if value else None
    except ValueError:
        return None  # an unknown language falls back to the default rather than failing


def _as_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    return time.fromisoformat(str(value))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
