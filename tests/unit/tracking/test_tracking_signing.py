"""Signing for goods: exact names, delegates, company stamps, ID documents and ID protection."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from services.tracking.domain.signing import (
    Consignee,
    Delegate,
    IdType,
    check_signing,
    hash_id_number,
    is_plausible_resident_id,
    last4,
    masked_id,
    normalise_name,
    resident_id_check_char,
)
from shared.errors import DomainError

VALID_ID = "11010519491231002X"  # the worked example of GB 11643-1999
OTHER_VALID_ID = "440304199001011233"
DELEGATE = Delegate(name="王小二", id_number=OTHER_VALID_ID, consignee_id_number=VALID_ID)


def sign(
    consignee: Consignee = Consignee("杨民敬"),
    signer_name: str = "杨民敬",
    id_type: str = "id_card",
    id_number: str | None = VALID_ID,
    delegate: Delegate | None = None,
    company_stamp: bool = False,
    pieces: int = 10,
) -> None:
    check_signing(consignee=consignee, signer_name=signer_name, signer_id_type=id_type,
                  signer_id_number=id_number, delegate=delegate, company_stamp=company_stamp,
                  pieces=pieces, pieces_total=10)


ACCEPTED = [
    ("the consignee in person", {}),
    ("surrounding whitespace is ignored", {"signer_name": "  杨民敬\u3000"}),
    ("NFD input equals NFC", {"consignee": Consignee("José"), "signer_name": "Jose\u0301"}),
    ("a delegate with both ID numbers", {"signer_name": "王小二", "delegate": DELEGATE}),
    ("company consignee with its stamp", {"consignee": Consignee("杨民敬", "无锡精工"), "company_stamp": True}),
    ("passport: no resident-ID checksum applies", {"id_type": "passport", "id_number": "E12345678"}),
    ("driving licence", {"id_type": IdType.DRIVING_LICENCE, "id_number": "320202198506154416"}),
    ("officer's card", {"id_type": "officer_card", "id_number": "军字第1234567号"}),
    ("part of the pieces", {"pieces": 4}),
]


@pytest.mark.parametrize(("case", "kwargs"), ACCEPTED, ids=[c for c, _ in ACCEPTED])
def test_release_allowed(case: str, kwargs: dict) -> None:
    sign(**kwargs)


REFUSED = [
    ("杨民敬 vs 杨明静", {"signer_name": "杨明静"}, "name_mismatch"),
    ("陈法开 vs 程发凯", {"consignee": Consignee("陈法开"), "signer_name": "程发凯"}, "name_mismatch"),
    ("a space inside the name is a different name", {"signer_name": "杨 民敬"}, "name_mismatch"),
    ("delegate without the consignee's ID number",
     {"signer_name": "王小二", "delegate": Delegate("王小二", OTHER_VALID_ID, None)}, "delegate_id_numbers_missing"),
    ("delegate without their own ID number",
     {"signer_name": "王小二", "delegate": Delegate("王小二", "", VALID_ID)}, "delegate_id_numbers_missing"),
    ("signer is neither consignee nor the named delegate",
     {"signer_name": "李四", "delegate": DELEGATE}, "delegate_name_mismatch"),
    ("company consignee without stamp", {"consignee": Consignee("杨民敬", "无锡精工")}, "company_stamp_missing"),
    ("company consignee, delegate, no stamp",
     {"consignee": Consignee("杨民敬", "无锡精工"), "signer_name": "王小二", "delegate": DELEGATE},
     "company_stamp_missing"),
    ("a photocopy is not an ID", {"id_type": "photocopy"}, "id_type_not_accepted"),
    ("an unknown document", {"id_type": "library_card"}, "id_type_not_accepted"),
    ("no ID number", {"id_number": None}, "id_number_missing"),
    ("ID card with a wrong checksum", {"id_number": "110105194912310021"}, "id_number_implausible"),
    ("ID card too short", {"id_number": "11010519491231"}, "id_number_implausible"),
    ("empty signer name", {"signer_name": "  "}, "name_mismatch"),
]


@pytest.mark.parametrize(("case", "kwargs", "reason"), REFUSED, ids=[c for c, _, _ in REFUSED])
def test_release_refused_with_identity_mismatch(case: str, kwargs: dict, reason: str) -> None:
    with pytest.raises(DomainError) as err:
        sign(**kwargs)
    assert err.value.code == "identity_mismatch"
    assert err.value.details == {"reason": reason}
    assert err.value.message  # says why, for the clerk


def test_name_mismatch_message_names_both_people() -> None:
    with pytest.raises(DomainError) as err:
        sign(signer_name="杨明静")
    assert "杨明静" in err.value.message and "杨民敬" in err.value.message


def test_pieces_beyond_the_waybill_are_refused() -> None:
    with pytest.raises(DomainError) as err:
        sign(pieces=11)
    assert err.value.code == "pieces_exceed_waybill"


def test_normalise_name_keeps_lookalike_characters_apart() -> None:
    assert normalise_name(" 杨民敬 ") == "杨民敬"
    assert normalise_name("杨民敬") != normalise_name("杨明静")


# --- resident ID checksum (GB 11643) ----------------------------------------------


@pytest.mark.parametrize(
    ("number", "plausible"),
    [
        ("11010519491231002X", True),
        ("11010519491231002x", True),  # lowercase x is the same character
        ("440304199001011233", True),
        ("310115197811300029", True),
        ("110105194912310020", False),  # wrong check character
        ("440304199001011234", False),
        ("440304199002301232", False),  # 30 February (checksum right, date impossible)
        ("4403041990010112", False),  # too short
        ("44030419900101123X1", False),  # too long
        ("44030419900101A233", False),  # letter inside
        ("", False),
        ("\u0661\u0661\u0660\u0661\u0660\u0665\u0661\u0669\u0664\u0669\u0661\u0662\u0663\u0661\u0660\u0660\u0662X",
         False),  # Arabic-Indic digits are not ID digits (and must not crash)
    ],
)
def test_resident_id_plausibility(number: str, plausible: bool) -> None:
    assert is_plausible_resident_id(number) is plausible


def test_check_char_matches_the_standards_example() -> None:
    assert resident_id_check_char("11010519491231002") == "X"
    with pytest.raises(ValueError):
        resident_id_check_char("123")


# --- ID number protection -----------------------------------------------------------


def test_hash_is_hmac_sha256_and_keyed() -> None:
    key = b"k" * 32
    expected = hmac.new(key, VALID_ID.encode(), hashlib.sha256).hexdigest()
    assert hash_id_number(VALID_ID, key) == expected
    assert hash_id_number(VALID_ID.lower(), key) == expected  # x vs X is one person
    assert hash_id_number(f" {VALID_ID} ", key) == expected
    assert hash_id_number(VALID_ID, b"another-key") != expected
    assert VALID_ID not in hash_id_number(VALID_ID, key)
    with pytest.raises(ValueError):
        hash_id_number(VALID_ID, b"")


def test_last4_and_mask() -> None:
    assert last4(VALID_ID) == "002X"
    assert last4("11010519491231002x") == "002X"
    assert masked_id("1234") == "**************1234"
    assert len(masked_id(last4(VALID_ID))) == 18
    assert masked_id("5678", length=9) == "*****5678"
