"""When a send fails: transient or permanent, how long to wait, whether to try again."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from services.notifier.domain.vocabulary import (
    REASON_NO_RECIPIENT,
    REASON_OPTED_OUT,
    REASON_ROLLED_UP,
    FailureKind,
    Status,
)
from services.notifier.domain.wecom import TRANSIENT_ERRCODES
from shared.errors import Conflict


class RandomSource(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


# 4xx from a gateway means "this request is wrong" and repeating it will not help — except
# "request timeout" and "too many requests", which are the gateway asking us to come back.
_TRANSIENT_HTTP_4XX = frozenset({408, 429})


def classify_failure(
    *,
    http_status: int | None = None,
    smtp_code: int | None = None,
    invalid_address: bool = False,
    error: BaseException | None = None,
    robot_errcode: int | None = None,
) -> FailureKind:
    """Transient (retry later) or permanent (give up now).

    Permanent: an invalid address, SMTP 5xx, HTTP 4xx (but 408/429), a group robot's non-zero
    errcode other than 45009 (rate limited) and -1 (busy) (`domain/wecom.py`). Transient: timeouts,
    connection errors, HTTP 5xx, SMTP 4xx. An ``error`` carrying an SMTP ``code`` or an HTTP
    ``response.status_code`` is judged by that code. Anything unrecognised is transient: the
    retry limit bounds the cost, while a wrong "permanent" would lose a message.
    """
    if invalid_address:
        return FailureKind.PERMANENT
    if robot_errcode is not None:
        return FailureKind.TRANSIENT if robot_errcode in TRANSIENT_ERRCODES else FailureKind.PERMANENT
    if error is not None and http_status is None and smtp_code is None:
        smtp_code, http_status = _codes_of(error)
    if smtp_code is not None:
        return FailureKind.PERMANENT if 500 <= smtp_code < 600 else FailureKind.TRANSIENT
    if http_status is not None:
        if 400 <= http_status < 500 and http_status not in _TRANSIENT_HTTP_4XX:
            return FailureKind.PERMANENT
        return FailureKind.TRANSIENT
    # Timeouts, refused or dropped connections, and whatever we do not recognise.
    return FailureKind.TRANSIENT


def _codes_of(error: BaseException) -> tuple[int | None, int | None]:
    """(SMTP code, HTTP status) an exception carries, read by duck typing so that the
    domain imports neither aiosmtplib (``.code``; ``.recipients`` for a refused recipient
    list) nor httpx (``.response.status_code``)."""
    smtp_code = _int_or_none(getattr(error, "code", None))
    if smtp_code is None:
        refused = getattr(error, "recipients", None)
        if isinstance(refused, list | tuple) and refused:
            smtp_code = _int_or_none(getattr(refused[0], "code", None))
    http_status = _int_or_none(getattr(getattr(error, "response", None), "status_code", None))
    return smtp_code, http_status


def next_retry_delay(attempt: int, base_s: float, cap_s: float, rng: RandomSource) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Exponential back-off with full jitter: uniform in ``[0, min(cap, base * 2**(attempt-1))]``.
    Full jitter spreads the retries of many messages that failed together (a gateway
    outage) instead of having them hammer the gateway in lock-step.
    """
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    if base_s < 0 or cap_s < 0:
        raise ValueError("base and cap must not be negative")
    # Clamp the exponent: 2**1100 overflows a float long after the cap has taken over.
    ceiling = min(cap_s, base_s * 2.0 ** min(attempt - 1, 62))
    return min(max(rng.uniform(0.0, ceiling), 0.0), ceiling)


def should_retry(kind: FailureKind, attempt: int, max_attempts: int) -> bool:
    """Retry a transient failure while attempts remain; after that the delivery is ``failed``.
    ``attempt`` counts from the last time the desk sent the notification again, if it did."""
    return kind is FailureKind.TRANSIENT and attempt < max_attempts


# What the desk may send again (``POST /v1/notifications/{id}/retry``): the notifications that
# ended without being sent. Queued and deferred ones are still on their way; sent ones arrived.
RETRYABLE_STATUSES: frozenset[Status] = frozenset({Status.FAILED, Status.SUPPRESSED})


def check_retryable(status: Status, *, reason: str | None, to: str, text: str,
                    rolled_into: uuid.UUID | None = None) -> None:
    """Refuse sending a notification again unless it ended unsent and has something to send.

    * queued, deferred or sent → 409 ``invalid_transition`` (so a second click, or a retry
      racing the dispatcher, has no second effect);
    * failed for ``no_recipient``, suppressed because the recipient ``opted_out``, or never
      rendered (a template error) → 409 ``not_retryable``: sending it again could not
      deliver anything, or would go against the recipient's wish;
    * a message held by the throttle, failed with its summary → 409 ``not_retryable``
      (``rolled_up``, ``summary_id``): the summary is what is sent again, and carries it.
    """
    status = Status(status)
    if status not in RETRYABLE_STATUSES:
        raise Conflict("invalid_transition", f"a {status} notification cannot be sent again",
                       {"current": str(status), "allowed": sorted(str(s) for s in RETRYABLE_STATUSES)})
    if rolled_into is not None:
        raise Conflict("not_retryable", "this message went inside a summary: send the summary again",
                       {"reason": REASON_ROLLED_UP, "summary_id": str(rolled_into)})
    if reason in (REASON_NO_RECIPIENT, REASON_OPTED_OUT) or not to or not text:
        why = reason if reason in (REASON_NO_RECIPIENT, REASON_OPTED_OUT) else "not_rendered"
        raise Conflict("not_retryable", "this notification has nothing to send again", {"reason": why})


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
