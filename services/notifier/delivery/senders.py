"""The outside world: e-mail over SMTP (aiosmtplib), SMS over HTTP gateways and WeChat Work group
robots (httpx).

A sender takes one stored, already rendered message and answers with the outcome of every
provider call it made (for the audit) and the final result. Failures are classified with
`domain.retries.classify_failure`: transient (retry later) or permanent (give up now).

SMS fallback: the fallback gateway is tried when the primary fails transiently (5xx,
timeout, connection error). A 4xx from the primary means the request itself is wrong
(e.g. an invalid number): another gateway would not help, so it is a permanent failure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import httpx

from services.notifier import metrics
from services.notifier.domain import wecom
from services.notifier.domain.retries import classify_failure
from services.notifier.domain.vocabulary import Channel, FailureKind
from services.notifier.settings import NotifierSettings
from shared.types import is_dialable, is_email

log = logging.getLogger("lcs.notifier")

ERROR_MAX = 500


@dataclass(frozen=True)
class Attachment:
    """A file sent with an e-mail (the storage report's spreadsheet)."""

    name: str
    content_type: str  # e.g. application/vnd.openxmlformats-officedocument.spreadsheetml.sheet
    content: bytes


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: str
    idempotency_key: str
    channel: Channel
    to: str
    subject: str | None
    text: str
    html: str | None
    attachment: Attachment | None = None


@dataclass(frozen=True)
class ProviderCall:
    provider: str
    outcome: str  # ok | transient | permanent
    error: str | None
    duration_ms: int


@dataclass
class SendResult:
    ok: bool
    provider: str
    kind: FailureKind | None = None
    error: str | None = None
    provider_message_id: str | None = None
    calls: list[ProviderCall] = field(default_factory=list)
    retry_after: float | None = None  # the provider asked us to wait at least this long (seconds)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


class EmailSender:
    provider = "smtp"

    def __init__(self, settings: NotifierSettings) -> None:
        self.s = settings

    def build(self, msg: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.s.smtp_from
        email["To"] = msg.to
        email["Subject"] = msg.subject or ""
        email["Date"] = formatdate(localtime=False, usegmt=True)
        # Derived from the idempotency key: a re-send after a crash carries the same id, so
        # the receiving side can recognise the duplicate.
        email["Message-ID"] = f"<{msg.idempotency_key}@{self.s.message_id_domain}>"
        email["X-LCS-Idempotency-Key"] = msg.idempotency_key
        email["X-LCS-Notification-Id"] = msg.notification_id
        email.set_content(msg.text)
        if msg.html is not None:
            email.add_alternative(msg.html, subtype="html")
        if msg.attachment is not None:
            # multipart/mixed: the text and HTML alternatives, then the file.
            maintype, _, subtype = msg.attachment.content_type.partition("/")
            email.add_attachment(msg.attachment.content, maintype=maintype, subtype=subtype,
                                 filename=msg.attachment.name)
        return email

    async def send(self, msg: OutgoingMessage) -> SendResult:
        if not is_email(msg.to):
            kind = classify_failure(invalid_address=True)
            error = "invalid e-mail address"
            return SendResult(False, self.provider, kind, error,
                              calls=[ProviderCall(self.provider, str(kind), error, 0)])
        started = time.perf_counter()
        try:
            await aiosmtplib.send(
                self.build(msg), hostname=self.s.smtp_host, port=self.s.smtp_port,
                username=self.s.smtp_user or None, password=self.s.smtp_password or None,
                start_tls=self.s.smtp_starttls, use_tls=self.s.smtp_use_tls, timeout=self.s.smtp_timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            ms = _elapsed_ms(started, Channel.EMAIL, self.provider)
            kind = classify_failure(error=exc)
            error = _describe(exc)
            return SendResult(False, self.provider, kind, error,
                              calls=[ProviderCall(self.provider, str(kind), error, ms)])
        ms = _elapsed_ms(started, Channel.EMAIL, self.provider)
        return SendResult(True, self.provider, calls=[ProviderCall(self.provider, "ok", None, ms)])


class SmsSender:
    PRIMARY = "sms-primary"
    FALLBACK = "sms-fallback"

    def __init__(self, settings: NotifierSettings, client: httpx.AsyncClient) -> None:
        self.s = settings
        self.client = client

    def gateways(self) -> list[tuple[str, str, str | None]]:
        found: list[tuple[str, str, str | None]] = []
        if self.s.sms_url:
            found.append((self.PRIMARY, self.s.sms_url, self.s.sms_token))
        if self.s.sms_fallback_url:
            found.append((self.FALLBACK, self.s.sms_fallback_url, self.s.sms_fallback_token or self.s.sms_token))
        return found

    async def send(self, msg: OutgoingMessage) -> SendResult:
        if not is_dialable(msg.to):
            kind = classify_failure(invalid_address=True)
            error = "invalid phone number"
            return SendResult(False, self.PRIMARY, kind, error,
                              calls=[ProviderCall(self.PRIMARY, str(kind), error, 0)])
        gateways = self.gateways()
        if not gateways:
            error = "no SMS gateway configured (LCS_SMS_URL)"
            return SendResult(False, "none", FailureKind.TRANSIENT, error,
                              calls=[ProviderCall("none", "transient", error, 0)])
        calls: list[ProviderCall] = []
        result = SendResult(False, gateways[0][0])
        for provider, url, token in gateways:
            result = await self._call(provider, url, token, msg)
            calls.extend(result.calls)
            if result.ok or result.kind is FailureKind.PERMANENT:
                break
            log.warning("sms gateway failed; trying the next one",
                        extra={"provider": provider, "error": result.error})
        result.calls = calls
        return result

    async def _call(self, provider: str, url: str, token: str | None, msg: OutgoingMessage) -> SendResult:
        headers = {"Idempotency-Key": msg.idempotency_key}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = await self.client.post(url, json={"to": msg.to, "text": msg.text}, headers=headers,
                                              timeout=self.s.sms_timeout)
        except httpx.HTTPError as exc:
            ms = _elapsed_ms(started, Channel.SMS, provider)
            kind = classify_failure(error=exc)
            error = _describe(exc) if str(exc) else f"{type(exc).__name__} after {ms} ms"
            return SendResult(False, provider, kind, error, calls=[ProviderCall(provider, str(kind), error, ms)])
        ms = _elapsed_ms(started, Channel.SMS, provider)
        if response.is_success:
            message_id: str | None = None
            try:
                body = response.json()
                if isinstance(body, dict) and body.get("id") is not None:
                    message_id = str(body["id"])[:200]
            except ValueError:
                pass
            return SendResult(True, provider, provider_message_id=message_id,
                              calls=[ProviderCall(provider, "ok", None, ms)])
        kind = classify_failure(http_status=response.status_code)
        error = f"HTTP {response.status_code}: {response.text[:200]}"
        return SendResult(False, provider, kind, error, calls=[ProviderCall(provider, str(kind), error, ms)])


class WecomSender:
    """A key account's WeChat Work group, through its group robot's webhook (`domain/wecom.py`).

    The robot has no idempotency header: a send that crashed after the robot took it may post
    the message twice (at least once, as SMTP without a Message-ID check would be)."""

    provider = "wecom"

    def __init__(self, settings: NotifierSettings, client: httpx.AsyncClient) -> None:
        self.s = settings
        self.client = client

    async def send(self, msg: OutgoingMessage) -> SendResult:
        key = msg.to
        if not wecom.is_robot_key(key):
            return self._failed(classify_failure(invalid_address=True), "invalid group robot key", 0)
        if not wecom.fits(msg.text):
            # The renderer keeps every message within the limit; this is the last guard.
            return self._failed(FailureKind.PERMANENT, f"markdown content over {wecom.MARKDOWN_MAX_BYTES} bytes", 0)
        started = time.perf_counter()
        try:
            response = await self.client.post(
                wecom.webhook_url(self.s.wecom_base_url, key),
                json={"msgtype": "markdown", "markdown": {"content": msg.text}}, timeout=self.s.wecom_timeout)
        except httpx.HTTPError as exc:
            ms = _elapsed_ms(started, Channel.WECOM, self.provider)
            # httpx puts the URL (and so the key) in some messages: never let it into the audit.
            error = wecom.scrub(_describe(exc), key) if str(exc) else f"{type(exc).__name__} after {ms} ms"
            return self._failed(classify_failure(error=exc), error, ms)
        ms = _elapsed_ms(started, Channel.WECOM, self.provider)
        if not response.is_success:
            error = wecom.scrub(f"HTTP {response.status_code}: {response.text[:200]}", key)
            return self._failed(classify_failure(http_status=response.status_code), error, ms)
        try:
            body = response.json()
            errcode = int(body["errcode"])
            errmsg = str(body.get("errmsg", ""))[:200]
        except (ValueError, KeyError, TypeError):
            return self._failed(FailureKind.TRANSIENT, f"unreadable answer: {response.text[:200]}", ms)
        if errcode == wecom.ERRCODE_OK:
            return SendResult(True, self.provider, calls=[ProviderCall(self.provider, "ok", None, ms)])
        result = self._failed(classify_failure(robot_errcode=errcode), f"errcode {errcode}: {errmsg}", ms)
        if errcode == wecom.ERRCODE_RATE_LIMITED:
            result.retry_after = wecom.RATE_LIMIT_RETRY_S
        return result

    def _failed(self, kind: FailureKind, error: str, ms: int) -> SendResult:
        return SendResult(False, self.provider, kind, error, calls=[ProviderCall(self.provider, str(kind), error, ms)])


def _elapsed_ms(started: float, channel: Channel, provider: str) -> int:
    seconds = time.perf_counter() - started
    metrics.SEND_DURATION.labels(str(channel), provider).observe(seconds)
    return int(seconds * 1000)
