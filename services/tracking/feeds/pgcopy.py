"""Fixes as PostgreSQL's binary COPY stream, built here rather than by asyncpg's record encoder.

Why: a batch's `COPY` into `positions` was the largest single cost of tracking's batch path
(about a sixth of its CPU), and most of it was asyncpg encoding each fix's `timestamptz`: per
value it compares the datetime with infinity, converts it to UTC and subtracts the epoch, each
step asking the tzinfo for its offset. A batch carries few distinct times (a fleet's fixes share
their seconds) and few vehicles, so here each is encoded once per batch and the floats of a row
are packed by precompiled `struct`s: about half the client CPU of `copy_records_to_table` for
the same rows (measured on this repository's batch shape), the same bytes on the wire format.

The stream is what `COPY ... FROM STDIN (FORMAT binary)` reads: the signature, flags and header
extension; per row the field count, then each field's length (-1 for NULL) and its value in
network order — `text` as UTF-8, `timestamptz` as microseconds since 2000-01-01 00:00 UTC,
`float8` as IEEE 754 binary64, `boolean` as one byte; then -1. The row layout is
`repository.POSITION_COLUMNS`; `test_tracking_pgcopy.py` holds it to asyncpg's own encoding.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)  # no OIDs, no header extension
_TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_FLOAT8 = struct.Struct(">id")
_AT_LAT_LON = struct.Struct(">iqidid")
_AT_TO_HEADING = struct.Struct(">iqidididid")  # at, lat, lon, speed_kmh, heading: each its length, then it
_BOOL = {True: struct.pack(">ib", 1, 1), False: struct.pack(">ib", 1, 0)}
# altitude, accuracy and battery NULL, then `sampled`: the end of every row of a batch (POST /v1/positions
# has no such fields), one constant per value of `sampled`
_NO_EXTRAS = {flag: _NULL * 3 + _BOOL[flag] for flag in (True, False)}
FIELDS = 10  # vehicle_id, at, lat, lon, speed_kmh, heading, altitude, accuracy, battery, sampled


def pg_micros(at: datetime) -> int:
    """`at` (timezone-aware) as PostgreSQL stores a timestamptz: microseconds since 2000-01-01 UTC
    (not `domain.track.epoch_micros`, which counts from 1970)."""
    delta = at - _PG_EPOCH  # raises TypeError for a naive datetime: never guessed
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_positions(records: Iterable[tuple[Any, ...]]) -> bytes:
    """`records` (vehicle_id, at, lat, lon, speed_kmh, heading, altitude, accuracy, battery,
    sampled) as a binary COPY stream."""
    heads: dict[str, bytes] = {}  # a vehicle's row start: field count, its id's length and bytes
    times: dict[datetime, int] = {}
    out = [_SIGNATURE]
    append = out.append
    at_lat_lon = _AT_LAT_LON.pack
    at_to_heading = _AT_TO_HEADING.pack
    float8 = _FLOAT8.pack
    for vehicle_id, at, lat, lon, speed, heading, altitude, accuracy, battery, sampled in records:
        head = heads.get(vehicle_id)
        if head is None:
            raw = vehicle_id.encode()
            head = heads[vehicle_id] = struct.pack(">hi", FIELDS, len(raw)) + raw
        micros = times.get(at)
        if micros is None:
            micros = times[at] = pg_micros(at)
        append(head)
        if altitude is None and accuracy is None and battery is None and speed is not None and heading is not None:
            # a batch's usual fix: the rest of its row in one `pack` and one constant (231 → 158 µs for a
            # 500-fix batch in a micro-benchmark; one `pack` per row with the vehicle id in it was slower)
            append(at_to_heading(8, micros, 8, lat, 8, lon, 8, speed, 8, heading))
            append(_NO_EXTRAS[sampled])
            continue
        append(at_lat_lon(8, micros, 8, lat, 8, lon))
        append(_NULL if speed is None else float8(8, speed))
        append(_NULL if heading is None else float8(8, heading))
        append(_NULL if altitude is None else float8(8, altitude))
        append(_NULL if accuracy is None else float8(8, accuracy))
        append(_NULL if battery is None else float8(8, battery))
        append(_BOOL[sampled])
    append(_TRAILER)
    return b"".join(out)
