"""A notice with nowhere to go leaves a trace; which notifications the desk may send again; when
a message allowed to go goes; the decision time."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from services.notifier.domain.decisions import decision_time, schedule
from services.notifier.domain.preferences import ChannelPreferences, Preferences, QuietHours
from services.notifier.domain.recipients import NotifierConfig, ShipmentContacts, resolve_recipients, undelivered
from services.notifier.domain.retries import RETRYABLE_STATUSES, check_retryable
from services.notifier.domain.vocabulary import (
    REASON_NO_RECIPIENT,
    REASON_OPTED_OUT,
    REASON_QUIET_HOURS,
    REASON_THROTTLED,
    Audience,
    Channel,
    Status,
)
from shared.errors import Conflict

SLA = "complaints.complaint.sla_breached.v1"
SLA_DATA = {"complaint_id": "CP-1", "customer_id": "C100", "waybill_no": "SH2026112800001"}
OVERDUE = "receipts.receipt.overdue.v1"
DELAYED = "tracking.shipment.delayed.v1"
CONTACTS = ShipmentContacts.from_registered({
    "waybill_no": "SH2026112800001",
    "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "13800000000", "email": "ops@example.com"},
    "consignee": {"name": "杨民敬", "phone": None, "email": None},
})
NOBODY = ShipmentContacts.from_registered({"waybill_no": "SH2026112800001", "shipper": {}, "consignee": {}})


# ---------------------------------------------------------------- undelivered


def test_an_sla_breach_without_a_supervisor_mailbox_is_a_failed_no_recipient_row() -> None:
    config = NotifierConfig(supervisor_email=None)
    assert resolve_recipients(SLA, SLA_DATA, None, {}, config) == []
    trace = undelivered(SLA, SLA_DATA, None, {}, config)
    assert trace is not None
    assert (trace.status, trace.reason) == (Status.FAILED, REASON_NO_RECIPIENT)
    d = trace.delivery
    assert (d.audience, d.channel, d.template, d.urgent, d.to) == (
        Audience.SUPERVISOR, Channel.EMAIL, "complaint_sla_breached", True, "")


def test_a_receipt_chase_to_a_station_without_a_contact_has_no_recipient() -> None:
    data = {"waybill_no": "SH2026112800001", "station_contact": None}
    trace = undelivered(OVERDUE, data, None, {}, NotifierConfig())
    assert trace is not None and trace.reason == REASON_NO_RECIPIENT
    assert trace.delivery.audience is Audience.STATION_CONTACT


def test_a_shipment_nobody_can_be_told_about_has_no_recipient_on_the_first_route() -> None:
    trace = undelivered(DELAYED, {"waybill_no": "SH2026112800001"}, NOBODY, {}, NotifierConfig())
    assert trace is not None and trace.reason == REASON_NO_RECIPIENT
    assert (trace.delivery.audience, trace.delivery.channel) == (Audience.SHIPPER, Channel.SMS)


def test_a_recipient_who_switched_every_channel_off_is_suppressed_as_opted_out() -> None:
    prefs = {"C100": Preferences(channels=ChannelPreferences(sms=False, email=False))}
    data = {"waybill_no": "SH2026112800001"}
    assert resolve_recipients(DELAYED, data, CONTACTS, prefs, NotifierConfig()) == []
    trace = undelivered(DELAYED, data, CONTACTS, prefs, NotifierConfig())
    assert trace is not None
    assert (trace.status, trace.reason) == (Status.SUPPRESSED, REASON_OPTED_OUT)
    assert trace.delivery.to == "13800000000" and trace.delivery.customer_id == "C100"


def test_nothing_is_traced_when_no_route_applies() -> None:
    # A first batch of a split shipment: the arrival route waits for the final one.
    data = {"waybill_no": "SH2026112800001", "final": False}
    assert undelivered("tracking.shipment.arrived.v1", data, CONTACTS, {}, NotifierConfig()) is None
    assert undelivered("tracking.vehicle.stale.v1", {}, None, {}, NotifierConfig()) is None


# ---------------------------------------------------------------- the desk's retry


@pytest.mark.parametrize("status", [Status.QUEUED, Status.DEFERRED, Status.SENT])
def test_what_is_on_its_way_or_arrived_is_not_sent_again(status: Status) -> None:
    with pytest.raises(Conflict) as info:
        check_retryable(status, reason=None, to="13800000000", text="您好")
    assert info.value.code == "invalid_transition" and info.value.status == 409
    assert info.value.details["current"] == str(status)


@pytest.mark.parametrize(("status", "reason"), [(Status.FAILED, None), (Status.SUPPRESSED, REASON_THROTTLED)])
def test_what_ended_unsent_may_be_sent_again(status: Status, reason: str | None) -> None:
    assert status in RETRYABLE_STATUSES
    check_retryable(status, reason=reason, to="13800000000", text="您好")


@pytest.mark.parametrize(("status", "reason", "to", "text", "why"), [
    (Status.FAILED, REASON_NO_RECIPIENT, "", "", REASON_NO_RECIPIENT),
    (Status.SUPPRESSED, REASON_OPTED_OUT, "13800000000", "", REASON_OPTED_OUT),
    (Status.FAILED, None, "13800000000", "", "not_rendered"),  # a template error
])
def test_what_has_nothing_to_send_is_not_retryable(status: Status, reason: str | None, to: str, text: str,
                                                   why: str) -> None:
    with pytest.raises(Conflict) as info:
        check_retryable(status, reason=reason, to=to, text=text)
    assert info.value.code == "not_retryable" and info.value.details == {"reason": why}


# ---------------------------------------------------------------- schedule and decision time

NIGHT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
QUIET = QuietHours(start=time(22), end=time(8))


def test_a_non_urgent_sms_at_night_waits_for_the_morning_and_nothing_else_does() -> None:
    waits = schedule(channel=Channel.SMS, urgent=False, at=NIGHT, quiet_hours=QUIET)
    assert (waits.status, waits.reason) == (Status.DEFERRED, REASON_QUIET_HOURS)
    assert waits.not_before == datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    for channel, urgent in ((Channel.SMS, True), (Channel.EMAIL, False)):
        goes = schedule(channel=channel, urgent=urgent, at=NIGHT, quiet_hours=QUIET)
        assert (goes.status, goes.not_before, goes.reason) == (Status.QUEUED, NIGHT, None)


def test_the_decision_time_is_the_events_own_only_when_a_little_ahead_of_the_wall_clock() -> None:
    wall, lead = NIGHT, timedelta(hours=48)
    assert decision_time(wall + timedelta(hours=1), wall=wall, max_lead=lead) == wall + timedelta(hours=1)
    assert decision_time(wall - timedelta(hours=1), wall=wall, max_lead=lead) == wall
    assert decision_time(wall + timedelta(days=3), wall=wall, max_lead=lead) == wall
