"""The shipment read model's merge rules: events in any order, twice, or stale."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.complaints.domain.shipments import ShipmentView, apply, event_time, new_view, replaced, view_of
from services.complaints.settings import ComplaintsSettings
from shared import events

T0 = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
NO = "WB1"


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def registered() -> events.ShipmentRegistered:
    return events.ShipmentRegistered(
        waybill_no=NO, origin="SH01", destination="WX02", via=["NJ01"],
        destination_station=events.StationRef(code="WX02", name="无锡站"),
        shipper=events.Shipper(customer_id="C100", name="无锡精工"), consignee=events.Consignee(name="杨民敬"),
        cargo=events.Cargo(description="轴承", pieces=10), promised_at=at(48), payment="prepaid",
        receipt=events.ReceiptRequirements(), registered_at=at(0))


def delayed(minutes: int = 90, reason: str = "traffic_jam",
            position_at: float | None = None) -> events.ShipmentDelayed:
    position = events.Position(at=at(position_at), lat=31.0, lon=120.0) if position_at is not None else None
    return events.ShipmentDelayed(waybill_no=NO, eta=at(50), promised_at=at(48), delay_minutes=minutes,
                                  reason=reason, last_position=position)


def recovered() -> events.ShipmentRecovered:
    return events.ShipmentRecovered(waybill_no=NO, eta=at(47), promised_at=at(48))


def fold(timeline: list[tuple[events.Event, datetime]]) -> ShipmentView:
    view = ShipmentView(waybill_no=NO)
    for event, when in timeline:
        view = apply(view, event, when)
    return view


def test_event_time_is_the_business_time_or_the_envelope_time() -> None:
    assert event_time(registered(), at(9)) == at(0)
    assert event_time(events.ShipmentDeparted(waybill_no=NO, station="SH01", at=at(2)), at(9)) == at(2)
    assert event_time(recovered(), at(9)) == at(9)


def test_a_stale_recovery_does_not_clear_a_newer_delay() -> None:
    view = fold([(registered(), at(0)), (delayed(), at(5)), (recovered(), at(4))])
    assert view.delayed and view.delay_reason == "traffic_jam" and view.delay_minutes == 90
    assert view.eta == at(50)
    view = apply(view, recovered(), at(6))
    assert not view.delayed and view.delay_reason is None and view.eta == at(47)
    assert view.snapshot().delay_reason is None


def test_every_order_of_the_same_events_gives_the_same_view() -> None:
    timeline = [
        (registered(), at(0)),
        (events.ShipmentDeparted(waybill_no=NO, station="SH01", at=at(1), eta=at(40)), at(1)),
        (delayed(position_at=3), at(3)),
        (recovered(), at(4)),
        (events.ShipmentArrived(waybill_no=NO, station="WX02", arrived_at=at(6), pieces=10, pieces_arrived=10,
                                pieces_total=10, final=True), at(6)),
        (events.ShipmentOutForDelivery(waybill_no=NO, station="WX02", at=at(7)), at(7)),
    ]
    views = [fold(list(order)) for order in itertools.permutations(timeline)]
    first = views[0]
    assert all(v == first for v in views)
    assert first.status == "out_for_delivery" and not first.delayed and first.eta == at(47)
    assert first.position_at == at(7) and first.snapshot().last_position is not None
    assert first.snapshot().last_position.place == "无锡站"
    assert first.stations == ("NJ01", "SH01", "WX02")


def test_applying_an_event_twice_changes_nothing_more() -> None:
    once = fold([(registered(), at(0)), (delayed(), at(3))])
    assert apply(once, delayed(), at(3)) == once
    assert apply(once, registered(), at(0)) == once


def test_partial_arrival_keeps_it_in_transit_and_delivery_wins() -> None:
    view = fold([(registered(), at(0)),
                 (events.ShipmentArrived(waybill_no=NO, station="WX02", arrived_at=at(5), pieces=4,
                                         pieces_arrived=4, pieces_total=10, final=False), at(5))])
    assert view.status == "in_transit"
    view = apply(view, events.ShipmentDelivered(waybill_no=NO, delivered_at=at(9), signer_name="杨民敬",
                                                pieces=10, station="WX02"), at(9))
    assert view.status == "delivered"
    view = apply(view, events.ShipmentDeparted(waybill_no=NO, station="NJ01", at=at(3)), at(3))
    assert view.status == "delivered"


def test_exception_is_kept_and_shown() -> None:
    view = fold([(registered(), at(0)),
                 (events.ExceptionReported(exception_id="E1", waybill_no=NO, kind="damage", pieces=1,
                                           station="NJ01", description="外箱破损", reported_at=at(4)), at(4))])
    assert view.status == "exception" and view.exception is not None and view.exception["kind"] == "damage"
    assert view.snapshot().status == "exception"
    assert view.to_public()["exception"]["station"] == "NJ01"


def test_a_delay_before_registration_is_kept_when_the_registration_comes() -> None:
    view = fold([(delayed(), at(3)), (registered(), at(0))])
    assert view.delayed and view.customer_id == "C100" and view.status == "in_transit"
    assert view.destination_name == "无锡站"


def test_settings_build_business_hours_and_care_rules() -> None:
    s = ComplaintsSettings(env="dev")
    hours = s.business_hours()
    assert hours is not None and hours.tz == "Asia/Shanghai" and len(hours.weekdays) == 7
    assert ComplaintsSettings(env="dev", business_hours_enabled=False).business_hours() is None
    assert ComplaintsSettings(env="dev", care_key_min_monthly_shipments=0).care_rules().key_min_monthly_shipments \
        is None
    with pytest.raises(ValueError, match="before they end"):
        ComplaintsSettings(env="dev", business_hours_start="19:00", business_hours_end="08:00")
    with pytest.raises(ValueError, match="weekdays"):
        ComplaintsSettings(env="dev", business_weekdays=[7])


_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "waybill_no": st.sampled_from(["WB1", "WB2"]),
    "via": st.lists(st.sampled_from(["NJ01", "SZ02"]), max_size=2).map(tuple),
    "stations": st.lists(st.sampled_from(["SH01", "WX02"]), max_size=2).map(tuple),
    "station_names": st.dictionaries(st.sampled_from(["SH01", "WX02"]), st.text(max_size=3), max_size=2),
    "delayed": st.booleans(),
    "delay_minutes": st.none() | st.integers(0, 600),
    "shipper": st.none() | st.fixed_dictionaries({"name": st.text(max_size=3)}),
    "position": st.none() | st.fixed_dictionaries({"station": st.sampled_from(["SH01", "WX02"])}),
    "exception": st.none() | st.fixed_dictionaries({"kind": st.text(max_size=3)}),
}
_TIMES = st.none() | st.integers(0, 100).map(at)


def _value(name: str) -> st.SearchStrategy[Any]:
    if name in _VALUES:
        return _VALUES[name]
    if name.endswith("_at") or name == "eta":
        return _TIMES
    return st.none() | st.text(max_size=4)


_NAMES = [f.name for f in dataclasses.fields(ShipmentView)]
_CHANGES = st.lists(st.sampled_from(_NAMES), unique=True).flatmap(
    lambda names: st.fixed_dictionaries({n: _value(n) for n in names}))


@given(before=_CHANGES, changes=_CHANGES)
def test_replaced_is_dataclasses_replace(before: dict[str, Any], changes: dict[str, Any]) -> None:
    """The read model's fast `replaced` builds the view `dataclasses.replace` builds, and leaves
    the view it started from as it was."""
    view = dataclasses.replace(ShipmentView(waybill_no=NO), **before)
    kept = dataclasses.replace(view)
    new = replaced(view, changes)
    assert new == dataclasses.replace(view, **changes)
    assert type(new) is ShipmentView and vars(new) == vars(dataclasses.replace(view, **changes))
    assert view == kept
    with pytest.raises(dataclasses.FrozenInstanceError):
        new.status = "x"  # type: ignore[misc]


def test_replaced_refuses_an_unknown_field_as_replace_does() -> None:
    view = ShipmentView(waybill_no=NO)
    with pytest.raises(TypeError):
        dataclasses.replace(view, nonsense=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        replaced(view, {"nonsense": 1})


def test_a_new_view_is_the_dataclasss_own_with_names_of_its_own() -> None:
    one, two = new_view("WB1"), new_view("WB2")
    assert one == ShipmentView(waybill_no="WB1") and vars(one) == vars(ShipmentView(waybill_no="WB1"))
    assert one.station_names is not two.station_names


@given(values=_CHANGES)
def test_a_view_of_values_is_the_dataclasss_own(values: dict[str, Any]) -> None:
    values = {**values, "waybill_no": values.get("waybill_no", NO)}
    view = view_of(values)
    assert view == ShipmentView(**values) and vars(view) == vars(ShipmentView(**values))
    if "station_names" not in values:
        assert view.station_names == {} and view.station_names is not view_of(values).station_names


def test_a_departure_stamped_before_the_registration_still_puts_it_on_the_road() -> None:
    """A scan's time in whole seconds (or a device's clock) can read a moment before the
    registration's stamp when the truck leaves at once: the shipment is on the road all the same,
    in either order of the events, and a late registration does not take it back."""
    reg = events.ShipmentRegistered(**{**registered().model_dump(), "registered_at": at(0) + timedelta(seconds=0.9)})
    dep = events.ShipmentDeparted(waybill_no=NO, station="SH01", at=at(0), vehicle_id="V1")
    for first, second in ((reg, dep), (dep, reg)):
        view = apply(apply(ShipmentView(waybill_no=NO), first, at(1)), second, at(1))
        assert (view.status, view.status_at) == ("in_transit", at(0))
    late = delayed(position_at=0)
    view = apply(apply(ShipmentView(waybill_no=NO), reg, at(1)), late, at(1))
    assert view.status == "in_transit" and view.delayed
