"""What a desk search means as stored keys (domain.search): phones keyed and matched whole or by
their last 4 digits, a text matched as a prefix range."""

from __future__ import annotations

import pytest

from services.tracking.domain.search import PhoneQuery, phone_digits, phone_keys, phone_query, text_query
from shared.errors import DomainError
from shared.pii import keyed_hash

KEY = "k" * 40


@pytest.mark.parametrize(("phone", "digits"), [
    ("13800000000", "13800000000"), ("+86 138-0000-0000", "13800000000"), ("8613800000000", "13800000000"),
    ("１３８００００００００", "13800000000"), ("021-55550000", "02155550000"), ("+1 415 555 0100", "14155550100")])
def test_a_phone_is_keyed_by_its_digits(phone: str, digits: str) -> None:
    assert phone_digits(phone) == digits


def test_a_shipments_keys_hold_each_partys_phone_once() -> None:
    keys = phone_keys(["+86 138 0000 0000", "13800000000", None, "13900001234"], KEY)
    assert keys.hashes == [keyed_hash("13800000000", KEY), keyed_hash("13900001234", KEY)]
    assert keys.last4 == ["0000", "1234"]
    assert phone_keys([None, ""], KEY).hashes == []
    assert keyed_hash("13800000000", KEY) != keyed_hash("13800000000", "another key")
    # one ordered index per party's slot serves the last-4 search: never a third slot
    with pytest.raises(ValueError, match="at most 2"):
        phone_keys(["13800000000", "13900001234", "13700005678"], KEY)


def test_a_phone_query_is_the_last_4_digits_or_a_whole_number() -> None:
    assert phone_query(" 1234 ", KEY) == PhoneQuery(last4="1234")
    assert phone_query("+86 13800000000", KEY) == PhoneQuery(hash=keyed_hash("13800000000", KEY))
    for bad in ("12345", "abcd", "138000000000000000000", "1234x"):
        with pytest.raises(DomainError) as err:
            phone_query(bad, KEY)
        assert err.value.code == "invalid_phone" and err.value.status == 422


def test_a_text_query_is_a_prefix_range() -> None:
    q = text_query("  SH2026 ")
    assert (q.text, q.prefix, q.prefix_end) == ("SH2026", "SH2026", "SH2027")
    name = text_query("无锡")
    assert name.prefix < "无锡精工" < name.prefix_end and not name.prefix <= "无锤" < name.prefix_end
    with pytest.raises(DomainError) as err:
        text_query("   ")
    assert err.value.code == "invalid_query"
