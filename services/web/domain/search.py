"""What the desk's one search box was given: a waybill number (whole or a prefix), a phone
number (whole, or its last 4 digits) or a customer (id or name)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["waybill", "phone", "phone_last4", "customer", "empty"]

# SH2026112800001, or a prefix of one (SH2026); letters and digits, at least one digit
_WAYBILL = re.compile(r"^(?=.*\d)[A-Z][A-Z0-9-]{3,39}$")
_PHONE = re.compile(r"^\+?\d{7,15}$")
_LAST4 = re.compile(r"^\d{4}$")
_DIGITS_ONLY_WAYBILL = re.compile(r"^\d{8,}$")


@dataclass(frozen=True)
class Query:
    kind: Kind
    value: str


def classify(raw: str) -> Query:
    """`raw` as the box's user meant it. Spaces and dashes inside numbers are ignored; a
    waybill number is upper-cased (people type `sh2026...`)."""
    text = raw.strip()
    if not text:
        return Query("empty", "")
    compact = re.sub(r"[\s-]", "", text)
    if _LAST4.match(compact):
        return Query("phone_last4", compact)
    if _PHONE.match(compact) and compact.lstrip("+").startswith("1") and len(compact.lstrip("+")) == 11:
        return Query("phone", compact.lstrip("+"))
    if _WAYBILL.match(compact.upper()) or _DIGITS_ONLY_WAYBILL.match(compact):
        return Query("waybill", compact.upper())
    if _PHONE.match(compact):
        return Query("phone", compact.lstrip("+"))
    return Query("customer", text[:100])
