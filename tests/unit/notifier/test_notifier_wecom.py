"""The WeChat Work group robot as a channel: its webhook (a secret), its answers, its 4096-byte
markdown, and what quiet hours and masking mean for it. Pure rules, no I/O."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from services.notifier.domain import wecom
from services.notifier.domain.decisions import schedule
from services.notifier.domain.preferences import DEFAULT_QUIET_HOURS
from services.notifier.domain.recipients import mask_address
from services.notifier.domain.retries import classify_failure
from services.notifier.domain.vocabulary import Channel, FailureKind, Status
from services.notifier.templates.renderer import TemplateRenderer
from services.notifier.templates.samples import SAMPLE_DATA
from shared.logs import JsonFormatter

KEY = "693a91f6-7f3c-4a4b-9b1e-0c2d3e4f5a6b"
BASE = "https://qyapi.weixin.qq.com"
renderer = TemplateRenderer()


# ---------------------------------------------------------------- the webhook


def test_the_key_is_read_from_the_webhook_the_robot_settings_show() -> None:
    assert wecom.webhook_key(f"{BASE}/cgi-bin/webhook/send?key={KEY}", BASE) == KEY
    assert wecom.webhook_key(f"  {BASE}/cgi-bin/webhook/send?key={KEY}\n", BASE + "/") == KEY
    assert wecom.webhook_url(BASE, KEY) == f"{BASE}/cgi-bin/webhook/send?key={KEY}"
    # a stand-in under a path prefix (tests, make run)
    assert wecom.webhook_key(f"http://127.0.0.1:8025/wecom/cgi-bin/webhook/send?key={KEY}",
                             "http://127.0.0.1:8025/wecom") == KEY


@pytest.mark.parametrize("url", [
    f"https://evil.example.com/cgi-bin/webhook/send?key={KEY}",  # another host: the notifier would post there
    f"http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={KEY}",  # not the configured scheme
    f"{BASE}/cgi-bin/other?key={KEY}",
    f"{BASE}/cgi-bin/webhook/send",
    f"{BASE}/cgi-bin/webhook/send?key=short",
    f"{BASE}/cgi-bin/webhook/send?key={KEY}&key={KEY}",
    f"{BASE}/cgi-bin/webhook/send?key={KEY}#x",
    f"{BASE}/cgi-bin/webhook/send?key=../../x%20y",
    KEY,
    "http://[",  # not even a URL
    "",
])
def test_anything_but_a_robot_webhook_under_the_base_url_is_refused(url: str) -> None:
    with pytest.raises(wecom.InvalidWebhook):
        wecom.webhook_key(url, BASE)


def test_the_key_is_never_shown_whole() -> None:
    assert mask_address(Channel.WECOM, KEY) == "693a****"
    assert KEY not in wecom.masked_webhook(BASE, KEY)
    assert wecom.masked_webhook(BASE, KEY).endswith("?key=693a****")
    assert wecom.scrub(f"ConnectError: {BASE}/cgi-bin/webhook/send?key={KEY}", KEY).count(KEY) == 0
    # the other channels keep their masks
    assert mask_address(Channel.SMS, "13800000000") == "138****0000"
    assert mask_address(Channel.EMAIL, "ops@example.com") == "o***@example.com"
    assert mask_address(Channel.WECOM, "") == ""


def test_a_log_line_with_the_webhook_url_does_not_carry_the_key() -> None:
    # httpx logs every request's URL at INFO; the formatter masks URL secrets like phone numbers.
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s \"HTTP/1.1 200 OK\"",
                               (wecom.webhook_url(BASE, KEY),), None)
    line = JsonFormatter("notifier").format(record)
    assert KEY not in line and "key=693a****" in json.loads(line)["msg"]


# ---------------------------------------------------------------- the answers


@pytest.mark.parametrize(("errcode", "kind"), [
    (45009, FailureKind.TRANSIENT),  # more than 20 a minute: wait and try again
    (-1, FailureKind.TRANSIENT),  # the platform is busy
    (93000, FailureKind.PERMANENT),  # invalid webhook: the robot was removed
    (40008, FailureKind.PERMANENT),  # a message the robot does not take
    (45002, FailureKind.PERMANENT),
])
def test_a_non_zero_errcode_is_a_failure_and_only_rate_limits_and_busy_are_retried(errcode: int,
                                                                                   kind: FailureKind) -> None:
    assert classify_failure(robot_errcode=errcode) is kind


def test_a_group_message_is_held_for_quiet_hours_unless_urgent_like_an_sms() -> None:
    night = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 23:00 Beijing
    held = schedule(channel=Channel.WECOM, urgent=False, at=night, quiet_hours=DEFAULT_QUIET_HOURS)
    assert held.status is Status.DEFERRED and held.reason == "quiet_hours"
    assert schedule(channel=Channel.WECOM, urgent=True, at=night, quiet_hours=DEFAULT_QUIET_HOURS).status \
        is Status.QUEUED
    assert schedule(channel=Channel.EMAIL, urgent=False, at=night, quiet_hours=DEFAULT_QUIET_HOURS).status \
        is Status.QUEUED


# ---------------------------------------------------------------- 4096 bytes


def test_truncation_cuts_at_a_character_boundary() -> None:
    text = "货" * 2000  # 6000 bytes
    cut = wecom.truncate_utf8(text)
    assert wecom.markdown_bytes(cut) <= wecom.MARKDOWN_MAX_BYTES and cut.endswith("…")
    cut.encode("utf-8")  # whole characters only
    assert wecom.truncate_utf8("short") == "short"


def test_fit_markdown_keeps_the_most_lines_that_fit() -> None:
    def render(limit: int | None) -> str:
        lines = list(range(1000))[:limit]
        return "\n".join(f"line {i:04d} 货物" for i in lines) + f"\n{1000 - len(lines)} more"

    text = wecom.fit_markdown(render, 1000)
    assert wecom.fits(text)
    shown = text.count("line ")
    assert shown > 0 and not wecom.fits(render(shown + 1))  # one more would not fit
    assert text.endswith(f"{1000 - shown} more")


def test_a_long_daily_report_is_cut_to_the_robot_limit_and_says_what_it_left_out() -> None:
    data = {**SAMPLE_DATA["daily_arrivals"], "rows": SAMPLE_DATA["daily_arrivals"]["rows"] * 150}
    for language, left_out in (("zh-CN", "票未列出"), ("en", "more not listed")):
        text = renderer.render("daily_arrivals", Channel.WECOM, language, data).text
        assert wecom.fits(text) and left_out in text
    short = renderer.render("daily_arrivals", Channel.WECOM, "zh-CN", SAMPLE_DATA["daily_arrivals"]).text
    assert "未列出" not in short


def test_a_huge_free_text_is_cut_rather_than_refused_by_the_robot() -> None:
    data = {**SAMPLE_DATA["exception_reported"], "description": "外箱破损" * 2000}
    assert wecom.fits(renderer.render("exception_reported", Channel.WECOM, "zh-CN", data).text)


def test_data_cannot_write_markdown_into_a_group_message() -> None:
    data = {**SAMPLE_DATA["delayed"], "recipient_name": "[点此退款](http://evil.example.com) <font>**x**"}
    text = renderer.render("delayed", Channel.WECOM, "zh-CN", data).text
    assert "[点此退款](" not in text and "<font>" not in text and "**x**" not in text
    assert "［点此退款］" in text
    # the template's own markdown stays
    assert '<font color="warning">' in text and "**SH2026112800001**" in text
