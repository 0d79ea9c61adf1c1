"""Property tests (hypothesis) for the pure security rules of `shared/` (issue 7, point 4).

The services' own rule modules already have property tests (tests/unit/*/...); the
shared pieces had only examples: masking of phones, e-mails and ID numbers (alone, in
free text and through the JSON log formatter), keyed hashes, bearer tokens, branch
visibility and pagination cursors."""

from __future__ import annotations

import logging
import string

import jwt
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from shared.auth import DESK, ROLES, Principal, decode_token, issue_token
from shared.errors import DomainError
from shared.logs import JsonFormatter
from shared.pagination import decode_cursor, encode_cursor
from shared.pii import keyed_hash, mask_email, mask_phone, mask_text

SECRET = "p" * 48
mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
_local = st.text(alphabet=string.ascii_letters + string.digits + "._%+-", min_size=1, max_size=30)
_domain = st.from_regex(r"\A[a-z0-9]{1,20}(\.[a-z0-9]{1,10}){0,2}\.[a-z]{2,6}\Z")
emails = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    first17 = draw(st.from_regex(r"\A[1-8][0-9]{5}(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9])[0-9]{3}\Z"))
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


# Text around a value; a separator keeps it a separate token (digits or letters glued to
# a number make it a different, longer token, which is not a phone or ID number).
filler = st.text(max_size=40)
separators = st.sampled_from([" ", ", ", "：", "\n", "\t", "(", "[", '"', "'", "电话", "=", "/", ";"])


# --- phones ------------------------------------------------------------------------------


@given(mobiles)
def test_mask_phone_keeps_only_prefix_and_last_four(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked == f"{phone[:3]}****{phone[-4:]}"
    assert phone not in masked and phone[3:7] not in masked[3:7]


@given(st.text(alphabet=string.digits + "+- ", max_size=25))
def test_mask_phone_never_shows_more_than_the_last_four_digits(phone: str) -> None:
    masked = mask_phone(phone) or ""
    shown = [c for c in masked if c.isdigit()]
    digits = phone.strip()
    assert len(shown) <= max(len(digits) - 4, 4) or len(digits) < 11
    if len(digits) >= 5:
        assert masked.endswith(digits[-4:])
        assert digits not in masked


# --- e-mails -----------------------------------------------------------------------------


@given(emails)
def test_mask_email_keeps_the_first_character_and_the_domain_only(email: str) -> None:
    local, _, domain = email.partition("@")
    masked = mask_email(email)
    assert masked == f"{local[0]}***@{domain}"
    assert email not in masked


# --- free text and log lines -------------------------------------------------------------


@given(filler, separators, st.one_of(mobiles, emails, id_numbers()), separators, filler)
def test_mask_text_never_leaks_a_value_inside_free_text(before: str, sep1: str, value: str, sep2: str,
                                                       after: str) -> None:
    text = before + sep1 + value + sep2 + after
    masked = mask_text(text)
    assert value not in masked
    if len(value) == 18 and "@" not in value:
        assert value[6:14] not in masked.replace(before, "").replace(after, "")  # the birth date


@given(st.lists(st.one_of(mobiles, emails, id_numbers(), filler), max_size=6).map(" ".join))
def test_mask_text_is_idempotent(text: str) -> None:
    once = mask_text(text)
    assert mask_text(once) == once


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(filler, separators, st.one_of(mobiles, emails, id_numbers()), separators, filler,
       st.sampled_from(["msg", "extra", "nested", "exception"]))
# A value after a line break or tab: JSON escapes them as \n / \t, so a letter comes right before it.
@example("", "\n", "11010519491231002X", " ", "", "msg")
@example("", "\t", "11010519491231002X", " ", "", "extra")
@example("", "\n", "13812345678", " ", "", "msg")
def test_json_log_lines_never_carry_a_phone_email_or_id_number(before: str, sep1: str, value: str, sep2: str,
                                                               after: str, where: str) -> None:
    text = before + sep1 + value + sep2 + after
    record = logging.LogRecord("lcs.test", logging.INFO, __file__, 1, "event %s", (text if where == "msg" else "x",),
                               None)
    if where == "extra":
        record.customer = text
    elif where == "nested":
        record.payload = {"consignee": {"phone": [text]}}
    elif where == "exception":
        try:
            raise ValueError(text)
        except ValueError:
            import sys
            record.exc_info = sys.exc_info()
    line = JsonFormatter("test").format(record)
    assert value not in line, f"{value!r} leaked via {where}: {line[:300]}"


# --- keyed hashes ------------------------------------------------------------------------


@given(id_numbers(), st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=64))
def test_keyed_hash_is_stable_normalised_and_key_dependent(number: str, key: str, other_key: str) -> None:
    digest = keyed_hash(number, key)
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    assert keyed_hash(f"  {number.lower()} ", key) == digest
    assert number not in digest and number[-4:] not in digest[:4]
    if other_key != key:
        assert keyed_hash(number, other_key) != digest


