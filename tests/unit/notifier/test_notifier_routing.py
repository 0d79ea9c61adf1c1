"""Routing table and recipient resolution: who hears about what, on which channel."""

from __future__ import annotations

from datetime import time

import pytest

from services.notifier.domain.preferences import ChannelPreferences, Preferences, QuietHours
from services.notifier.domain.recipients import (
    Delivery,
    NotifierConfig,
    ShipmentContacts,
    resolve_recipients,
    template_context,
)
from services.notifier.domain.routing import NOT_NOTIFIED, ROUTES, route_templates, routes_for
from services.notifier.domain.vocabulary import Audience, Channel, Language

# The event types of the contract (api-contract.md, "Events").
CONTRACT_EVENT_TYPES = {
    "tracking.shipment.registered.v1",
    "tracking.shipment.departed.v1",
    "tracking.shipment.delayed.v1",
    "tracking.shipment.recovered.v1",
    "tracking.shipment.arrived.v1",
    "tracking.shipment.delivered.v1",
    "tracking.exception.reported.v1",
    "tracking.vehicle.stale.v1",
    "receipts.receipt.overdue.v1",
    "receipts.receipt.abnormal.v1",
    "complaints.complaint.opened.v1",
    "complaints.complaint.sla_breached.v1",
    "complaints.complaint.resolved.v1",
    "notifier.notification.sent.v1",
    "notifier.notification.failed.v1",
}

REGISTERED = {
    "waybill_no": "SH2026112800001",
    "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "13800000000", "email": "ops@example.com"},
    "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
}
CONTACTS = ShipmentContacts.from_registered(REGISTERED)
CONFIG = NotifierConfig(supervisor_email="cs-lead@example.com")
WAYBILL = {"waybill_no": "SH2026112800001"}
# A departure is told with its ETA (on time); see test_departure_is_told_only_with_an_eta_that_keeps_the_promise.
DEPARTED = {**WAYBILL, "eta": "2026-11-30T16:00:00+08:00", "promised_at": "2026-11-30T18:00:00+08:00"}


def audiences(event_type: str, data: dict) -> list[tuple[Audience, str, bool]]:
    return [(r.audience, r.template, r.urgent) for r in routes_for(event_type, data)]


# ---------------------------------------------------------------- the table


def test_every_contract_event_type_is_either_routed_or_deliberately_silent() -> None:
    for event_type in CONTRACT_EVENT_TYPES:
        assert (event_type in ROUTES) != (event_type in NOT_NOTIFIED), event_type


@pytest.mark.parametrize(
    ("event_type", "data", "expected"),
    [
        ("tracking.shipment.departed.v1", DEPARTED, [(Audience.SHIPPER, "departed", False)]),
        (
            "tracking.shipment.delayed.v1",
            WAYBILL,
            [(Audience.SHIPPER, "delayed", True), (Audience.CONSIGNEE, "delayed", True)],
        ),
        (
            "tracking.shipment.recovered.v1",
            WAYBILL,
            [(Audience.SHIPPER, "recovered", False), (Audience.CONSIGNEE, "recovered", False)],
        ),
        (
            "tracking.shipment.arrived.v1",
            {**WAYBILL, "final": True},
            [(Audience.SHIPPER, "arrived", False), (Audience.CONSIGNEE, "arrived", False)],
        ),
        ("tracking.shipment.arrived.v1", {**WAYBILL, "final": False}, []),
        ("tracking.shipment.arrived.v1", WAYBILL, []),
        (
            "tracking.shipment.out_for_delivery.v1",
            WAYBILL,
            [(Audience.CONSIGNEE, "out_for_delivery", False)],
        ),
        (
            "tracking.shipment.scanned.v1",
            {**WAYBILL, "type": "out_for_delivery"},
            [(Audience.CONSIGNEE, "out_for_delivery", False)],
        ),
        (
            "tracking.shipment.scanned.v1",
            {**WAYBILL, "scan_type": "out_for_delivery"},
            [(Audience.CONSIGNEE, "out_for_delivery", False)],
        ),
        ("tracking.shipment.scanned.v1", {**WAYBILL, "type": "departed_transfer"}, []),
        ("tracking.shipment.delivered.v1", WAYBILL, [(Audience.SHIPPER, "delivered", False)]),
        ("tracking.exception.reported.v1", WAYBILL, [(Audience.SHIPPER, "exception_reported", False)]),
        ("receipts.receipt.overdue.v1", WAYBILL, [(Audience.STATION_CONTACT, "receipt_overdue", False)]),
        ("complaints.complaint.opened.v1", {}, [(Audience.COMPLAINANT, "complaint_opened", False)]),
        ("complaints.complaint.responded.v1", {}, [(Audience.COMPLAINANT, "complaint_responded", False)]),
        ("complaints.complaint.resolved.v1", {}, [(Audience.COMPLAINANT, "complaint_resolved", False)]),
        (
            "complaints.complaint.sla_breached.v1",
            {},
            [(Audience.SUPERVISOR, "complaint_sla_breached", True)],
        ),
        ("tracking.vehicle.stale.v1", {}, []),
        ("something.unknown.v1", {}, []),
    ],
)
def test_routes_follow_the_issue(event_type: str, data: dict, expected: list) -> None:
    assert audiences(event_type, data) == expected


