"""From an event to concrete deliveries: who, at which address, in which language; and the
trace a notice leaves when it reaches nobody."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.notifier.domain.idempotency import normalize_address
from services.notifier.domain.preferences import DEFAULT_QUIET_HOURS, Preferences, QuietHours
from services.notifier.domain.routing import EventData, Route, routes_for
from services.notifier.domain.vocabulary import (
    REASON_NO_RECIPIENT,
    REASON_OPTED_OUT,
    Audience,
    Channel,
    Language,
    Status,
    opt_language,
    opt_str,
)
from services.notifier.domain.wecom import mask_key
from shared.pii import mask_contact


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
            name=opt_str(raw.get("name")),
            phone=opt_str(raw.get("phone")),
            email=opt_str(raw.get("email")),
            customer_id=opt_str(raw.get("customer_id")),
            company=opt_str(raw.get("company")),
            language=opt_language(raw.get("language")),
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
    # A group robot message that cannot be delivered is sent to this e-mail address instead.
    fallback_to: str | None = None


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
                deliveries.append(_delivery(route, contact, prefs, config, channel, address))
    return deliveries


@dataclass(frozen=True)
class Undelivered:
    """What the audit records for a routed notice that reached nobody: one row per event.

    ``delivery.to`` is the address the recipient switched off (``opted_out``), or empty
    when there was none at all (``no_recipient``)."""

    delivery: Delivery
    status: Status
    reason: str


def undelivered(
    event_type: str,
    data: EventData,
    shipment_contacts: ShipmentContacts | None,
    preferences_by_customer_id: Mapping[str, Preferences],
    config: NotifierConfig,
) -> Undelivered | None:
    """The trace of a notice that ``resolve_recipients`` sent nowhere; ``None`` when no route
    applies (then nothing was meant to be sent).

    * a recipient who switched off every channel we had an address for: ``suppressed``,
      reason ``opted_out`` (the first such address; their wish, not a fault);
    * no address at all (e.g. an SLA breach while ``LCS_SUPERVISOR_EMAIL`` is unset, a
      station without a contact): ``failed``, reason ``no_recipient``, on the first route's
      first channel — someone has to fix the configuration or the data.
    """
    routes = routes_for(event_type, data)
    if not routes:
        return None
    for route in routes:
        for contact in _contacts_for(route.audience, data, shipment_contacts, config):
            prefs = preferences_by_customer_id.get(contact.customer_id) if contact.customer_id else None
            for channel in route.channels:
                address = _address(channel, contact, prefs)
                if address is not None and prefs is not None and not prefs.channels.allows(channel):
                    return Undelivered(_delivery(route, contact, prefs, config, channel, address), Status.SUPPRESSED,
                                       REASON_OPTED_OUT)
    first = routes[0]
    return Undelivered(_delivery(first, Contact(), None, config, first.channels[0], ""), Status.FAILED,
                       REASON_NO_RECIPIENT)


def _delivery(route: Route, contact: Contact, prefs: Preferences | None, config: NotifierConfig, channel: Channel,
              address: str) -> Delivery:
    return Delivery(
        audience=route.audience,
        customer_id=contact.customer_id,
        channel=channel,
        to=address,
        language=_language_for(contact, prefs, config),
        template=route.template,
        urgent=route.urgent,
        name=(prefs.name if prefs and prefs.name else contact.name),
        quiet_hours=prefs.quiet_hours if prefs else config.default_quiet_hours,
        fallback_to=_address(Channel.EMAIL, contact, prefs) if channel is Channel.WECOM else None,
    )


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
                name=opt_str(data.get("caller_name")),
                phone=opt_str(data.get("phone")),
                email=opt_str(data.get("email")),
                customer_id=opt_str(data.get("customer_id")),
                language=opt_language(data.get("language")),
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
    if channel is Channel.WECOM:
        # Only the account's own preferences name a group; events never carry one.
        return prefs.wecom_key if prefs else None
    if channel is Channel.SMS:
        return (prefs.phone if prefs else None) or contact.phone
    return (prefs.email if prefs else None) or contact.email


def template_context(delivery: Delivery, data: EventData) -> dict[str, Any]:
    """The variables a template sees: the event data plus who it is addressed to."""
    return {**data, "recipient_name": delivery.name, "audience": str(delivery.audience)}


def mask_address(channel: Channel | str, address: str) -> str:
    """An address as the audit and the events show it: ``138****0000``, ``o***@example.com``, a
    group robot's key cut to ``693a****``; empty when there was none."""
    if not address:
        return ""
    if Channel(channel) is Channel.WECOM:
        return mask_key(address)
    return mask_contact(address) or ""
