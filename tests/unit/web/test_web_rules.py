"""The web service's pure rules, without I/O."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.web.domain import cookies
from services.web.domain.daywork import merge_daily_work, person_of
from services.web.domain.desk import (
    callbacks_due,
    complaint_at_risk,
    delayed_order,
    notification_retryable,
    open_exceptions,
    receipt_actions,
    receipt_needs_chasing,
    receipts_by_deadline,
)
from services.web.domain.lockout import LockoutRule, LockState, after_failure, after_success, is_locked
from services.web.domain.messages import MESSAGES
from services.web.domain.search import classify
from services.web.domain.sheets import Column, to_csv_bytes, to_xlsx_bytes
from services.web.domain.words import pick_language, word
from services.web.live.hub import Audience, LiveHub, LiveMessage, visible

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
RULE = LockoutRule(failures=5, minutes=15)


def test_five_failures_in_a_row_lock_for_fifteen_minutes_and_a_success_resets() -> None:
    state = LockState(0, None)
    for _ in range(4):
        state = after_failure(state, NOW, RULE)
        assert not is_locked(state, NOW)
    state = after_failure(state, NOW, RULE)
    assert is_locked(state, NOW) and is_locked(state, NOW + timedelta(minutes=14, seconds=59))
    assert not is_locked(state, NOW + timedelta(minutes=15))
    assert after_success() == LockState(0, None)


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("SH2026112800001", "waybill", "SH2026112800001"), ("sh2026", "waybill", "SH2026"),
    ("1234", "phone_last4", "1234"), ("139 0000 1234", "phone", "13900001234"),
    ("无锡精工", "customer", "无锡精工"), ("  ", "empty", ""),
])
def test_the_search_box_reads_what_was_typed(text: str, kind: str, value: str) -> None:
    q = classify(text)
    assert (q.kind, q.value) == (kind, value)


def test_signed_cookies_refuse_tampering() -> None:
    key = b"k" * 32
    signed = cookies.sign(key, "abc")
    assert cookies.unsign(key, signed) == "abc"
    assert cookies.unsign(key, signed[:-1] + ("A" if signed[-1] != "A" else "B")) is None
    assert cookies.unsign(b"x" * 32, signed) is None
    assert cookies.unsign(key, "abc") is None and cookies.unsign(key, None) is None


def test_a_complaint_is_at_risk_within_two_minutes_of_its_first_response_or_once_breached() -> None:
    c = {"status": "open", "breached": False, "first_response_due": (NOW + timedelta(minutes=2)).isoformat()}
    assert complaint_at_risk(c, NOW)
    assert not complaint_at_risk({**c, "first_response_due": (NOW + timedelta(minutes=3)).isoformat()}, NOW)
    assert complaint_at_risk({**c, "status": "responded", "breached": True}, NOW)
    assert not complaint_at_risk({**c, "status": "resolved", "breached": True}, NOW)


def test_receipts_due_within_three_days_or_overdue_earliest_first() -> None:
    soon = {"waybill_no": "A", "overdue": False, "due_at": (NOW + timedelta(days=2)).isoformat()}
    later = {"waybill_no": "B", "overdue": False, "due_at": (NOW + timedelta(days=5)).isoformat()}
    late = {"waybill_no": "C", "overdue": True, "due_at": (NOW - timedelta(days=1)).isoformat()}
    assert [r["waybill_no"] for r in (soon, later, late) if receipt_needs_chasing(r, NOW)] == ["A", "C"]
    none = {"waybill_no": "D", "overdue": False, "due_at": None}
    assert [r["waybill_no"] for r in receipts_by_deadline([none, later, soon, late])] == ["C", "A", "B", "D"]


def test_delays_longest_first_and_callbacks_due_marked() -> None:
    assert [s["waybill_no"] for s in delayed_order([{"waybill_no": "A", "delay_minutes": 5},
                                                    {"waybill_no": "B", "delay_minutes": 50}])] == ["B", "A"]
    # With tracking's delayed_since: the newest delay first, whatever its minutes; one without last.
    since = [{"waybill_no": "A", "delay_minutes": 90, "delayed_since": (NOW - timedelta(hours=3)).isoformat()},
             {"waybill_no": "B", "delay_minutes": 5, "delayed_since": (NOW - timedelta(minutes=10)).isoformat()},
             {"waybill_no": "C", "delay_minutes": 500, "delayed_since": None},
             {"waybill_no": "D", "delay_minutes": 1, "delayed_since": (NOW - timedelta(minutes=10)).isoformat()}]
    assert [s["waybill_no"] for s in delayed_order(since)] == ["B", "D", "A", "C"]
    out = callbacks_due([{"callback_due": (NOW + timedelta(hours=1)).isoformat()},
                         {"callback_due": (NOW - timedelta(minutes=1)).isoformat()}], NOW)
    assert [c["due"] for c in out] == [True, False]


COLUMNS = (Column("text", "文本 text"), Column("n", "件数", "int"), Column("at", "时间", "time"),
           Column("ok", "延误", "bool"), Column("kg", "重量", "float"))
ROWS = [{"text": "=HYPERLINK(\"http://x\")", "n": "3", "at": "2026-12-01T02:00:00+00:00", "ok": True, "kg": 1.5},
        {"text": "\tcmd", "n": None, "at": None, "ok": False, "kg": None},
        *({"text": lead + "x"} for lead in "+-@\r\n"), {"text": "杨民敬"}]


def test_csv_is_utf8_with_bom_and_formulas_neutralised_by_the_strict_rule() -> None:
    body = to_csv_bytes(ROWS, COLUMNS)
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8-sig")
    assert text.startswith("文本 text,件数,时间,延误,重量\r\n")
    assert "'=HYPERLINK" in text and "'\tcmd" in text and "'+x" in text and "'-x" in text and "'@x" in text
    assert "2026-12-01 10:00:00" in text  # Beijing time
    assert "杨民敬" in text


def test_xlsx_has_typed_cells_a_bold_frozen_header_and_widths() -> None:
    ws = load_workbook(io.BytesIO(to_xlsx_bytes(ROWS, COLUMNS, "in-transit"))).active
    assert [c.value for c in ws[1]] == [c.title for c in COLUMNS]
    assert ws["A1"].font.bold and ws.freeze_panes == "A2"
    assert ws["A2"].value.startswith("'=") and ws["B2"].value == 3 and ws["D2"].value is True
    assert ws["C2"].value == datetime(2026, 12, 1, 10, 0) and ws["E2"].value == 1.5
    assert ws.column_dimensions["A"].width >= 10


def test_language_choice_then_accept_language_then_chinese() -> None:
    assert pick_language(None, None) == "zh-CN"
    assert pick_language(None, "en-US,en;q=0.9") == "en"
    assert pick_language(None, "en;q=0.5,zh-CN;q=0.8") == "zh-CN"
    assert pick_language("en", "zh-CN") == "en"
    assert word("delay_reason", "traffic_jam", "zh-CN") == "堵车"
    assert word("delay_reason", "traffic_jam", "en") == "traffic jam"


def test_every_message_key_the_templates_use_exists() -> None:
    templates = Path(__file__).resolve().parents[3] / "services" / "web" / "templates"
    used = set()
    for path in templates.rglob("*.html"):
        used |= set(re.findall(r"""\bt\(["']([a-z_0-9-]+)["']\s*[,)]""", path.read_text(encoding="utf-8")))
    assert used - set(MESSAGES) == set()


def test_templates_have_no_inline_script_or_event_handler() -> None:
    templates = Path(__file__).resolve().parents[3] / "services" / "web" / "templates"
    for path in templates.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), path
        assert not re.search(r"\son[a-z]+\s*=", text), path
        assert "|safe" not in text.replace(" ", ""), path


def test_a_branch_stream_sees_its_stations_and_only_a_bare_signal_otherwise() -> None:
    msg = LiveMessage("delays", "tracking.shipment.delayed.v1", waybill="W1", stations=("SH01",), text_zh="x")
    assert visible(msg, Audience("staff", None)) == msg
    assert visible(msg, Audience("branch", "SH01")) == msg
    bare = visible(msg, Audience("branch", "GZ01"))
    assert bare is not None and bare.waybill is None and bare.text_zh == "" and bare.topic == "delays"
    assert visible(msg, Audience("customer", None)) is None


def test_a_slow_stream_is_told_to_reload_instead_of_losing_messages() -> None:
    hub = LiveHub(queue_size=8)
    stream = hub.open(Audience("staff", None))
    for i in range(20):
        hub.publish(LiveMessage("delays", "t", waybill=f"W{i}"))
    topics = []
    while not stream.queue.empty():
        topics.append(stream.queue.get_nowait().topic)
    assert "_reload" in topics


def test_a_receipt_row_offers_the_steps_of_its_status_and_cancel_only_for_cash_on_delivery() -> None:
    assert receipt_actions({"status": "signed", "payment": "prepaid"}) == ("inspection",)
    assert receipt_actions({"status": "abnormal", "payment": "cod"}) == ("re-sign", "cancel")
    assert receipt_actions({"status": "mailed", "payment": "cod"}) == ("arrival",)  # sealed: no cancel
    assert receipt_actions({"status": "lost", "payment": "monthly"}) == ("receive",)
    assert receipt_actions({"status": "received", "payment": "prepaid"}) == ("handover", "write-off")
    assert receipt_actions({"status": "handed_over", "payment": "cod"}) == ()


def test_only_unsent_notices_with_somewhere_to_go_are_offered_again() -> None:
    assert notification_retryable({"status": "failed", "reason": None, "to": "138****0000"})
    assert notification_retryable({"status": "suppressed", "reason": "throttled", "to": "a***@x.com"})
    assert not notification_retryable({"status": "failed", "reason": "no_recipient", "to": ""})
    assert not notification_retryable({"status": "suppressed", "reason": "opted_out", "to": "138****0000"})
    assert not notification_retryable({"status": "failed", "reason": "rolled_up", "to": "138****0000"})
    for status in ("queued", "deferred", "sent"):
        assert not notification_retryable({"status": status, "reason": None, "to": "138****0000"})


def test_an_exception_is_open_until_its_resolution_names_it() -> None:
    timeline = [
        {"at": "2026-12-01T01:00:00+00:00", "kind": "exception",
         "data": {"action": "reported", "exception_id": "e1", "kind": "damage", "pieces": 1}},
        {"at": "2026-12-01T02:00:00+00:00", "kind": "exception",
         "data": {"action": "reported", "exception_id": "e2", "kind": "shortage", "pieces": 2}},
        {"at": "2026-12-01T03:00:00+00:00", "kind": "exception", "data": {"action": "resolved", "exception_id": "e1"}},
        {"at": "2026-12-01T03:30:00+00:00", "kind": "note", "data": {"exception_id": "e2"}},
    ]
    [still] = open_exceptions("W1", timeline)
    assert (still["id"], still["waybill_no"], still["kind"], still["reported_at"]) == (
        "e2", "W1", "shortage", "2026-12-01T02:00:00+00:00")


def test_the_days_work_names_people_adds_notes_and_totals_and_leaves_unknown_notes_empty() -> None:
    work = [{"person": "bob", "calls_logged": 2, "receipts_chased": 1}, {"person": "alice", "calls_logged": 1}]
    rows = merge_daily_work(work, None, {"alice": "小李", "bob": "老王"})
    assert [r["name"] for r in rows] == ["小李", "老王", "合计 total"]
    assert rows[0]["notes_written"] is None and rows[-1]["notes_written"] is None
    assert rows[-1]["calls_logged"] == 3 and rows[-1]["receipts_chased"] == 1
    rows = merge_daily_work(work, {"carol": 4, "bob": 2}, {})
    by = {r["person"]: r for r in rows}
    assert by["carol"]["notes_written"] == 4 and by["carol"]["calls_logged"] == 0
    assert by["alice"]["notes_written"] == 0 and by[""]["notes_written"] == 6
    assert person_of("staff:alice") == "alice" and person_of("system:sla-monitor") is None
