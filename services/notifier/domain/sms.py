"""How many SMS parts a text costs (GSM-7 or UCS-2)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

# GSM 03.38 basic set (one septet each) and extension set (escape + char = two septets).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


class SmsEncoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsInfo:
    encoding: SmsEncoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def sms_info(text: str) -> SmsInfo:
    """Encoding, length and number of parts an SMS text costs.

    One Chinese character forces UCS-2 for the whole text: 70 units fit one SMS, a longer
    text is sent in parts of 67 (the rest is the concatenation header). GSM-7-only texts:
    160 / 153. An empty text still costs one SMS.
    """
    if all(ch in _GSM7_BASIC or ch in _GSM7_EXTENDED for ch in text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        return SmsInfo(SmsEncoding.GSM7, units, _segments(units, single=160, part=153))
    # UTF-16 code units: an emoji outside the BMP costs two.
    units = len(text.encode("utf-16-le")) // 2
    return SmsInfo(SmsEncoding.UCS2, units, _segments(units, single=70, part=67))


def sms_segments(text: str) -> int:
    """Number of SMS parts ``text`` is sent as."""
    return sms_info(text).segments


def _segments(units: int, *, single: int, part: int) -> int:
    if units <= single:
        return 1
    return math.ceil(units / part)
