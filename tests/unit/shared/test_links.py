"""Signed public tracking links and the public's waybill numbers (shared.links), without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from shared.links import LinkKeys, PublicLinkSettings, normalise_waybill, sign, verify

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RING = LinkKeys.parse("k2:" + "n" * 40 + ",k1:" + "o" * 40)
assert RING is not None


def test_a_link_opens_its_waybill_until_it_expires() -> None:
    token = sign(RING, "SH2026112800001", NOW + timedelta(days=30))
    assert verify(RING, token, NOW) == "SH2026112800001"
    assert verify(RING, token, NOW + timedelta(days=30) - timedelta(seconds=1)) == "SH2026112800001"
    assert verify(RING, token, NOW + timedelta(days=30)) is None


def test_the_first_key_signs_and_every_key_verifies() -> None:
    token = sign(RING, "WB0001", NOW + timedelta(days=1))
    assert token.split(".")[2] == "k2"
    old_only = LinkKeys.parse("k1:" + "o" * 40)
    assert old_only is not None
    signed_before_rotation = sign(old_only, "WB0001", NOW + timedelta(days=1))
    assert verify(RING, signed_before_rotation, NOW) == "WB0001"  # rotation keeps the old links
    new_only = LinkKeys.parse("k2:" + "n" * 40)
    assert verify(new_only, signed_before_rotation, NOW) is None  # ... until the old key leaves the ring


@pytest.mark.parametrize("tamper", [
    lambda t: t.replace("WB0001", "WB0002"),                    # another waybill
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),          # another MAC
    lambda t: ".".join([*t.split(".")[:1], "zzzzzz", *t.split(".")[2:]]),  # a later expiry
    lambda t: t.replace(".k2.", ".k9."),                        # a key the ring does not hold
    lambda t: t + "x",
    lambda t: "",
    lambda t: "../../etc/passwd",
])
def test_a_forged_link_opens_nothing(tamper) -> None:  # type: ignore[no-untyped-def]
    token = sign(RING, "WB0001", NOW + timedelta(days=1))
    assert verify(RING, tamper(token), NOW) is None


def test_a_link_signed_with_another_ring_opens_nothing() -> None:
    other = LinkKeys.parse("k2:" + "x" * 40)
    assert other is not None
    assert verify(RING, sign(other, "WB0001", NOW + timedelta(days=1)), NOW) is None
    assert verify(None, sign(RING, "WB0001", NOW + timedelta(days=1)), NOW) is None


def test_a_link_fits_an_sms() -> None:
    token = sign(RING, "SH2026112800001", NOW + timedelta(days=30))
    assert len(token) <= 48


@pytest.mark.parametrize("typed", ["SH2026112800001", "sh2026112800001", " SH 2026 1128 00001 ",
                                   "ＳＨ２０２６１１２８００００１", "sh2026\u3000112800001", "S\u200bH2026112800001"])
def test_case_spaces_and_full_width_forms_are_one_waybill(typed: str) -> None:
    assert normalise_waybill(typed) == "SH2026112800001"


@pytest.mark.parametrize("typed", ["", "   ", "SH1", "SH/2026", "<script>", "x" * 40])
def test_what_cannot_be_a_waybill_number_is_refused(typed: str) -> None:
    assert normalise_waybill(typed) is None


def test_the_key_ring_is_refused_outside_dev_when_weak_or_the_jwt_secret() -> None:
    secret = "s" * 48
    base = {"env": "prod", "auth_secret": secret, "id_hash_key": "i" * 48}
    assert PublicLinkSettings(**base, public_link_keys="k1:" + "a" * 40).link_keys() is not None
    assert PublicLinkSettings(**base).link_keys() is None  # none: no links
    for bad in ("k1:short", f"k1:{secret}", "k1:" + "a" * 40 + ",k1:" + "b" * 40, "no-colon", "k-1:" + "a" * 40):
        with pytest.raises(ValidationError):
            PublicLinkSettings(**base, public_link_keys=bad)
    dev = PublicLinkSettings(env="dev")
    assert dev.link_keys() is not None and dev.link_lifetime() == timedelta(days=30)
