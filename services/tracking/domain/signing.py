"""Signing for goods (提货/签收): who may take them (`check_signing`, the desk's working rules
exactly), and how ID numbers are kept (a keyed hash and the last 4 characters, never whole)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared.errors import Invalid
from shared.pii import keyed_hash


class IdType(StrEnum):
    """Valid identity documents for pickup. Photocopies are never valid: no type for them."""

    ID_CARD = "id_card"  # 居民身份证
    OFFICER_CARD = "officer_card"  # 军官证
    HOUSEHOLD_REGISTER = "household_register"  # 户口本
    DRIVING_LICENCE = "driving_licence"  # 驾驶证
    PASSPORT = "passport"  # 护照
    HK_MACAO_PERMIT = "hk_macao_permit"  # 港澳居民来往内地通行证
    TAIWAN_PERMIT = "taiwan_permit"  # 台湾居民来往大陆通行证


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"


def resident_id_check_char(first17: str) -> str:
    """GB 11643-1999 check character for the first 17 digits (ISO 7064 MOD 11-2)."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 ASCII digits")
    return _ID_CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def is_plausible_resident_id(number: str) -> bool:
    """18 characters, 17 digits + digit/X, a real birth date, and a correct checksum."""
    text = number.strip().upper()
    if not re.fullmatch(r"[0-9]{17}[0-9X]", text):
        return False
    try:
        date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    return resident_id_check_char(text[:17]) == text[17]


def normalise_name(name: str) -> str:
    """NFC and surrounding whitespace only: 杨民敬 and 杨明静 must stay different."""
    return unicodedata.normalize("NFC", name).strip()


@dataclass(frozen=True, slots=True)
class Delegate:
    """A person picking up for the consignee (委托提货)."""

    name: str
    id_number: str | None
    consignee_id_number: str | None


@dataclass(frozen=True, slots=True)
class Consignee:
    name: str
    company: str | None = None


def _identity_mismatch(reason: str, message: str) -> Invalid:
    return Invalid("identity_mismatch", message, {"reason": reason})


def check_signing(
    *,
    consignee: Consignee,
    signer_name: str,
    signer_id_type: IdType | str,
    signer_id_number: str | None,
    delegate: Delegate | None,
    company_stamp: bool,
    pieces: int,
    pieces_total: int,
) -> None:
    """Raise unless the goods may be released to this signer (nothing is recorded on failure).

    Every identity problem is ``identity_mismatch`` with ``details.reason`` saying which rule:
    ``id_type_not_accepted``, ``id_number_missing``, ``id_number_implausible``,
    ``name_mismatch``, ``delegate_id_numbers_missing``, ``delegate_name_mismatch``,
    ``company_stamp_missing``. Pieces beyond the waybill -> ``pieces_exceed_waybill``.
    """
    try:
        id_type = IdType(signer_id_type)
    except ValueError:
        raise _identity_mismatch(
            "id_type_not_accepted",
            f"{signer_id_type!r} is not an accepted identity document (photocopies are never valid); "
            f"accepted: {', '.join(t.value for t in IdType)}",
        ) from None
    if not signer_id_number or not signer_id_number.strip():
        raise _identity_mismatch("id_number_missing", "the signer's ID number is required")
    if id_type is IdType.ID_CARD and not is_plausible_resident_id(signer_id_number):
        raise _identity_mismatch(
            "id_number_implausible",
            "the resident ID number is not valid (18 characters, checksum per GB 11643)",
        )

    signer = normalise_name(signer_name)
    if not signer:
        raise _identity_mismatch("name_mismatch", "the signer's name is required")
    if signer != normalise_name(consignee.name):
        if delegate is None:
            raise _identity_mismatch(
                "name_mismatch",
                f"signer {signer!r} does not match the consignee {normalise_name(consignee.name)!r} exactly; "
                "release needs the shipper's consignee change or confirmation from the consignee's phone",
            )
        if not (delegate.id_number or "").strip() or not (delegate.consignee_id_number or "").strip():
            raise _identity_mismatch(
                "delegate_id_numbers_missing",
                "delegated pickup needs both the delegate's and the consignee's ID numbers",
            )
        if normalise_name(delegate.name) != signer:
            raise _identity_mismatch(
                "delegate_name_mismatch",
                f"signer {signer!r} is neither the consignee nor the named delegate "
                f"{normalise_name(delegate.name)!r}",
            )
    if consignee.company is not None and not company_stamp:
        raise _identity_mismatch(
            "company_stamp_missing",
            f"consignee company {consignee.company!r} requires its stamp "
            "(on the receipt or on an authorisation letter)",
        )
    if pieces <= 0:
        raise Invalid("invalid_pieces", "pieces must be at least 1", {"pieces": pieces})
    if pieces > pieces_total:
        raise Invalid(
            "pieces_exceed_waybill",
            f"{pieces} pieces signed but the waybill has {pieces_total}",
            {"pieces": pieces, "pieces_total": pieces_total},
        )


# --- ID number protection ------------------------------------------------------------------


def _normalise_id_number(number: str) -> str:
    # Case and spacing must not produce two hashes for one person (…002x vs …002X).
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", number)).upper()


def hash_id_number(number: str, key: bytes) -> str:
    """Keyed hash (HMAC-SHA256, hex) of an ID number, for lookups without storing it."""
    if not key:
        raise ValueError("an HMAC key is required")
    return keyed_hash(_normalise_id_number(number), key.decode())


def last4(number: str) -> str:
    """The last four characters of the normalised ID number (all of it if shorter)."""
    return _normalise_id_number(number)[-4:]


def masked_id(last_four: str, length: int = 18) -> str:
    """Render a stored last-4 as a masked ID, e.g. ``**************1234``."""
    return "*" * max(0, length - len(last_four)) + last_four