def test_supervisor_is_reached_by_email_only() -> None:
    (route,) = ROUTES["complaints.complaint.sla_breached.v1"]
    assert route.channels == (Channel.EMAIL,)


def test_route_templates_lists_every_template_and_its_channels() -> None:
    used = route_templates()
    assert used["delayed"] == {Channel.SMS, Channel.EMAIL, Channel.WECOM}
    assert used["complaint_sla_breached"] == {Channel.EMAIL}
    assert used["daily_arrivals"] == {Channel.EMAIL, Channel.WECOM}
    assert used["storage_report"] == {Channel.EMAIL}
    assert used["delivery_appointed"] == {Channel.SMS, Channel.EMAIL}


KEY = "693a91f6-7f3c-4a4b-9b1e-0c2d3e4f5a6b"


def test_a_group_robot_is_reached_only_through_the_accounts_own_preferences() -> None:
    group = Preferences(email="group-owner@example.com", wecom_key=KEY)
    deliveries = resolve_recipients("tracking.shipment.delayed.v1", WAYBILL, CONTACTS, {"C100": group}, CONFIG)
    [robot] = [d for d in deliveries if d.channel is Channel.WECOM]
    assert (robot.to, robot.audience, robot.urgent) == (KEY, Audience.SHIPPER, True)
    assert robot.fallback_to == "group-owner@example.com"  # where it goes when the group cannot be reached
    assert all(d.fallback_to is None for d in deliveries if d.channel is not Channel.WECOM)
    # no robot in the preferences, or the group switched off: nothing for the group
    assert not [d for d in resolve_recipients("tracking.shipment.delayed.v1", WAYBILL, CONTACTS, {}, CONFIG)
                if d.channel is Channel.WECOM]
    off = Preferences(wecom_key=KEY, channels=ChannelPreferences(wecom=False))
    assert not [d for d in resolve_recipients("tracking.shipment.delayed.v1", WAYBILL, CONTACTS, {"C100": off},
                                              CONFIG) if d.channel is Channel.WECOM]
    # departures and arrivals are not group news
    assert not [d for d in resolve_recipients("tracking.shipment.departed.v1", DEPARTED, CONTACTS,
                                              {"C100": group}, CONFIG) if d.channel is Channel.WECOM]


def test_an_appointment_is_confirmed_to_the_consignee_on_sms_and_email() -> None:
    consignee = {**REGISTERED, "consignee": {"name": "杨民敬", "phone": "13900000000", "email": "yang@example.com"}}
    deliveries = resolve_recipients("tracking.delivery.appointed.v1", WAYBILL,
                                    ShipmentContacts.from_registered(consignee), {}, CONFIG)
    assert {(d.audience, str(d.channel), d.to, d.template) for d in deliveries} == {
        (Audience.CONSIGNEE, "sms", "13900000000", "delivery_appointed"),
        (Audience.CONSIGNEE, "email", "yang@example.com", "delivery_appointed")}


# ---------------------------------------------------------------- recipients


def test_delay_goes_to_shipper_and_consignee_on_every_channel_they_have() -> None:
    deliveries = resolve_recipients("tracking.shipment.delayed.v1", WAYBILL, CONTACTS, {}, CONFIG)
    assert [(d.audience, d.channel, d.to, d.urgent) for d in deliveries] == [
        (Audience.SHIPPER, Channel.SMS, "13800000000", True),
        (Audience.SHIPPER, Channel.EMAIL, "ops@example.com", True),
        # The consignee has no e-mail address: no e-mail delivery, no error.
        (Audience.CONSIGNEE, Channel.SMS, "13900000000", True),
    ]
    assert deliveries[0].customer_id == "C100"
    assert deliveries[2].customer_id is None
    assert all(d.language is Language.ZH_CN for d in deliveries)
    assert deliveries[0].name == "无锡精工"


