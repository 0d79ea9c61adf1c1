"""Months, the monthly return-visit list (回访), and the monthly complaints report.

Report figures are recomputed here by hand from the same facts, not by calling the
code under test a second way.
"""

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.complaints.domain.care import CareRules, CustomerFile, VisitReason, is_key_customer, visits_due
from services.complaints.domain.hours import Month, parse_month
from services.complaints.domain.reports import TicketFacts, monthly_report, render_report_csv
from services.complaints.domain.vocabulary import Category, Channel
from shared.errors import DomainError

CST = timezone(timedelta(hours=8))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CST)


# --- months ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2026-11", "2026-01", "2026-12", "0001-01"])
def test_parse_month_accepts_yyyy_mm(text):
    assert str(parse_month(text)) == text


@pytest.mark.parametrize(
    "text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", " 2026-11", "2026-11 ", "2026-11-01",
             "", "0000-01", "２０２６-11", "9999-12", None, 202611],
)
def test_parse_month_is_strict(text):
    with pytest.raises(DomainError) as caught:
        parse_month(text)
    assert caught.value.code == "invalid_month"


def test_month_bounds_are_shanghai_midnights():
    november = parse_month("2026-11")
    assert november.starts_at() == local(2026, 11, 1)
    assert november.ends_at() == local(2026, 12, 1)
    assert november.contains(datetime(2026, 10, 31, 16, 0, tzinfo=UTC))  # 1 Nov 00:00 in Shanghai
    assert not november.contains(datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC))
    assert not november.contains(datetime(2026, 11, 30, 16, 0, tzinfo=UTC))  # 1 Dec in Shanghai
    assert Month(2026, 12).next() == Month(2027, 1)
    assert Month(2027, 1).previous() == Month(2026, 12)


# --- customer care --------------------------------------------------------------------------------

NOV = Month(2026, 11)


def test_key_customer_rule():
    rules = CareRules(key_min_monthly_shipments=20)
    assert is_key_customer(flagged=True, shipments_last_month=0, rules=rules)
    assert is_key_customer(flagged=False, shipments_last_month=20, rules=rules)
    assert not is_key_customer(flagged=False, shipments_last_month=19, rules=rules)
    no_volume_rule = CareRules(key_min_monthly_shipments=None)
    assert not is_key_customer(flagged=False, shipments_last_month=10_000, rules=no_volume_rule)


def test_visits_due_for_key_and_new_customers_without_a_visit_this_month():
    old = local(2024, 1, 1)
    customers = [
        CustomerFile("C1", "无锡精工", old, key_flag=True),  # key, never visited → due
        CustomerFile("C2", "老客户", old),  # neither key nor new → not due
        CustomerFile("C3", "新客户", local(2026, 10, 15)),  # new → due
        # key by volume, but already visited in November → not due
        CustomerFile("C4", "大客户", old, shipments_last_month=45, visits=(local(2026, 11, 3),)),
        CustomerFile("C5", "上月回访", old, key_flag=True, visits=(local(2026, 10, 20),)),  # due
        CustomerFile("C6", "下月才来", local(2026, 12, 1)),  # first seen after the month → not due
        CustomerFile("C7", "旧新客户", local(2026, 8, 1)),  # seen > 90 days before month end → not new
        CustomerFile("C0", "又新又大", local(2026, 11, 5), key_flag=True),
    ]
    due = visits_due(customers, NOV)
    assert [d.customer_id for d in due] == ["C0", "C1", "C5", "C3"]  # key customers first
    by_id = {d.customer_id: d for d in due}
    assert by_id["C0"].reasons == (VisitReason.KEY_CUSTOMER, VisitReason.NEW_CUSTOMER)
    assert by_id["C3"].reasons == (VisitReason.NEW_CUSTOMER,)
    assert by_id["C5"].last_visit_at == local(2026, 10, 20)
    assert by_id["C1"].last_visit_at is None


def test_visit_on_month_boundary_counts_in_shanghai_time():
    # 30 Nov 23:30 in Shanghai is 15:30 UTC: a November visit.
    late_visit = datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    customer = CustomerFile("C1", "x", local(2024, 1, 1), key_flag=True, visits=(late_visit,))
    assert visits_due([customer], NOV) == []
    assert [d.customer_id for d in visits_due([customer], Month(2026, 12))] == ["C1"]


def test_new_customer_window_is_configurable():
    customer = CustomerFile("C1", "x", local(2026, 10, 15))
    assert visits_due([customer], NOV, rules=CareRules(new_customer_days=30)) == []
    assert len(visits_due([customer], NOV, rules=CareRules(new_customer_days=60))) == 1


# --- monthly report --------------------------------------------------------------------------------


def fact(category, channel, opened, *, responded=None, resolved=None, fr_due=None, res_due=None,
         fr_breached=False, res_breached=False, csat=None):
    return TicketFacts(category, channel, opened, responded, resolved, fr_due, res_due, fr_breached,
                       res_breached, csat)


