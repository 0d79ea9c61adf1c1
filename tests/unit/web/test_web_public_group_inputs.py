"""What web puts in a grouped look-up always passes tracking's validation of one: a group
answers or fails as a whole, so a single look-up tracking would refuse (422) would make every
other page of its group "unavailable". web only asks for a number `normalise_waybill` accepts,
with digits `is_digits` accepts (services/web/public/service.py, `look_up`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.tracking.public.models import PublicLookup
from services.web.domain.public import is_digits
from shared.links import normalise_waybill


@given(typed=st.text(max_size=120), digits=st.text(max_size=8))
def test_every_look_up_web_asks_for_is_one_tracking_accepts(typed: str, digits: str) -> None:
    number = normalise_waybill(typed)
    if number is None:
        return
    PublicLookup(waybill_no=number, phone_last4=None)
    if is_digits(digits):
        PublicLookup(waybill_no=number, phone_last4=digits)


@given(typed=st.from_regex(r"[a-zA-Z0-9 -]{4,40}", fullmatch=True),
       digits=st.from_regex(r"[0-9]{4}", fullmatch=True))
def test_numbers_and_digits_as_people_type_them_pass_both(typed: str, digits: str) -> None:
    number = normalise_waybill(typed)
    if number is not None:
        assert PublicLookup(waybill_no=number, phone_last4=digits).phone_last4 == digits
