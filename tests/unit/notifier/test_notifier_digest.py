"""The key customers' daily arrival report."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notifier.domain.digest import DigestKind, DigestShipment, build_arrival_digest, digest_key
from services.notifier.templates.renderer import TemplateRenderer

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 30)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


SHIPMENTS = [
    # arrived today (late in the evening, but still today in Shanghai)
    DigestShipment("W-ARR-LATE", "WX02", "杨民敬", 10, arrived_at=at(30, 23, 30)),
    DigestShipment("W-ARR-EARLY", "WX02", None, 2, arrived_at=at(30, 8, 0)),
    # arrived yesterday: not on today's report
    DigestShipment("W-ARR-YESTERDAY", "SZ03", None, 1, arrived_at=at(29, 18, 0)),
    # due today, later than promised
    DigestShipment("W-DUE", "SZ03", "程发凯", 4, promised_at=at(30, 18, 0), eta=at(30, 20, 0)),
    # was due yesterday, still not arrived: stays on the report
    DigestShipment("W-OVERDUE", "NJ01", None, 3, promised_at=at(29, 12, 0)),
    # due tomorrow: not yet
    DigestShipment("W-TOMORROW", "NJ01", None, 3, eta=at(30, 23, 59) + timedelta(minutes=1)),
    # no time known at all
    DigestShipment("W-UNKNOWN", "NJ01"),
    # delivered without an arrival scan: done
    DigestShipment("W-DONE", "NJ01", eta=at(30, 9, 0), delivered_at=at(30, 10, 0)),
]


def test_digest_rows_arrived_today_then_due() -> None:
    digest = build_arrival_digest("C100", SHIPMENTS, DAY)
    assert [(r.kind, r.waybill_no) for r in digest.rows] == [
        (DigestKind.ARRIVED, "W-ARR-EARLY"),
        (DigestKind.ARRIVED, "W-ARR-LATE"),
        (DigestKind.DUE, "W-OVERDUE"),
        (DigestKind.DUE, "W-DUE"),
    ]
    assert (digest.arrived_count, digest.due_count) == (2, 2)
    assert [r.late for r in digest.rows] == [False, False, False, True]


def test_digest_day_is_the_shanghai_day() -> None:
    # 2026-11-30 16:30 UTC is already 1 December in Shanghai.
    utc_evening = datetime(2026, 11, 30, 16, 30, tzinfo=ZoneInfo("UTC"))
    shipments = [DigestShipment("W", "WX02", arrived_at=utc_evening)]
    assert build_arrival_digest("C100", shipments, DAY).rows == ()
    assert len(build_arrival_digest("C100", shipments, date(2026, 12, 1)).rows) == 1


def test_digest_key_once_per_customer_and_day() -> None:
    digest = build_arrival_digest("C100", SHIPMENTS, DAY)
    assert digest.key == digest_key("C100", DAY)
    assert digest_key("C100", DAY) == digest_key("C100", date(2026, 11, 30))
    assert digest_key("C100", DAY) != digest_key("C100", date(2026, 12, 1))
    assert digest_key("C100", DAY) != digest_key("C101", DAY)


def test_digest_renders_as_the_daily_arrivals_email() -> None:
    digest = build_arrival_digest("C100", SHIPMENTS, DAY)
    rendered = TemplateRenderer().render("daily_arrivals", "email", "zh-CN", digest.template_data("无锡精工"))
    assert rendered.subject == "【LCS物流】2026年11月30日到货日报：已到2票，待到2票"
    assert "W-OVERDUE" in rendered.text
    assert rendered.html is not None and "<td>W-DUE</td>" in rendered.html


def test_empty_digest_still_renders() -> None:
    digest = build_arrival_digest("C100", [], DAY)
    rendered = TemplateRenderer().render("daily_arrivals", "email", "en", digest.template_data(None))
    assert "No shipments arrived or are due today." in rendered.text