@given(id_numbers(), id_numbers())
def test_keyed_hash_separates_different_numbers(a: str, b: str) -> None:
    assume(a.upper() != b.upper())
    assert keyed_hash(a, "k" * 32) != keyed_hash(b, "k" * 32)


# --- tokens and visibility ---------------------------------------------------------------

_code = st.from_regex(r"\A[A-Z0-9]{2,16}\Z")


@st.composite
def principals(draw: st.DrawFn) -> Principal:
    role = draw(st.sampled_from(ROLES))
    return Principal(sub=draw(st.text(min_size=1, max_size=40)), role=role,
                     branch=draw(_code) if role == "branch" else None,
                     carrier=draw(_code) if role == "carrier" else None,
                     customer=draw(_code) if role == "customer" else None)


@given(principals(), st.integers(min_value=60, max_value=10 * 24 * 3600))
def test_tokens_round_trip(p: Principal, ttl: int) -> None:
    token = issue_token(SECRET, sub=p.sub, role=p.role, branch=p.branch, carrier=p.carrier,
                         customer=p.customer, ttl_seconds=ttl)
    assert decode_token(token, SECRET) == p


@given(principals(), st.text(min_size=32, max_size=64))
def test_tokens_signed_with_another_secret_are_401(p: Principal, other: str) -> None:
    assume(other != SECRET)
    token = issue_token(other, sub=p.sub, role=p.role, branch=p.branch, carrier=p.carrier,
                         customer=p.customer)
    with pytest.raises(DomainError) as err:
        decode_token(token, SECRET)
    assert err.value.status == 401


@given(principals(), st.sampled_from(ROLES), st.integers(min_value=0, max_value=200))
def test_a_changed_claim_breaks_the_signature(p: Principal, role: str, position: int) -> None:
    token = issue_token(SECRET, sub=p.sub, role=p.role, branch=p.branch, carrier=p.carrier,
                         customer=p.customer)
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    forged_payload = jwt.utils.base64url_encode(jwt.api_jwt.json.dumps({**claims, "role": role}).encode()).decode()
    forged = ".".join((header, forged_payload, signature))
    if forged_payload != payload:
        with pytest.raises(DomainError):
            decode_token(forged, SECRET)
    flipped = list(signature)
    i = position % len(flipped)
    flipped[i] = "A" if flipped[i] != "A" else "B"
    tampered = ".".join((header, payload, "".join(flipped)))
    try:
        decode_token(tampered, SECRET)
    except DomainError as exc:
        assert exc.status == 401
    else:  # only the unused low bits of the last base64url character can change harmlessly
        assert i == len(flipped) - 1


@given(principals(), st.integers(min_value=1, max_value=10**6))
def test_expired_tokens_are_refused(p: Principal, ago: int) -> None:
    token = issue_token(SECRET, sub=p.sub, role=p.role, branch=p.branch, carrier=p.carrier,
                         customer=p.customer, ttl_seconds=-ago)
    with pytest.raises(DomainError) as err:
        decode_token(token, SECRET)
    assert err.value.status == 401


@given(principals(), st.lists(st.one_of(st.none(), _code), max_size=5))
def test_a_branch_sees_exactly_the_shipments_that_touch_its_station(p: Principal, stations: list[str | None]) -> None:
    sees = p.sees_station(*stations)
    if p.role in DESK:
        assert sees
    elif p.role == "branch":
        assert sees == (p.branch in stations)
    else:
        assert not sees


# --- cursors -----------------------------------------------------------------------------

_key_part = st.one_of(st.integers(min_value=-(2**53), max_value=2**53), st.text(max_size=30))


@given(st.lists(_key_part, min_size=1, max_size=4))
def test_cursor_round_trip(key: list[object]) -> None:
    assert decode_cursor(encode_cursor(*key), len(key)) == key


@given(st.text(max_size=80), st.integers(min_value=1, max_value=4))
def test_any_garbage_cursor_is_a_422_never_a_crash(cursor: str, arity: int) -> None:
    try:
        decode_cursor(cursor, arity)
    except DomainError as exc:
        assert exc.status == 422 and exc.code == "invalid_cursor"
