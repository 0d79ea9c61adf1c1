"""The notifier's own settings (each field is `LCS_<FIELD>`), on top of the shared ones."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator

from shared.clock import BUSINESS_TZ_NAME
from shared.links import PublicLinkSettings


class NotifierSettings(PublicLinkSettings):
    # E-mail over SMTP (STARTTLS / implicit TLS and auth are optional).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_use_tls: bool = False  # implicit TLS (port 465)
    smtp_from: str = "LCS物流 <noreply@lcs.example.com>"
    smtp_timeout: float = Field(default=10.0, gt=0)
    message_id_domain: str = "notifier.lcs.example.com"

    # SMS over an HTTP gateway, with a fallback gateway.
    sms_url: str | None = None
    sms_token: str | None = None
    sms_fallback_url: str | None = None
    sms_fallback_token: str | None = None  # defaults to sms_token when unset
    sms_timeout: float = Field(default=5.0, gt=0)

    # WeChat Work (企业微信) group robots: each key account's webhook key is in its preferences;
    # the webhooks are under this base URL (a stand-in's in tests and `make run`).
    wecom_base_url: str = Field(default="https://qyapi.weixin.qq.com", pattern=r"^https?://[^\s?#]+$",
                                max_length=200,
                                description="WeChat Work group robots: a webhook is accepted, and posted to, only "
                                            "under this base URL (dev and tests: the sinks' /wecom)")
    wecom_timeout: float = Field(default=5.0, gt=0, description="seconds per group robot call")

    # Routing and policy. Without a supervisor mailbox an SLA breach reaches nobody: it is then
    # stored `failed` with reason `no_recipient` and counted in lcs_notifier_no_recipient_total.
    supervisor_email: str | None = None
    default_language: Literal["zh-CN", "en"] = "zh-CN"
    # At most this many messages per recipient and channel in any rolling hour; more are rolled
    # up into one summary, sent when the hour has room again.
    throttle_per_hour: int = Field(default=10, ge=1)
    # The public site's address. Notices to shippers and consignees carry a signed link to the
    # waybill's tracking page (`<it>/t/<token>`, shared.links); a summary SMS too long to list its
    # waybills points to `<it>/track`. Unset: no links (said at start-up); the summary SMS says how
    # many and asks to call or reply instead.
    public_base_url: str | None = Field(default=None, pattern=r"^(https?://\S+)?$", max_length=200)
    # An event's CloudEvents `time` is used as the decision time when it is later than the
    # wall clock, but never more than this far ahead (a publisher with a wrong clock).
    decision_time_max_lead_seconds: float = Field(default=48 * 3600, ge=0)

    # Delivery and retries.
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_seconds: float = Field(default=2.0, ge=0)
    retry_cap_seconds: float = Field(default=300.0, ge=0)
    dispatch_concurrency: int = Field(default=4, ge=1, le=64)
    dispatch_poll_seconds: float = Field(default=1.0, gt=0)

    # The key customers' daily arrival report.
    digest_hour: int = Field(default=18, ge=0, le=23)
    digest_tz: str = BUSINESS_TZ_NAME
    digest_interval_seconds: float = Field(default=300.0, gt=0)
    # The key accounts' storage report (货物暂存报表): each account's own hour (preferences); the
    # job looks this often whether an account's hour has come.
    storage_report_interval_seconds: float = Field(
        default=300.0, gt=0, description="how often the storage report job looks whether an account's own hour "
                                         "(preferences) has come")

    # Events for shipments not registered yet are parked this long, waiting for the registration.
    parked_retention_hours: int = Field(default=168, ge=1)

    @field_validator("digest_tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value
