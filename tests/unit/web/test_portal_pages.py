"""The portal's templates rendered with backend answers of the contract's shapes (no I/O): the
hooks the contract names are there, rows carry `data-waybill`, nothing typed is unescaped, and
a part that could not be had says so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from services.web.desk.parts import Part
from services.web.domain.portal import ShipmentFilter, customer_view, storage_rows
from services.web.people.models import Person
from services.web.templating import Templates
from tests.unit.web.test_portal_rules import SHIPMENT

PERSON = Person(user_id=1, username="c1", display_name="无锡精工", role="customer", branch=None, customer="C100",
                csrf_token="tok", session_hash=b"")


def _request(path: str, lang: str = "zh-CN") -> Request:
    return Request({"type": "http", "method": "GET", "scheme": "http", "server": ("127.0.0.1", 8005),
                    "path": path, "query_string": b"", "headers": [(b"accept-language", lang.encode())]})


def render(template: str, path: str, lang: str = "zh-CN", **ctx: Any) -> str:
    response = Templates().render(_request(path, lang), template, person=PERSON, **ctx)
    assert response.status_code == 200
    return bytes(response.body).decode()


def test_the_waybill_page_shows_what_the_customer_may_see() -> None:
    view = customer_view({**SHIPMENT, "status": "in_transit", "delayed": True, "delay_reason": "traffic_jam",
                          "delay_minutes": 90, "eta": "2026-12-01T19:30:00+08:00", "appointment": {
                              "window_start": "2026-12-02T09:00:00+08:00", "window_end": "2026-12-02T12:00:00+08:00",
                              "outcome": "pending", "booked_by": "desk-staff", "contact": "王经理"}})
    html = render("portal/shipment.html", "/portal/shipments/SH1", waybill_no="SH1", shipment=Part("tracking", view),
                  receipt=Part("receipts", {"status": "awaiting_delivery", "due_at": None, "overdue": False}),
                  complaints=Part("complaints", [{"id": "c-1", "category": "delay", "status": "open",
                                                  "opened_at": "2026-12-01T10:00:00+08:00"}]),
                  photos=Part("tracking", {"e1": [{"id": 7}]}), can_appoint=True, errors={}, values={},
                  today="2026-12-01", requested=True)
    for hook in ('data-testid="status"', 'data-testid="eta"', 'data-testid="delay-reason"', 'data-testid="timeline"',
                 'data-testid="receipt"', 'data-testid="appointment-form"', 'data-testid="appointment-requested"',
                 'data-testid="exception-photos"', 'data-testid="complaints"', 'data-testid="signer"'):
        assert hook in html, hook
    assert "堵车" in html and "杨**" in html and "杨民敬" not in html and "V1" not in html
    assert 'src="/portal/shipments/SH1/exceptions/e1/photos/7"' in html
    assert "2026-12-02 09:00–12:00" in html and "待送货" in html and "desk-staff" not in html
    english = render("portal/shipment.html", "/portal/shipments/SH1", lang="en", waybill_no="SH1",
                     shipment=Part("tracking", view), receipt=Part("receipts", None),
                     complaints=Part("complaints", problem="unavailable"),
                     photos=None, can_appoint=False, errors={}, values={}, today="2026-12-01", requested=False)
    assert "traffic jam" in english and 'data-backend="complaints" data-problem="unavailable"' in english
    assert "not available online yet" in english


def test_the_storage_report_has_its_columns_and_rows() -> None:
    as_of = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    rows = storage_rows({"rows": [{"waybill_no": "SH<1>", "station": "WX02", "pieces": 10, "weight_kg": 120.5,
                                   "volume_m3": 1.2, "arrived_at": "2026-12-03T10:00:00+08:00",
                                   "appointment": None}]}, as_of)
    html = render("portal/storage.html", "/portal/storage", got=Part("tracking", rows), station="", as_of=as_of,
                  query="")
    assert 'data-testid="storage-report"' in html and '<tr data-waybill="SH&lt;1&gt;">' in html
    assert 'data-col="pieces">10<' in html and 'data-col="days">2<' in html and 'data-col="weight">120.5<' in html
    assert 'data-testid="download-xlsx"' in html and 'data-testid="download-csv"' in html
    missing = render("portal/storage.html", "/portal/storage", got=Part("tracking", problem="unsupported"),
                     station="", as_of=as_of, query="")
    assert 'data-testid="unavailable"' in missing and 'data-testid="storage-report"' not in missing


def test_the_lists_carry_their_hooks() -> None:
    arrivals = render("portal/arrivals.html", "/portal/arrivals", day="2026-12-02", got=Part("tracking", {
        "rows": [{"waybill_no": "SH1", "kind": "arrived", "at": "2026-12-02T01:00:00+08:00", "late": False}],
        "truncated": False}))
    assert 'data-testid="arrivals"' in arrivals and 'data-waybill="SH1"' in arrivals and "已到站" in arrivals
    shipments = render("portal/shipments.html", "/portal/", filters=ShipmentFilter(), statuses=("registered",),
                       error=None, query="", got=Part("tracking", {"rows": [
                           {"waybill_no": "SH1", "status": "in_transit", "origin": "SH01", "destination": "WX02",
                            "pieces": 10, "pieces_arrived": 0, "delayed": True, "delay_reason": "breakdown"}],
                           "truncated": True}))
    assert 'data-waybill="SH1"' in shipments and "坏车" in shipments and "2000" in shipments
    receipts = render("portal/receipts.html", "/portal/receipts", status_filter="", statuses=("signed",), query="",
                      got=Part("receipts", {"rows": [{"waybill_no": "SH1", "status": "signed", "overdue": True,
                                                      "due_at": "2026-12-10T10:00:00+08:00"}], "truncated": False}))
    assert 'data-waybill="SH1"' in receipts and "已超期" in receipts and "2026-12-10" in receipts
    complaint = render("portal/complaint.html", "/portal/complaints/x", history=[
        {"at": "2026-12-01T10:00:00+08:00", "action": "respond", "text": "<b>已联系</b>"}],
        got=Part("complaints", {"id": "c-1", "status": "responded", "category": "delay", "description": "慢",
                                "waybill_no": "SH1", "opened_at": "2026-12-01T09:00:00+08:00"}),
        allowed={"customer_reply"}, errors={}, values={})
    assert "&lt;b&gt;已联系&lt;/b&gt;" in complaint and 'data-status="responded"' in complaint
    assert 'data-testid="reply-form"' in complaint and 'data-testid="survey-form"' not in complaint