def test_preferences_win_over_the_event_contact() -> None:
    prefs = Preferences(
        name="无锡精工物流部",
        phone="13811112222",
        email="logistics@example.com",
        language=Language.EN,
        quiet_hours=QuietHours(time(23, 0), time(7, 0), "Asia/Shanghai"),
    )
    deliveries = resolve_recipients("tracking.shipment.departed.v1", DEPARTED, CONTACTS, {"C100": prefs}, CONFIG)
    assert [(d.channel, d.to, d.language, d.name) for d in deliveries] == [
        (Channel.SMS, "13811112222", Language.EN, "无锡精工物流部"),
        (Channel.EMAIL, "logistics@example.com", Language.EN, "无锡精工物流部"),
    ]
    assert deliveries[0].quiet_hours == QuietHours(time(23, 0), time(7, 0), "Asia/Shanghai")


def test_an_empty_preference_field_falls_back_to_the_event_contact() -> None:
    prefs = Preferences(phone=None, email="new@example.com")
    deliveries = resolve_recipients("tracking.shipment.departed.v1", DEPARTED, CONTACTS, {"C100": prefs}, CONFIG)
    assert [(d.channel, d.to) for d in deliveries] == [
        (Channel.SMS, "13800000000"),
        (Channel.EMAIL, "new@example.com"),
    ]


def test_channel_opt_out_is_respected() -> None:
    prefs = Preferences(channels=ChannelPreferences(sms=False, email=True))
    deliveries = resolve_recipients("tracking.shipment.departed.v1", DEPARTED, CONTACTS, {"C100": prefs}, CONFIG)
    assert [d.channel for d in deliveries] == [Channel.EMAIL]


def test_opting_out_of_everything_means_no_delivery() -> None:
    prefs = Preferences(channels=ChannelPreferences(sms=False, email=False))
    assert resolve_recipients("tracking.shipment.departed.v1", DEPARTED, CONTACTS, {"C100": prefs}, CONFIG) == []


def test_preferences_from_the_api_payload() -> None:
    prefs = Preferences.from_dict(
        {
            "name": "N",
            "phone": "1",
            "email": None,
            "language": "en",
            "channels": {"sms": False, "email": True},
            "quiet_hours": {"start": "21:30", "end": "07:00", "tz": "Asia/Shanghai"},
        }
    )
    assert prefs.language is Language.EN
    assert prefs.channels == ChannelPreferences(sms=False, email=True)
    assert prefs.quiet_hours == QuietHours(time(21, 30), time(7, 0), "Asia/Shanghai")


def test_without_stored_shipment_contacts_shipment_events_reach_nobody() -> None:
    assert resolve_recipients("tracking.shipment.delayed.v1", WAYBILL, None, {}, CONFIG) == []


def test_the_same_address_is_reached_once_per_event_and_channel() -> None:
    # A shipper sending to itself: the consignee is the same phone number, written differently.
    contacts = ShipmentContacts.from_registered(
        {**REGISTERED, "consignee": {"name": "无锡精工", "phone": "138-0000-0000", "email": "OPS@example.com "}}
    )
    deliveries = resolve_recipients("tracking.shipment.delayed.v1", WAYBILL, contacts, {}, CONFIG)
    assert [(d.audience, d.channel) for d in deliveries] == [
        (Audience.SHIPPER, Channel.SMS),
        (Audience.SHIPPER, Channel.EMAIL),
    ]


def test_final_arrival_only() -> None:
    first_batch = {**WAYBILL, "final": False}
    assert resolve_recipients("tracking.shipment.arrived.v1", first_batch, CONTACTS, {}, CONFIG) == []
    last_batch = {**WAYBILL, "final": True}
    assert len(resolve_recipients("tracking.shipment.arrived.v1", last_batch, CONTACTS, {}, CONFIG)) == 3


