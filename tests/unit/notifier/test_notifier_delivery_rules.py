"""Idempotency, failure classification, retry back-off and SMS length."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.domain.idempotency import idempotency_key, normalize_address
from services.notifier.domain.recipients import NotifierConfig
from services.notifier.domain.retries import classify_failure, next_retry_delay, should_retry
from services.notifier.domain.sms import SmsEncoding, sms_info, sms_segments
from services.notifier.domain.vocabulary import Channel, FailureKind

# ---------------------------------------------------------------- idempotency


def test_idempotency_key_is_a_stable_sha256() -> None:
    key = idempotency_key("evt-1", "sms", "13800000000")
    # Pinned: the key is stored in a unique index, so it must never change between releases.
    assert key == "1ad0487308ac29270fd8a49df158a987ca6288383d52eebd3725f446749386ee"
    assert key == idempotency_key("evt-1", Channel.SMS, "13800000000")


def test_idempotency_key_differs_by_event_channel_and_address() -> None:
    keys = {
        idempotency_key("evt-1", "sms", "13800000000"),
        idempotency_key("evt-2", "sms", "13800000000"),
        idempotency_key("evt-1", "email", "13800000000"),
        idempotency_key("evt-1", "sms", "13900000000"),
    }
    assert len(keys) == 4


def test_idempotency_key_ignores_how_the_address_is_written() -> None:
    assert idempotency_key("e", "email", "Ops@Example.com ") == idempotency_key("e", "email", "ops@example.com")
    assert idempotency_key("e", "sms", "138-0000 0000") == idempotency_key("e", "sms", "13800000000")
    assert normalize_address("sms", "(138) 0000-0000") == "13800000000"


def test_parts_cannot_run_into_each_other() -> None:
    assert idempotency_key("evt-1s", "sms", "1") != idempotency_key("evt-1", "sms", "s1")


# ---------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"smtp_code": 550}, FailureKind.PERMANENT),
        ({"smtp_code": 553}, FailureKind.PERMANENT),
        ({"smtp_code": 421}, FailureKind.TRANSIENT),
        ({"smtp_code": 451}, FailureKind.TRANSIENT),
        ({"http_status": 400}, FailureKind.PERMANENT),
        ({"http_status": 401}, FailureKind.PERMANENT),
        ({"http_status": 422}, FailureKind.PERMANENT),
        ({"http_status": 408}, FailureKind.TRANSIENT),  # the gateway asks us to come back
        ({"http_status": 429}, FailureKind.TRANSIENT),
        ({"http_status": 500}, FailureKind.TRANSIENT),
        ({"http_status": 503}, FailureKind.TRANSIENT),
        ({"invalid_address": True}, FailureKind.PERMANENT),
        ({"invalid_address": True, "http_status": 503}, FailureKind.PERMANENT),
        ({"error": TimeoutError()}, FailureKind.TRANSIENT),
        ({"error": ConnectionRefusedError()}, FailureKind.TRANSIENT),
        ({"error": RuntimeError("who knows")}, FailureKind.TRANSIENT),
        ({}, FailureKind.TRANSIENT),
    ],
)
def test_classify_failure(kwargs: dict, expected: FailureKind) -> None:
    assert classify_failure(**kwargs) is expected


class FakeSMTPResponseError(Exception):
    """Shaped like aiosmtplib.SMTPResponseException."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class FakeRecipientsRefused(Exception):
    """Shaped like aiosmtplib.SMTPRecipientsRefused."""

    def __init__(self, codes: list[int]) -> None:
        super().__init__(codes)
        self.recipients = [FakeSMTPResponseError(c) for c in codes]


class FakeResponse:
    def __init__(self, status_code: int) -> None:
        self.status_code = status_code


class FakeHTTPStatusError(Exception):
    """Shaped like httpx.HTTPStatusError."""

    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.response = FakeResponse(status_code)


def test_classify_reads_codes_from_library_exceptions() -> None:
    assert classify_failure(error=FakeSMTPResponseError(550)) is FailureKind.PERMANENT
    assert classify_failure(error=FakeSMTPResponseError(450)) is FailureKind.TRANSIENT
    assert classify_failure(error=FakeRecipientsRefused([550])) is FailureKind.PERMANENT
    assert classify_failure(error=FakeHTTPStatusError(404)) is FailureKind.PERMANENT
    assert classify_failure(error=FakeHTTPStatusError(502)) is FailureKind.TRANSIENT


# ---------------------------------------------------------------- retries


def test_retry_ceiling_doubles_then_caps() -> None:
    class Top:
        def uniform(self, a: float, b: float) -> float:
            return b

    assert [next_retry_delay(n, 2.0, 60.0, Top()) for n in range(1, 8)] == [2, 4, 8, 16, 32, 60, 60]


def test_retry_uses_full_jitter_from_zero() -> None:
    class Bottom:
        def uniform(self, a: float, b: float) -> float:
            return a

    assert next_retry_delay(5, 2.0, 60.0, Bottom()) == 0.0


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert 0 <= next_retry_delay(10_000, 2.0, 300.0, random.Random(1)) <= 300.0


def test_attempt_is_one_based() -> None:
    with pytest.raises(ValueError):
        next_retry_delay(0, 1.0, 10.0, random.Random(1))


@given(
    attempt=st.integers(min_value=1, max_value=5_000),
    base=st.floats(min_value=0, max_value=1_000, allow_nan=False),
    cap=st.floats(min_value=0, max_value=86_400, allow_nan=False),
    seed=st.integers(),
)
def test_retry_delay_stays_within_zero_and_cap(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = next_retry_delay(attempt, base, cap, random.Random(seed))
    assert 0.0 <= delay <= cap
    assert delay <= base * 2.0 ** min(attempt - 1, 62)


def test_should_retry_transient_until_max_attempts() -> None:
    max_attempts = NotifierConfig().max_attempts
    assert should_retry(FailureKind.TRANSIENT, 1, max_attempts)
    assert should_retry(FailureKind.TRANSIENT, max_attempts - 1, max_attempts)
    assert not should_retry(FailureKind.TRANSIENT, max_attempts, max_attempts)
    assert not should_retry(FailureKind.PERMANENT, 1, max_attempts)


# ---------------------------------------------------------------- SMS length


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", SmsEncoding.GSM7, 0, 1),
        ("a" * 160, SmsEncoding.GSM7, 160, 1),
        ("a" * 161, SmsEncoding.GSM7, 161, 2),
        ("a" * 306, SmsEncoding.GSM7, 306, 2),
        ("a" * 307, SmsEncoding.GSM7, 307, 3),
        ("[" * 80, SmsEncoding.GSM7, 160, 1),  # extension characters cost two septets
        ("您" * 70, SmsEncoding.UCS2, 70, 1),
        ("您" * 71, SmsEncoding.UCS2, 71, 2),
        ("您" * 134, SmsEncoding.UCS2, 134, 2),
        ("您" * 135, SmsEncoding.UCS2, 135, 3),
        ("a" * 69 + "您", SmsEncoding.UCS2, 70, 1),  # one Chinese character switches the whole text
        ("😀" * 35, SmsEncoding.UCS2, 70, 1),  # outside the BMP: two UTF-16 units each
    ],
)
def test_sms_info(text: str, encoding: SmsEncoding, units: int, segments: int) -> None:
    info = sms_info(text)
    assert (info.encoding, info.units, info.segments) == (encoding, units, segments)
    assert sms_segments(text) == segments
