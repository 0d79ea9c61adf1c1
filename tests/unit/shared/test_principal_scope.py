"""`Principal.sees`: the one visibility rule — desk everything, a branch its stations, a customer
its own records (by the shipper's customer id), a carrier none."""

from __future__ import annotations

import pytest

from shared.auth import Principal


def test_a_customer_sees_only_its_own() -> None:
    me = Principal(sub="portal", role="customer", customer="C100")
    assert me.sees("SH01", customer="C100")
    assert not me.sees("SH01", customer="C200")
    assert not me.sees("SH01", customer=None)  # a record of no customer is nobody's
    assert not me.sees_station("SH01")
    assert me.own_customer == "C100"


@pytest.mark.parametrize("role", ["admin", "supervisor", "staff"])
def test_the_desk_sees_every_customer(role: str) -> None:
    desk = Principal(sub="x", role=role)  # type: ignore[arg-type]
    assert desk.sees("SH01", customer="C200") and desk.sees(customer=None)
    assert desk.own_customer is None


def test_a_branch_is_scoped_by_station_not_customer() -> None:
    branch = Principal(sub="x", role="branch", branch="SH01")
    assert branch.sees("SH01", "WX02", customer="C200")
    assert not branch.sees("NJ01", customer="C200")
    assert branch.own_customer is None


def test_a_carrier_sees_no_shipment() -> None:
    carrier = Principal(sub="x", role="carrier", carrier="CARR1")
    assert not carrier.sees("SH01", customer="C100")
