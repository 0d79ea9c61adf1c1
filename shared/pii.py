"""Masking of personal data: names, phone numbers, e-mail addresses and ID numbers.

Used by list responses and by the log formatter, so that no log line or list
ever carries a whole phone number, address or ID number.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_PHONE = re.compile(r"(?<!\d)(\+?86[- ]?)?(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
# A secret in a URL's query (a WeChat Work robot's `?key=`, an `access_token=`): four characters kept.
_URL_SECRET = re.compile(r"([?&](?:key|token|access_token|secret)=)([^&\s\"'#]{0,4})[^&\s\"'#]*")
_ID18 = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_phone(phone: str | None) -> str | None:
    """`13800000000` -> `138****0000`; short or odd numbers keep only the last 4 digits."""
    if phone is None:
        return None
    digits = phone.strip()
    if len(digits) >= 11:
        return f"{digits[:-8]}****{digits[-4:]}"
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "****"


def mask_name(name: str | None) -> str | None:
    """`杨民敬` -> `杨**`: the first character kept, every other hidden (a one-character name entirely)."""
    if name is None:
        return None
    text = name.strip()
    if len(text) <= 1:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 1)


def mask_email(email: str | None) -> str | None:
    """`ops@example.com` -> `o***@example.com`."""
    if email is None:
        return None
    local, sep, domain = email.partition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_id_number(last4: str | None) -> str | None:
    """Rendering of an ID number of which only the last 4 characters are kept."""
    if last4 is None:
        return None
    return "*" * 14 + last4


def mask_contact(value: str | None) -> str | None:
    """Mask a value that is either an e-mail address or a phone number."""
    if value is None:
        return None
    return mask_email(value) if "@" in value else mask_phone(value)


def mask_text(text: str) -> str:
    """Scrub every phone number, e-mail address, ID number and URL secret inside free text."""
    text = _URL_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}****", text)
    text = _ID18.sub(lambda m: "*" * 14 + m.group(3), text)  # group 3 is the last 4 characters
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)


def keyed_hash(value: str, key: str) -> str:
    """HMAC-SHA256 of a normalised value: equal inputs match, the input cannot be read back."""
    normalised = value.strip().upper()
    return hmac.new(key.encode(), normalised.encode(), hashlib.sha256).hexdigest()
