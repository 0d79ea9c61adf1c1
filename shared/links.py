"""Signed links to the public tracking page, and the public's waybill numbers.

A link `<base>/t/<token>` opens a waybill's detailed public view without the phone digits, until
it expires (30 days by default). The notifier signs them into its notices; tracking verifies
them before it shows the detailed view. The token is

    <waybill_no>.<expires, epoch seconds in base 36>.<kid>.<MAC>

MAC = the first 12 bytes of HMAC-SHA256(key[kid], "lcs-public-link.v1|kid|waybill|expires"),
base64url without padding (16 characters: short enough for an SMS, 96 bits against forgery).

Keys come in a ring, `LCS_PUBLIC_LINK_KEYS` = `kid:secret,kid:secret,...`: the first signs, every
one verifies, so a rotation (put the new key first, keep the old one until its links expired)
breaks no link. The ring is its own secret, never the JWT secret.

`normalise_waybill` is how a number typed by the public is read before any look-up or limit:
full-width forms to ASCII (NFKC), every kind of space (and invisible format character) dropped,
upper case; so `sh 2026 0001`, `ＳＨ２０２６０００１` and `SH20260001` are one waybill, one limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import Field, model_validator

from shared.settings import MIN_SECRET_BYTES, Settings

_DOMAIN = b"lcs-public-link.v1"
MAC_BYTES = 12
DEV_LINK_KEYS = "dev:dev-public-link-key-change-me"
KID_PATTERN = re.compile(r"^[A-Za-z0-9]{1,8}$")
_PUBLIC_WAYBILL = re.compile(r"^[A-Z0-9-]{4,32}$")
_TOKEN = re.compile(r"^([A-Za-z0-9-]{4,32})\.([0-9a-z]{1,10})\.([A-Za-z0-9]{1,8})\.([A-Za-z0-9_-]{16})$")
TOKEN_MAX_LENGTH = 80
# Verified against when a token names a key the ring does not hold, so that it costs the same.
_DUMMY_KEY = hashlib.sha256(b"lcs-public-link: no such key").digest()


def normalise_waybill(text: str) -> str | None:
    """A waybill number as the public typed it, in the one form look-ups and limits use; None when
    it cannot be a waybill number (then no look-up is made)."""
    folded = unicodedata.normalize("NFKC", text or "")
    kept = "".join(c for c in folded if not (c.isspace() or unicodedata.category(c) in ("Cf", "Zs")))
    value = kept.upper()
    return value if _PUBLIC_WAYBILL.match(value) else None


@dataclass(frozen=True)
class LinkKeys:
    """A key ring: `signing` signs, every key in `keys` verifies."""

    signing: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, text: str) -> LinkKeys | None:
        """`kid:secret,kid:secret` (the first signs); None for an empty text. ValueError on a bad entry."""
        entries = [e.strip() for e in (text or "").split(",") if e.strip()]
        if not entries:
            return None
        keys: dict[str, bytes] = {}
        for entry in entries:
            kid, sep, secret = entry.partition(":")
            if not sep or not KID_PATTERN.match(kid) or not secret:
                raise ValueError("each public link key is `kid:secret` (kid: 1-8 letters or digits)")
            if kid in keys:
                raise ValueError(f"public link key id {kid!r} appears twice")
            keys[kid] = secret.encode()
        return cls(signing=entries[0].partition(":")[0], keys=keys)


def _mac(key: bytes, kid: str, waybill_no: str, expires: str) -> str:
    message = b"|".join((_DOMAIN, kid.encode(), waybill_no.encode(), expires.encode()))
    digest = hmac.new(key, message, hashlib.sha256).digest()[:MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if not value:
            return out


def sign(keys: LinkKeys, waybill_no: str, expires_at: datetime) -> str:
    """The token for `waybill_no`, valid until `expires_at` (aware)."""
    expires = _base36(int(expires_at.timestamp()))
    return f"{waybill_no}.{expires}.{keys.signing}.{_mac(keys.keys[keys.signing], keys.signing, waybill_no, expires)}"


def verify(keys: LinkKeys | None, token: str, now: datetime) -> str | None:
    """The waybill number a token opens, or None when it is malformed, forged, signed with a key the
    ring does not hold, or expired — one answer for all of them."""
    match = _TOKEN.match(token or "") if len(token or "") <= TOKEN_MAX_LENGTH else None
    if match is None or keys is None:
        return None
    waybill_no, expires, kid, mac = match.groups()
    key = keys.keys.get(kid)
    good = hmac.compare_digest(_mac(key if key is not None else _DUMMY_KEY, kid, waybill_no, expires), mac)
    if not good or key is None or int(expires, 36) <= now.timestamp():
        return None
    return waybill_no


def link_url(base_url: str, token: str) -> str:
    return base_url.strip().rstrip("/") + "/t/" + token


class PublicLinkSettings(Settings):
    """The settings of a service that signs or verifies public links (tracking, notifier)."""

    public_link_keys: str = Field(
        default="", max_length=4000,
        description="The key ring of the public tracking links: `kid:secret,...`, the first signs, all verify "
                    "(rotate by putting a new key first). Each secret at least 32 bytes outside dev and never "
                    "LCS_AUTH_SECRET. Empty: in dev a development key; elsewhere no links (notices carry none, "
                    "`/t/...` opens nothing).")
    public_link_days: int = Field(default=30, ge=1, le=366, description="How long a public tracking link opens.")

    @model_validator(mode="after")
    def _check_link_keys(self) -> PublicLinkSettings:
        ring = LinkKeys.parse(self.public_link_keys)  # ValueError: a malformed ring refuses to start
        if ring is None or self.env == "dev":
            return self
        for kid, secret in ring.keys.items():
            if len(secret) < MIN_SECRET_BYTES or secret == DEV_LINK_KEYS.partition(":")[2].encode():
                raise ValueError(f"LCS_PUBLIC_LINK_KEYS: key {kid!r} must be a secret of at least "
                                 f"{MIN_SECRET_BYTES} bytes when LCS_ENV={self.env}")
            if secret == self.auth_secret.encode():
                raise ValueError(f"LCS_PUBLIC_LINK_KEYS: key {kid!r} must not be LCS_AUTH_SECRET")
        return self

    def link_keys(self) -> LinkKeys | None:
        """The ring in force: the configured one; in dev without one, the development key."""
        ring = LinkKeys.parse(self.public_link_keys)
        if ring is None and self.env == "dev":
            return LinkKeys.parse(DEV_LINK_KEYS)
        return ring

    def link_lifetime(self) -> timedelta:
        return timedelta(days=self.public_link_days)
