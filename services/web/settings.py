"""The web service's own settings (`LCS_*`), on top of the shared ones.

The backends' base URLs, the session and lockout rules, the map's tile server (optional),
and how long the tokens minted for a signed-in person live.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field

from shared.settings import Settings


class WebSettings(Settings):
    # The four backends' base URLs: web calls their public /v1 APIs and nothing else.
    tracking_url: str = "http://127.0.0.1:8001"
    receipts_url: str = "http://127.0.0.1:8002"
    complaints_url: str = "http://127.0.0.1:8003"
    notifier_url: str = "http://127.0.0.1:8004"
    backend_timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    backend_connect_timeout_seconds: float = Field(default=2.0, gt=0, le=30)
    backend_get_retries: int = Field(default=2, ge=0, le=5, description="retries of an idempotent GET only")
    backend_token_ttl_seconds: int = Field(default=300, ge=30, le=3600,
                                           description="lifetime of the JWT minted per signed-in person")

    # Sessions: a signed, HttpOnly, SameSite=Lax cookie naming a row in web.sessions.
    session_idle_minutes: int = Field(default=12 * 60, ge=5, le=7 * 24 * 60)
    session_secret: str = Field(default="", description="signs session cookies; empty = derived from "
                                                        "LCS_AUTH_SECRET")
    cookie_secure: bool | None = Field(default=None, description="Secure cookies; default: on outside dev")

    # Sign-in: this many failures in a row lock the account for lockout_minutes.
    lockout_failures: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    # ... and this many failed sign-ins from one client address in a minute make that address
    # wait for the minute's end (429), whichever accounts they tried; 0 = no such limit.
    login_failures_per_address: int = Field(default=10, ge=0, le=100_000,
                                            description="failed sign-ins per client address and minute; 0 = no limit")

    # The public tracking page (/track, /t/{token}): look-ups per client address and minute; wrong
    # digits per waybill before it refuses digit checks, and for how long; how long the audit log
    # of look-ups is kept.
    public_lookups_per_address: int = Field(default=10, ge=0, le=100_000,
                                            description="public look-ups per client address and minute; 0 = no limit")
    public_digit_failures: int = Field(default=5, ge=1, le=100,
                                       description="wrong phone digits on one waybill before it refuses digit checks")
    public_digit_lock_minutes: int = Field(default=30, ge=1, le=24 * 60,
                                           description="how long a waybill refuses digit checks (and the window "
                                                       "its wrong digits are counted in)")
    public_lookup_retention_days: int = Field(default=90, ge=1, le=3650,
                                              description="how long the audit log of public look-ups is kept")

    # Live updates (Server-Sent Events).
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0, le=120)
    sse_queue_size: int = Field(default=256, ge=8, le=10_000)

    # The map: blank background unless an (intranet) tile URL is given, e.g.
    # https://tiles.example.internal/{z}/{x}/{y}.png
    map_tile_url: str | None = None
    map_tile_attribution: str = ""

    def session_key(self) -> bytes:
        """The key signing session cookies: its own, or one derived from the auth secret (so a
        deployment needs no extra secret, and the two never share a key)."""
        if self.session_secret:
            return self.session_secret.encode()
        return hmac.new(self.auth_secret.encode(), b"lcs-web-session-cookie", hashlib.sha256).digest()

    def secure_cookies(self) -> bool:
        return self.cookie_secure if self.cookie_secure is not None else self.env != "dev"
