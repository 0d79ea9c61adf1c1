"""The stored recent track: each vehicle row carries its sampled fixes of the last 30 minutes
before its newest fix (`vehicles.recent_track`, migration 0008), kept by the transaction that
stores the fixes, so evaluating a vehicle does not read them back from `positions`.

Why: reading a vehicle's fixes back costs one heap page per fix (a vehicle's fixes are spread over
the pages of everyone's), for fixes the service itself has just written; the evaluation locks the
vehicle row anyway. `positions` stays the record: the stored track is exactly its sampled fixes at
or after `recent_track_since`, and whenever that cannot be vouched for (a duplicate fix, a writer
that does not keep it, a late upload too big for the row) it is cleared and read back again.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from services.tracking.domain.config import DEFAULT_ETA_CONFIG, EtaConfig
from services.tracking.domain.track import TrackRow, track_lookback

# Rows a stored track holds at most: one a minute over the rules' 30 minutes is about 31. Beyond
# this (a device uploading hours it buffered offline) the row would outgrow a page's inline
# limit, and every update would compress or move it out of line; such a vehicle is read back
# from `positions` until its burst is older than the window.
STORED_TRACK_MAX_ROWS = 48


def stored_track_span(cfg: EtaConfig = DEFAULT_ETA_CONFIG) -> timedelta:
    """How far back from its newest fix a vehicle's stored track reaches: the short lookback
    (`track_lookback`), the window an evaluation at the newest fix reads first."""
    return track_lookback(cfg)[0]


def stored_track_covers(since: datetime | None, stamp: datetime | None, last_sample_at: datetime | None,
                        window_start: datetime) -> bool:
    """Whether a vehicle's stored track (complete from ``since`` on; None: there is none) can
    stand in for `positions` from ``window_start`` on. ``stamp`` is the vehicle's newest sample
    time when the track was written: a writer that stored a newer sample without keeping the
    track (a replica of an earlier release, during a rolling upgrade) moved ``last_sample_at``
    away from it."""
    return since is not None and since <= window_start and stamp == last_sample_at


def merge_track(base: Sequence[TrackRow], new: Sequence[TrackRow], since_us: int) -> list[TrackRow]:
    """A stored track (rows oldest first, one per time) after a vehicle's new samples (oldest
    first): the rows at or after ``since_us``, in time order. A time already present keeps its
    row, as `positions` keeps the first fix stored for a vehicle and time."""
    kept = list(base)
    if kept and kept[0][0] < since_us:
        kept = [r for r in kept if r[0] >= since_us]
    fresh = [r for r in new if r[0] >= since_us]
    if not fresh:
        return kept
    merged = kept + fresh
    if kept and fresh[0][0] <= kept[-1][0]:  # late fixes among them (the live feed's are all newer)
        merged.sort(key=operator.itemgetter(0))  # stable: a stored row before a new one of its time
    out: list[TrackRow] = []
    for row in merged:
        if not out or row[0] != out[-1][0]:
            out.append(row)
    return out


def track_window(track: Sequence[TrackRow], start_us: int, end_us: int) -> list[TrackRow]:
    """The rows of a track (oldest first) from ``start_us`` to ``end_us``, both included: what
    `positions` answers for that window."""
    if track and start_us <= track[0][0] and track[-1][0] <= end_us:
        return list(track)
    return [r for r in track if start_us <= r[0] <= end_us]


_ROW = struct.Struct("<4d")
_NAN = struct.pack("<d", math.nan)


def pack_track(rows: Sequence[Sequence[Any]]) -> bytes:
    """A track's rows (epoch µs, lat, lon, speed_kmh or None) as `vehicles.recent_track` holds
    them: little-endian float64s, four a row, NaN for no speed (exact: epoch microseconds are
    below 2**53)."""
    return b"".join([_ROW.pack(r[0], r[1], r[2], math.nan if r[3] is None else r[3]) for r in rows])


def unpack_track(data: bytes | None) -> list[tuple[float, float, float, float | None]]:
    """`pack_track` undone (None: no stored track, no rows), C-level unless a row lacks a speed."""
    if not data:
        return []
    rows: list[tuple[float, float, float, float | None]] = list(_ROW.iter_unpack(data))
    if _NAN in data:  # a row without speed (or, harmlessly, those 8 bytes across two values)
        rows = [(r[0], r[1], r[2], None if r[3] != r[3] else r[3]) for r in rows]
    return rows
