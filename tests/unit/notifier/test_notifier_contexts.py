"""The mapping from each consumed event's real payload (shared.events) to template variables:
every routed template renders, on every channel and language, from a real event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.preferences import Preferences
from services.notifier.domain.recipients import NotifierConfig, ShipmentContacts, resolve_recipients
from services.notifier.domain.routing import ROUTES
from services.notifier.domain.vocabulary import Channel, Language
from services.notifier.notifications.bindings import BINDINGS, unbound_routes
from services.notifier.templates.renderer import TemplateRenderer
from shared import events

T = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
W = "SH2026112800001"
WHO = events.Complainant(customer_id="C100", caller_name="陈法开", phone="13600000000", email="chen@example.com")

EVENTS: list[events.Event] = [
    events.ShipmentDeparted(waybill_no=W, station="SH01", at=T, eta=T + timedelta(hours=20)),
    events.ShipmentDeparted(waybill_no=W, station="SH01", at=T, eta=T + timedelta(hours=2),
                            promised_at=T + timedelta(hours=3)),
    events.ShipmentDelayed(waybill_no=W, eta=T + timedelta(hours=5), promised_at=T, delay_minutes=300,
                           reason="breakdown"),
    events.ShipmentRecovered(waybill_no=W, eta=T, promised_at=T),
    events.ShipmentArrived(waybill_no=W, station="WX02", arrived_at=T, pieces=6, pieces_arrived=10, pieces_total=10,
                           final=True),
    events.ShipmentOutForDelivery(waybill_no=W, station="WX02", at=T),
    events.ShipmentDelivered(waybill_no=W, delivered_at=T, signer_name="杨民敬", pieces=10),
    events.ExceptionReported(exception_id="E1", waybill_no=W, kind="damage", pieces=1, station="NJ01",
                             description="外箱破损", reported_at=T),
    events.DeliveryAppointed(appointment_id="AP1", waybill_no=W, station="WX02", window_start=T + timedelta(days=1),
                             window_end=T + timedelta(days=1, hours=2), channel="phone", note="先电话联系",
                             booked_by="staff:li"),
    events.ReceiptOverdue(waybill_no=W, stage="due", due_at=T, status="signed", destination="WX02", days_overdue=2,
                          station_contact=events.Contact(name="王站长", phone="13700000000",
                                                         email="wx02@example.com")),
    events.ReceiptLost(waybill_no=W, envelope_id="ENV1", courier_no="SF1234567890", from_station="WX02",
                       to_station="SH01", flagged_at=T, due_at=T,
                       station_contact=events.Contact(name="王站长", phone="13700000000", email="wx02@example.com")),
    events.ComplaintOpened(complaint_id="CP1", complainant=WHO, category="delay", channel="phone", priority="high",
                           opened_at=T, first_response_due=T, resolution_due=T),
    events.ComplaintResponded(complaint_id="CP1", complainant=WHO, message="已到达", responded_at=T),
    events.ComplaintResolved(complaint_id="CP1", complainant=WHO, resolution="已签收", resolved_at=T),
    events.ComplaintSlaBreached(complaint_id="CP1", kind="resolution", due_at=T, breached_at=T, category="delay",
                                priority="high"),
]
CONTACTS = ShipmentContacts.from_registered({
    "waybill_no": W, "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "13800000000",
                                 "email": "ops@example.com"},
    "consignee": {"name": "杨民敬", "phone": "13900000000"}})
renderer = TemplateRenderer()


def test_every_routed_event_type_of_the_catalogue_is_bound() -> None:
    assert {e.TYPE for e in EVENTS} == set(BINDINGS)
    assert unbound_routes() == {"tracking.shipment.scanned.v1"}  # not in the catalogue (yet)
    assert set(BINDINGS) <= set(ROUTES)


# The shipper is a key account with a WeChat Work group: its routes reach the group too.
GROUP = {"C100": Preferences(email="ops@example.com", wecom_key="693a91f6-7f3c-4a4b-9b1e-0c2d3e4f5a6b")}


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.TYPE)
def test_each_event_renders_for_every_recipient_in_both_languages(event: events.Event) -> None:
    binding = BINDINGS[event.TYPE]
    deliveries = resolve_recipients(event.TYPE, binding.routing_data(event), CONTACTS, GROUP,
                                    NotifierConfig(supervisor_email="lead@example.com"))
    assert deliveries, event.TYPE
    for delivery in deliveries:
        for language in Language:
            rendered = renderer.render(delivery.template, delivery.channel, language,
                                       {**binding.context(event), "recipient_name": delivery.name})
            assert rendered.text.strip()
            if delivery.channel is Channel.EMAIL:
                assert rendered.subject and rendered.html
            if delivery.channel is Channel.WECOM:  # the fallback e-mail renders from the same variables
                assert delivery.fallback_to == "ops@example.com"
                assert renderer.render(delivery.template, Channel.EMAIL, language, binding.context(event)).html


def test_a_key_account_group_hears_of_delays_and_exceptions_only() -> None:
    grouped = {e.TYPE for e in EVENTS for d in resolve_recipients(
        e.TYPE, BINDINGS[e.TYPE].routing_data(e), CONTACTS, GROUP, NotifierConfig()) if d.channel is Channel.WECOM}
    assert grouped == {"tracking.shipment.delayed.v1", "tracking.exception.reported.v1"}


def test_the_complainant_is_addressed_from_the_nested_contact() -> None:
    opened = next(e for e in EVENTS if isinstance(e, events.ComplaintOpened))
    deliveries = resolve_recipients(opened.TYPE, BINDINGS[opened.TYPE].routing_data(opened), None, {},
                                    NotifierConfig())
    assert {(str(d.channel), d.to, d.customer_id) for d in deliveries} == {
        ("sms", "13600000000", "C100"), ("email", "chen@example.com", "C100")}


def test_contexts_use_the_template_names_for_event_fields() -> None:
    delayed, delivered = EVENTS[2], EVENTS[6]
    assert BINDINGS[delayed.TYPE].context(delayed)["revised_eta"] == (T + timedelta(hours=5)).isoformat()
    assert BINDINGS[delivered.TYPE].context(delivered)["signed_at"] == T.isoformat()
    arrived = EVENTS[4]
    assert BINDINGS[arrived.TYPE].context(arrived)["pieces"] == 10  # the total, not the last batch
