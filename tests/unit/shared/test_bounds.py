"""Out-of-range values are refused by the shared types and the cursor reader (issue 22, point 4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ValidationError

from shared.errors import Invalid
from shared.pagination import encode_cursor, read_cursor
from shared.types import DbId, Instant, MonthText


class Probe(BaseModel):
    at: Instant | None = None
    id: DbId | None = None
    month: MonthText | None = None


@pytest.mark.parametrize("field,value", [
    ("at", "9999-12-31T23:59:59-14:00"), ("at", "0001-01-01T00:00:00+00:00"), ("at", "1969-12-31T23:59:59Z"),
    ("at", "2026-12-01T00:00:00"),  # no offset
    ("id", 2**63), ("id", 0), ("id", -1),
    ("month", "0001-01"), ("month", "2026-13"), ("month", "10000-01"),
])
def test_out_of_range_values_are_validation_errors(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Probe.model_validate({field: value})


def test_values_in_range_pass() -> None:
    p = Probe.model_validate({"at": "2026-12-06T08:00:00+08:00", "id": 2**63 - 1, "month": "2026-12"})
    assert p.at == datetime(2026, 12, 6, 0, 0, tzinfo=UTC) and p.id == 2**63 - 1


@pytest.mark.parametrize("key", [
    ("10000-01-01T00:00:00+00:00", 1), ("0001-01-01T00:00:00+00:00", 1), ("2026-12-01T00:00:00", 1),
    ("2026-12-01T00:00:00+00:00", 2**63), ("2026-12-01T00:00:00+00:00", "7"), ("2026-12-01T00:00:00+00:00", 1.5),
])
def test_forged_cursors_are_invalid_cursor(key: tuple[object, ...]) -> None:
    with pytest.raises(Invalid) as err:
        read_cursor(encode_cursor(*key), datetime, int)
    assert err.value.code == "invalid_cursor"


def test_a_cursor_round_trips_with_its_kinds() -> None:
    at, n, u = datetime(2026, 12, 6, tzinfo=UTC), 2**63 - 1, uuid.uuid4()
    assert read_cursor(encode_cursor(at.isoformat(), n, str(u), "SH01"), datetime, int, uuid.UUID, str) == (
        at, n, u, "SH01")
    assert read_cursor(None, datetime) is None
