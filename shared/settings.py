"""Configuration from the environment: one typed settings class, `LCS_` prefix.

Every service reads the same base settings (database, broker, auth, HTTP) and may
extend them. Outside `LCS_ENV=dev` the process refuses to start with a default,
empty or short secret: a forgotten secret must fail loudly, not run open.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-secret-change-me"  # noqa: S105 - the documented dev default, refused elsewhere
DEV_ID_HASH_KEY = "dev-id-hash-key-change-me"
MIN_SECRET_BYTES = 32

DEFAULT_PORTS = {"tracking": 8001, "receipts": 8002, "complaints": 8003, "notifier": 8004, "web": 8005}
# The largest relay batch (`LCS_OUTBOX_BATCH`); the bus connection queues a whole one (shared.bus).
OUTBOX_BATCH_MAX = 10_000


class Settings(BaseSettings):
    """Settings shared by every service. Each field maps to `LCS_<FIELD>`."""

    model_config = SettingsConfigDict(env_prefix="LCS_", extra="ignore", case_sensitive=False)

    env: Literal["dev", "test", "prod"] = "prod"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/lcs"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    exchange: str = "lcs.events"

    auth_secret: str = DEV_SECRET
    id_hash_key: str = DEV_ID_HASH_KEY

    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65535)
    metrics_port: int = Field(default=0, ge=0, le=65535)
    log_level: str = "INFO"

    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    migrate_on_start: bool = True

    prefetch: int = Field(
        default=200, ge=1, le=10_000,
        description="RabbitMQ consumer prefetch: unacked deliveries a consumer holds at once. Keep it about "
                    "twice `LCS_CONSUMER_BATCH_MAX`, so the next group fills while one commits.")
    consumer_batch_max: int = Field(
        default=100, ge=1, le=1_000,
        description="Most events the consumer handles in one transaction (one inbox insert, the handlers, one "
                    "commit, then one ack for the group when nothing before it is unsettled, else an ack each; "
                    "runs of an event type with a set-based handler go to it in one call). It takes only what "
                    "is already waiting, so a quiet queue still gets "
                    "one-event transactions; a failing handler makes its group go one by one. "
                    "Bounded by `LCS_PREFETCH`; 1 = one transaction per event.")
    consumer_linger_ms: float = Field(
        default=2.0, ge=0, le=100,
        description="Under load, how long the consumer waits for more deliveries before it takes the next "
                    "group: only when the previous group held more than one event and less than half a batch "
                    "is waiting, so groups grow (fewer statements, commits and acks per event) while a quiet "
                    "queue never waits. 0 = never wait.")
    retry_delays_ms: list[int] = Field(default_factory=lambda: [1_000, 5_000, 30_000])
    outbox_batch: int = Field(default=200, ge=1, le=OUTBOX_BATCH_MAX)
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_retention_hours: int = Field(default=72, ge=1)

    shutdown_grace_seconds: float = Field(default=25.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    rate_limit_per_minute: int = Field(
        default=600, ge=0,
        description="Write requests per caller (verified principal, else client address) and minute, "
                    "counted in PostgreSQL across replicas; 0 = off.")
    http_keep_alive_seconds: int = Field(
        default=5, ge=1, le=300, description="An idle keep-alive connection is closed after this many seconds.")
    http_header_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300,
        description="A request's headers must be complete this long after the connection opens or the "
                    "previous response ends; otherwise the connection is closed (slow or idle clients).")
    http_max_concurrency: int = Field(
        default=2048, ge=16,
        description="Connections plus in-flight requests per process; beyond it new requests get 503 at once.")
    forwarded_allow_ips: str = Field(
        default="127.0.0.1", max_length=2000,
        validation_alias=AliasChoices("LCS_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"),
        description="Addresses or networks (comma-separated, CIDR allowed, `*` = any) whose `X-Forwarded-For` "
                    "and `X-Forwarded-Proto` are believed (uvicorn's `--forwarded-allow-ips`; uvicorn's own "
                    "`FORWARDED_ALLOW_IPS` is read too). Behind an ingress, its controller's addresses: else "
                    "every client has the controller's address (web's per-address sign-in limit counts them "
                    "all as one). Never wider than what only the proxy can reach from.")

    # What the API documents (OpenAPI `servers` and `info`) say about where and whose the API is.
    api_server_url: str = Field(
        default="", max_length=300,
        description="The URL clients reach this service's API at: the OpenAPI document's `servers` entry; "
                    "`{service}` is replaced by the service's name (`https://{service}.lcs.example.com`). "
                    "Empty = `/`, the host the document was fetched from.")
    api_contact_name: str = Field(default="lcs platform team", min_length=1, max_length=200,
                                  description="`info.contact.name` of the OpenAPI and AsyncAPI documents.")
    api_contact_email: str = Field(default="lcs-platform@example.com", max_length=200,
                                   description="`info.contact.email` of the API documents; empty = none.")
    api_contact_url: str = Field(default="", max_length=300,
                                 description="`info.contact.url` of the API documents; empty = none.")
    api_license_name: str = Field(default="Proprietary", min_length=1, max_length=200,
                                  description="`info.license.name` of the API documents.")
    api_license_identifier: str = Field(
        default="LicenseRef-lcs-proprietary", max_length=200,
        description="`info.license.identifier` (an SPDX expression) of the API documents; used when "
                    "`LCS_API_LICENSE_URL` is empty (a license names one or the other).")
    api_license_url: str = Field(default="", max_length=300,
                                 description="`info.license.url` of the API documents; empty = the identifier.")

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.env == "dev":
            return self
        for name in ("auth_secret", "id_hash_key"):
            value: str = getattr(self, name)
            if value in (DEV_SECRET, DEV_ID_HASH_KEY) or len(value.encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"LCS_{name.upper()} must be set to a secret of at least {MIN_SECRET_BYTES} bytes "
                    f"when LCS_ENV={self.env} (the development default is refused)"
                )
        return self

    def port_for(self, service: str) -> int:
        return self.port or DEFAULT_PORTS[service]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
