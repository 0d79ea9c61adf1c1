"""The key accounts' storage report (货物暂存报表): what is on it, days in storage, when it is due, and
its spreadsheet attachment."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from openpyxl import load_workbook

from services.notifier.delivery.senders import Attachment, EmailSender, OutgoingMessage
from services.notifier.domain.storage import (
    StoredShipment,
    build_storage_report,
    days_in_storage,
    storage_report_due,
    storage_report_key,
)
from services.notifier.domain.vocabulary import Channel, Language
from services.notifier.settings import NotifierSettings
from services.notifier.storage.spreadsheet import file_name, report_xlsx
from services.notifier.templates.samples import SAMPLE_DATA

DAY = date(2026, 12, 3)
# 2026-12-03 00:00 Beijing is 2026-12-02 16:00 UTC.
START = datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


def shipment(no: str, *, arrived: datetime | None, pieces_arrived: int = 10, delivered: datetime | None = None,
             appointment: dict | None = None) -> StoredShipment:  # type: ignore[type-arg]
    return StoredShipment(waybill_no=no, station="WX02", pieces_total=10, pieces_arrived=pieces_arrived if arrived
                          else 0, first_arrived_at=arrived, delivered_at=delivered, weight_kg=Decimal("120.5"),
                          volume_m3=1.2, consignee_name="杨民敬", appointment=appointment)


def test_goods_at_the_destination_and_not_delivered_are_on_it_longest_first() -> None:
    booked = {"appointment_id": "AP1", "window_start": "2026-12-04T06:00:00+00:00",
              "window_end": "2026-12-04T08:00:00+00:00", "note": "x", "booked_by": "staff:li"}
    report = build_storage_report("C1", [
        shipment("W-TODAY", arrived=START + timedelta(hours=3)),
        shipment("W-OLD", arrived=START - timedelta(days=3, hours=-1), appointment=booked),
        shipment("W-ROAD", arrived=None),  # still on the road
        shipment("W-DONE", arrived=START - timedelta(days=1), delivered=START + timedelta(hours=2)),  # delivered
        shipment("W-TOMORROW", arrived=START + timedelta(days=1, hours=1)),  # after the report's day
        shipment("W-PART", arrived=START - timedelta(hours=1), pieces_arrived=4),  # first batch only
    ], DAY)
    assert [r.waybill_no for r in report.rows] == ["W-OLD", "W-PART", "W-TODAY"]
    old, part, today = report.rows
    assert (old.days, part.days, today.days) == (3, 1, 0)
    assert (part.pieces, part.pieces_total, part.partial) == (4, 10, True)
    data = report.template_data("无锡精工")
    assert data["count"] == 3 and data["pieces_total"] == 24
    assert data["weight_total"] == "361.5" and data["volume_total"] == "3.6"
    assert data["rows"][0]["appointment"] == {"appointment_id": "AP1", "window_start": booked["window_start"],
                                              "window_end": booked["window_end"]}
    assert data["rows"][2]["appointment"] is None


def test_delivered_later_than_the_report_day_still_counts_for_that_day() -> None:
    report = build_storage_report("C1", [shipment("W1", arrived=START - timedelta(days=2),
                                                  delivered=START + timedelta(days=1, hours=2))], DAY)
    assert [r.waybill_no for r in report.rows] == ["W1"]


def test_days_in_storage_count_local_calendar_days() -> None:
    # 23:30 Beijing on 12-02 is the 2nd locally: one day by the 3rd, though only 30 minutes in UTC terms
    late_evening = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)
    assert days_in_storage(late_evening, DAY) == 1
    assert days_in_storage(START, DAY) == 0
    assert days_in_storage(START + timedelta(days=2), DAY) == 0  # never negative


def test_once_per_account_per_day_at_the_accounts_hour() -> None:
    assert storage_report_key("C1", DAY) == storage_report_key("C1", DAY)
    assert storage_report_key("C1", DAY) != storage_report_key("C1", DAY + timedelta(days=1))
    assert storage_report_key("C1", DAY) != storage_report_key("C2", DAY)
    eight_thirty = START + timedelta(hours=8, minutes=30)  # 08:30 Beijing
    assert storage_report_due(eight_thirty, hour=9) is None
    assert storage_report_due(eight_thirty, hour=8) == DAY
    assert storage_report_due(START, hour=0) == DAY


def test_the_spreadsheet_has_the_rows_typed_and_headed_in_the_recipients_language() -> None:
    for language, first in ((Language.ZH_CN, "运单号"), (Language.EN, "Waybill")):
        sheet = load_workbook(io.BytesIO(report_xlsx(SAMPLE_DATA["storage_report"], language))).active
        header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert header[0] == first and len(rows) == 2
        row = dict(zip(header, rows[0], strict=True))
        assert row[header[2]] == 10 and row[header[4]] == 120.5 and row[header[7]] == 3  # numbers stay numbers
        assert row[header[8]] == datetime(2026, 12, 4, 14, 0)  # Beijing time, as Excel has no zones
        assert dict(zip(header, rows[1], strict=True))[header[8]] is None  # no appointment
    assert file_name("2026-12-03", Language.EN) == "storage-report-2026-12-03.xlsx"


def test_an_email_with_an_attachment_carries_text_html_and_the_file() -> None:
    msg = OutgoingMessage(notification_id="n1", idempotency_key="k1", channel=Channel.EMAIL, to="a@example.com",
                          subject="s", text="t", html="<p>t</p>",
                          attachment=Attachment("r.xlsx", "application/vnd.ms-excel", b"PK\x03\x04"))
    email = EmailSender(NotifierSettings(env="dev")).build(msg)
    assert email.get_content_type() == "multipart/mixed"
    [file] = list(email.iter_attachments())
    assert file.get_filename() == "r.xlsx" and file.get_payload(decode=True) == b"PK\x03\x04"
    assert {p.get_content_type() for p in email.walk()} >= {"text/plain", "text/html"}
