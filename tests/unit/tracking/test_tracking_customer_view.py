"""What a customer token is shown of its own shipment's timeline (`domain/customer_view.py`)."""

from __future__ import annotations

from services.tracking.domain.customer_view import actor_role, timeline_entry


def test_desk_notes_are_not_shown() -> None:
    assert timeline_entry("note", {"contact": "司机", "note": "内部", "by": "staff:alice"}) is None


def test_scans_lose_the_vehicle_and_the_staff_name() -> None:
    shown = timeline_entry("scan", {"type": "departed", "station": "SH01", "vehicle_id": "V1", "pieces": 4,
                                    "by": "branch:sh01-clerk"})
    assert shown == {"type": "departed", "station": "SH01", "pieces": 4}


def test_delivery_shows_a_masked_signer_and_no_id() -> None:
    shown = timeline_entry("delivered", {"signer_name": "杨民敬", "signer_id_type": "id_card",
                                         "signer_id_number": "****1234", "pieces": 4, "by": "staff:bob"})
    assert shown == {"signer_name": "杨**", "pieces": 4}


def test_exceptions_and_delays_are_shown() -> None:
    assert timeline_entry("exception", {"exception_id": "e1", "kind": "damage", "description": "外箱破损",
                                        "by": "staff:a"}) == {"exception_id": "e1", "kind": "damage",
                                                              "description": "外箱破损"}
    assert timeline_entry("delayed", {"reason": "traffic_jam", "delay_minutes": 90}) == {
        "reason": "traffic_jam", "delay_minutes": 90}


def test_an_unknown_kind_is_not_shown() -> None:
    assert timeline_entry("something_new", {"x": 1}) is None  # deny by default


def test_actors_become_roles() -> None:
    assert actor_role("staff:alice") == "staff" and actor_role("branch") == "branch" and actor_role(None) is None