def test_out_for_delivery_scan_reaches_the_consignee() -> None:
    data = {**WAYBILL, "type": "out_for_delivery", "at": "2026-12-01T09:10:00+08:00"}
    (delivery,) = resolve_recipients("tracking.shipment.scanned.v1", data, CONTACTS, {}, CONFIG)
    assert (delivery.audience, delivery.channel, delivery.to, delivery.template) == (
        Audience.CONSIGNEE,
        Channel.SMS,
        "13900000000",
        "out_for_delivery",
    )


def test_overdue_receipt_goes_to_the_destination_station_contact() -> None:
    data = {
        **WAYBILL,
        "station_contact": {"name": "王站长", "phone": "13700000000", "email": "wx02@example.com"},
    }
    deliveries = resolve_recipients("receipts.receipt.overdue.v1", data, None, {}, CONFIG)
    assert [(d.audience, d.channel, d.to, d.customer_id) for d in deliveries] == [
        (Audience.STATION_CONTACT, Channel.SMS, "13700000000", None),
        (Audience.STATION_CONTACT, Channel.EMAIL, "wx02@example.com", None),
    ]


def test_overdue_receipt_without_a_station_contact_reaches_nobody() -> None:
    assert resolve_recipients("receipts.receipt.overdue.v1", WAYBILL, None, {}, CONFIG) == []


def test_complainant_in_their_language_and_preferences_still_win() -> None:
    data = {
        "complaint_id": "CP1",
        "customer_id": "C200",
        "caller_name": "陈法开",
        "phone": "13600000000",
        "language": "en",
    }
    deliveries = resolve_recipients("complaints.complaint.opened.v1", data, None, {}, CONFIG)
    assert [(d.channel, d.to, d.language, d.customer_id) for d in deliveries] == [
        (Channel.SMS, "13600000000", Language.EN, "C200")
    ]
    prefs = {"C200": Preferences(language=Language.ZH_CN, email="chen@example.com")}
    deliveries = resolve_recipients("complaints.complaint.resolved.v1", data, None, prefs, CONFIG)
    assert [(d.channel, d.to, d.language) for d in deliveries] == [
        (Channel.SMS, "13600000000", Language.ZH_CN),
        (Channel.EMAIL, "chen@example.com", Language.ZH_CN),
    ]


def test_unknown_complainant_language_falls_back_to_the_default() -> None:
    data = {"customer_id": "C200", "caller_name": "X", "phone": "13600000000", "language": "fr"}
    (delivery,) = resolve_recipients("complaints.complaint.opened.v1", data, None, {}, CONFIG)
    assert delivery.language is Language.ZH_CN


def test_sla_breach_goes_to_the_configured_supervisor_mailbox() -> None:
    (delivery,) = resolve_recipients("complaints.complaint.sla_breached.v1", {"complaint_id": "CP1"}, None, {}, CONFIG)
    assert (delivery.audience, delivery.channel, delivery.to, delivery.urgent) == (
        Audience.SUPERVISOR,
        Channel.EMAIL,
        "cs-lead@example.com",
        True,
    )
    assert resolve_recipients("complaints.complaint.sla_breached.v1", {}, None, {}, NotifierConfig()) == []


def test_template_context_adds_the_recipient() -> None:
    delivery = Delivery(Audience.SHIPPER, "C100", Channel.SMS, "1", Language.ZH_CN, "departed", False, name="N")
    assert template_context(delivery, {"waybill_no": "W"}) == {
        "waybill_no": "W",
        "recipient_name": "N",
        "audience": "shipper",
    }


@pytest.mark.parametrize(
    ("extra", "told"),
    [
        ({}, True),  # no ETA yet (no fix before departure): the departure itself is news
        ({"eta": "2026-11-30T16:00:00+08:00"}, True),
        ({"eta": "2026-11-30T16:00:00+08:00", "promised_at": "2026-11-30T18:00:00+08:00"}, True),
        ({"eta": "2026-11-30T18:00:00+08:00", "promised_at": "2026-11-30T18:00:00+08:00"}, True),
        ({"eta": "2026-11-30T20:00:00+08:00", "promised_at": "2026-11-30T18:00:00+08:00"}, False),  # late: delay
        ({"eta": "not a time"}, True),  # an unreadable ETA is no ETA: still a departure
    ],
)
def test_departure_is_told_unless_its_eta_already_misses_the_promise(extra: dict, told: bool) -> None:
    assert bool(routes_for("tracking.shipment.departed.v1", {**WAYBILL, **extra})) is told
