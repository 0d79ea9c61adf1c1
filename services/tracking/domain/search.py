"""What a desk search means, in the terms the shipments table stores and indexes.

- `?q=`: a waybill number's prefix, a customer id, or the prefix of the shipper's (the
  customer's) name (`TextQuery`).
- `?phone=`: a whole phone number or its last 4 digits, of the shipper or the consignee
  (`PhoneQuery`). Phones are matched on stored keys, never by reading the parties' data: each
  shipment keeps the keyed hash (`shared.pii.keyed_hash`, `LCS_ID_HASH_KEY`) and the last 4
  digits of each party's normalised phone (`phone_keys`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from shared.errors import Invalid
from shared.pii import keyed_hash
from shared.types import is_phone

_MAX_CODE_POINT = 0x10FFFF


def phone_digits(phone: str) -> str:
    """A phone as it is keyed: its digits only (full-width ones read as ASCII), a mainland
    mobile's +86 country code dropped, so `+86 138-0000-0000` and `13800000000` are one number."""
    digits = "".join(c for c in unicodedata.normalize("NFKC", phone) if "0" <= c <= "9")
    if len(digits) == 13 and digits.startswith("861"):
        return digits[2:]
    return digits


@dataclass(frozen=True)
class PhoneKeys:
    """What a shipment stores of its parties' phones: their keyed hashes and last 4 digits."""

    hashes: list[str]
    last4: list[str]


# How many parties' phones a shipment keeps (shipper, consignee): the last-4 search reads one
# ordered index per slot (tracking migration 0019), so a shipment never keeps more.
PHONE_SLOTS = 2


def phone_keys(phones: Iterable[str | None], key: str) -> PhoneKeys:
    """The keys of the parties' phones (each number once; a party without a phone adds none),
    at most `PHONE_SLOTS` of them."""
    numbers = list(dict.fromkeys(d for d in (phone_digits(p) for p in phones if p) if d))
    if len(numbers) > PHONE_SLOTS:
        raise ValueError(f"a shipment keeps the phones of at most {PHONE_SLOTS} parties")
    return PhoneKeys(hashes=[keyed_hash(n, key) for n in numbers], last4=list(dict.fromkeys(n[-4:] for n in numbers)))


@dataclass(frozen=True)
class PhoneQuery:
    """A phone search: by the whole number's keyed hash, or by its last 4 digits."""

    hash: str | None = None
    last4: str | None = None


def phone_query(text: str, key: str) -> PhoneQuery:
    """`?phone=` read: 4 digits are the last 4 of a phone, anything else must be a whole phone
    number (`shared.types.Phone`); 422 `invalid_phone` otherwise."""
    value = text.strip()
    if len(value) == 4 and value.isascii() and value.isdigit():
        return PhoneQuery(last4=value)
    if is_phone(value):
        return PhoneQuery(hash=keyed_hash(phone_digits(value), key))
    raise Invalid("invalid_phone", "phone: a whole phone number or its last 4 digits", {"field": "phone"})


@dataclass(frozen=True)
class TextQuery:
    """A `?q=` search: `text` as typed (trimmed), matched as a waybill-number or shipper-name
    prefix, or as a customer id. A prefix is the byte-wise range [prefix, prefix_end): UTF-8
    orders bytes as it orders code points, so the range holds exactly the texts that start so."""

    text: str

    @property
    def prefix(self) -> str:
        return self.text

    @property
    def prefix_end(self) -> str:
        last = min(ord(self.text[-1]) + 1, _MAX_CODE_POINT)
        return self.text[:-1] + chr(last)


def text_query(text: str) -> TextQuery:
    """`?q=` read; 422 `invalid_query` when nothing is left once trimmed."""
    value = text.strip()
    if not value:
        raise Invalid("invalid_query", "q: a waybill number (or its start), a customer id or name", {"field": "q"})
    return TextQuery(value)