def _facts():
    o1 = local(2026, 11, 2, 9, 0)
    o2 = local(2026, 11, 10, 14, 0)
    o3 = local(2026, 11, 20, 17, 58)
    o4 = local(2026, 11, 30, 23, 0)
    o5 = local(2026, 11, 1, 0, 0)  # first instant of November in Shanghai
    return [
        # responded in 3 min (met), resolved in 6 h (met), CSAT 5
        fact(Category.DELAY, Channel.PHONE, o1, responded=o1 + timedelta(minutes=3),
             resolved=o1 + timedelta(hours=6), fr_due=o1 + timedelta(minutes=5),
             res_due=o1 + timedelta(hours=24), csat=5),
        # responded in 10 min (late, not flagged: still a breach), resolved in 80 h (flagged), CSAT 2
        fact(Category.DAMAGE, Channel.WEB, o2, responded=o2 + timedelta(minutes=10),
             resolved=o2 + timedelta(hours=80), fr_due=o2 + timedelta(minutes=5),
             res_due=o2 + timedelta(hours=72), res_breached=True, csat=2),
        # responded in 1 min, still open and not due yet → resolution not counted
        fact(Category.DELAY, Channel.CHAT, o3, responded=o3 + timedelta(minutes=1),
             fr_due=o3 + timedelta(minutes=5), res_due=local(2026, 12, 20, 12, 0)),
        # flagged first-response breach, no response yet; resolution due in the past → breached as of
        fact(Category.QUOTE, Channel.PARTNER, o4, fr_due=local(2026, 12, 1, 8, 5),
             res_due=local(2026, 12, 1, 16, 0), fr_breached=True),
        # responded in 2 min, resolved in 30 min, CSAT 4
        fact(Category.BILLING, Channel.PHONE, o5, responded=o5 + timedelta(minutes=2),
             resolved=o5 + timedelta(minutes=30), fr_due=o5 + timedelta(minutes=5),
             res_due=o5 + timedelta(hours=72), csat=4),
        # outside November (31 Oct 23:59 in Shanghai; 1 Dec 00:00 in Shanghai): ignored
        fact(Category.LOSS, Channel.PHONE, local(2026, 10, 31, 23, 59), csat=1),
        fact(Category.LOSS, Channel.PHONE, datetime(2026, 11, 30, 16, 0, tzinfo=UTC), csat=1),
    ]


AS_OF = local(2026, 12, 5, 12, 0)


def test_monthly_report_figures():
    report = monthly_report(_facts(), NOV, as_of=AS_OF)
    assert report.total == 5
    assert report.by_category[Category.DELAY] == 2
    assert report.by_category[Category.DAMAGE] == 1
    assert report.by_category[Category.QUOTE] == 1
    assert report.by_category[Category.BILLING] == 1
    assert report.by_category[Category.LOSS] == 0  # every category present, zero when none
    assert set(report.by_category) == set(Category)
    assert report.by_channel == {Channel.PHONE: 2, Channel.WEB: 1, Channel.CHAT: 1, Channel.PARTNER: 1}

    # First response: met = tickets 1, 3, 5; breached = ticket 2 (late), ticket 4 (flagged).
    assert (report.first_response.met, report.first_response.breached) == (3, 2)
    assert report.first_response.met_share == pytest.approx(3 / 5)
    # Resolution: met = 1, 5; breached = 2 (flagged), 4 (past due as of); ticket 3 still running.
    assert (report.resolution.met, report.resolution.breached) == (2, 2)
    assert report.resolution.met_share == pytest.approx(0.5)

    # Medians over wall-clock minutes: first responses 3, 10, 1, 2 → median 2.5.
    assert report.median_first_response_minutes == pytest.approx(2.5)
    # Resolutions 360, 4800, 30 → median 360.
    assert report.median_resolution_minutes == pytest.approx(360)

    assert report.csat_average == pytest.approx((5 + 2 + 4) / 3)
    assert report.csat_distribution == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert report.csat_count == 3


def test_without_as_of_unmet_open_tickets_are_not_judged():
    report = monthly_report(_facts(), NOV)
    assert (report.resolution.met, report.resolution.breached) == (2, 1)


def test_empty_month_has_no_averages():
    report = monthly_report([], NOV)
    assert report.total == 0
    assert report.first_response.met_share is None
    assert report.median_first_response_minutes is None
    assert report.median_resolution_minutes is None
    assert report.csat_average is None
    assert report.csat_distribution == {1: 0, 2: 0, 3: 0, 4: 0, 5: 0}


def test_report_refuses_invalid_csat():
    bad = [fact(Category.DELAY, Channel.PHONE, local(2026, 11, 2), csat=7)]
    with pytest.raises(DomainError):
        monthly_report(bad, NOV)


def test_report_to_dict_is_json_ready():
    data = monthly_report(_facts(), NOV, as_of=AS_OF).to_dict()
    assert data["month"] == "2026-11"
    assert data["by_category"]["delay"] == 2
    assert data["by_channel"]["partner"] == 1
    assert data["first_response"] == {"met": 3, "breached": 2, "met_share": pytest.approx(0.6)}
    assert data["csat_distribution"] == {"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}
    assert data["csat_count"] == 3


def test_report_csv():
    text = render_report_csv(monthly_report(_facts(), NOV, as_of=AS_OF))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["metric", "key", "value"]
    lookup = {(metric, key): value for metric, key, value in rows[1:]}
    assert lookup[("month", "")] == "2026-11"
    assert lookup[("total", "")] == "5"
    assert lookup[("by_category", "delay")] == "2"
    assert lookup[("by_channel", "phone")] == "2"
    assert lookup[("first_response_met_share", "")] == "0.60"
    assert lookup[("resolution_met_share", "")] == "0.50"
    assert lookup[("median_first_response_minutes", "")] == "2.50"
    assert lookup[("csat_average", "")] == "3.67"
    assert lookup[("csat_distribution", "5")] == "1"
    empty = dict(((m, k), v) for m, k, v in list(csv.reader(io.StringIO(render_report_csv(
        monthly_report([], NOV)))))[1:])
    assert empty[("csat_average", "")] == ""
