"""Signed cookie values: `<value>.<signature>`, HMAC-SHA256 over the value, URL-safe base64.

The session cookie carries a random session id; its signature lets the service refuse a
forged or truncated cookie before it touches the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def _sig(key: bytes, value: str) -> str:
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sign(key: bytes, value: str) -> str:
    if "." in value:
        raise ValueError("a signed value may not contain '.'")
    return f"{value}.{_sig(key, value)}"


def unsign(key: bytes, signed: str | None) -> str | None:
    """The value, if `signed` carries a valid signature under `key`; None otherwise."""
    if not signed or signed.count(".") != 1:
        return None
    value, sig = signed.split(".")
    if not value or not hmac.compare_digest(sig, _sig(key, value)):
        return None
    return value


def digest(value: str) -> bytes:
    """What the database keeps of a session id (its SHA-256), never the id itself."""
    return hashlib.sha256(value.encode()).digest()
