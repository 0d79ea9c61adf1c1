"""Customer sightings merged for one write do what recording them one after the other would:
the first contact details given win (later ones only fill gaps), the earliest time counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.complaints.domain.care import CustomerSighting, merge_sightings

T = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_one_sighting_per_customer_first_details_win_earliest_time() -> None:
    merged = merge_sightings([
        CustomerSighting("C1", T, name=None, phone="111", email=None),
        CustomerSighting("C2", T + timedelta(hours=1), name="乙"),
        CustomerSighting("C1", T - timedelta(days=1), name="甲", phone="222", email=None),
        CustomerSighting("C1", T + timedelta(days=1), name="别名", phone=None, email="c1@example.com"),
    ])
    assert merged == [
        CustomerSighting("C1", T - timedelta(days=1), name="甲", phone="111", email="c1@example.com"),
        CustomerSighting("C2", T + timedelta(hours=1), name="乙"),
    ]


def test_nothing_to_merge() -> None:
    assert merge_sightings([]) == []
    one = CustomerSighting("C1", T, name="甲")
    assert merge_sightings([one]) == [one]
