"""Replay of a generated multi-hour GPS trace, Shanghai → Nanjing → Wuxi, through the API,
checking exactly which delayed / recovered events come out.

The trace (a fix every 2 minutes, all in the recent past, times relative to T0):
- T0: departs Shanghai; the truck makes 60 km/h of great-circle progress and its speedometer
  shows the road speed (x 1.3 = 78 km/h), so the ETA is steady: 435 km of great circle
  = 435 minutes of driving + 45 minutes of dwell for Nanjing = T0 + 480 min.
- promised_at = T0 + 545 min: 65 minutes of slack (plus 15 of grace).
- T0+120 .. T0+220: a 100-minute stop half-way to Nanjing (speed 0). The 30-minute average
  falls to the 30 km/h floor: the ETA jumps far past the promise → `delayed` (slow_progress
  while the stop is young), and once more an hour later (a re-notice needs the ETA 30 more
  minutes worse AND an hour since the last notice; vehicle_stopped by then); see EXPECTED.
- After the stop the ETA is T0 + 580 (100 min lost), still late by 20 min: no event, and the
  better ETA is not a new notice.
- Passing Nanjing without stopping (arrived/departed_transfer scanned as it passes) drops the
  45 min dwell: ETA T0 + 535 ≤ promise + grace → `recovered` at the next fix.
- It arrives at Wuxi at T0 + 535, on time; nothing more.
"""

from __future__ import annotations

import math
from datetime import datetime

from tests.conftest import Infra
from tests.integration.tracking.core_support import (
    STATIONS,
    events,
    fix,
    make_world,
    minutes,
    new_vehicle,
    now,
    post_positions,
    register,
    scan,
    short,
)

GROUND_KMH = 60.0
ROAD_FACTOR = 1.3
STEP_MIN = 2
STOP_AT, STOP_MIN = 120, 100


def _point(a: tuple[float, float], b: tuple[float, float], f: float) -> tuple[float, float]:
    # Linear interpolation is close enough to the great circle over a few hundred km for a
    # trace; the leg lengths below are measured along the same interpolation.
    return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (*a, *b))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def trace(t0: datetime) -> tuple[list[tuple[datetime, float, float, float]], datetime]:
    """(time, lat, lon, speed) every STEP_MIN minutes, and the time the truck passes Nanjing."""
    sh, nj, wx = (STATIONS[k][3:5] for k in ("SH", "NJ", "WX"))
    legs = [(sh, nj, _km(sh, nj)), (nj, wx, _km(nj, wx))]
    total_km = sum(km for *_, km in legs)
    drive_min = total_km / GROUND_KMH * 60
    fixes = []
    passed_nj = None
    minute = 0.0
    while True:
        driving = minute if minute < STOP_AT else max(STOP_AT, minute - STOP_MIN)
        stopped = STOP_AT <= minute < STOP_AT + STOP_MIN
        km = min(total_km, driving / 60 * GROUND_KMH)
        if km <= legs[0][2]:
            lat, lon = _point(sh, nj, km / legs[0][2])
        else:
            if passed_nj is None:
                passed_nj = t0 + minutes(minute)
            lat, lon = _point(nj, wx, (km - legs[0][2]) / legs[1][2])
        speed = 0.0 if stopped or km >= total_km else GROUND_KMH * ROAD_FACTOR
        fixes.append((t0 + minutes(minute), lat, lon, speed))
        if km >= total_km:
            break
        minute += STEP_MIN
    assert passed_nj is not None and abs(drive_min + STOP_MIN - minute) <= STEP_MIN
    return fixes, passed_nj


def test_replayed_trace_gives_exactly_the_expected_delay_notices(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    world = make_world(api, infra)
    vid, _ = new_vehicle(api, infra)
    t0 = (now() - minutes(540)).replace(second=0, microsecond=0)
    fixes, passed_nj = trace(t0)
    assert fixes[-1][0] <= now()
    promised = t0 + minutes(545)
    waybill = register(api, infra, world, promised_at=promised)
    assert scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201

    transfer_scanned = False
    for at, lat, lon, speed in fixes:
        if not transfer_scanned and at >= passed_nj:
            assert scan(api, infra, waybill, "arrived_transfer", world.nj, passed_nj).status_code == 201
            assert scan(api, infra, waybill, "departed_transfer", world.nj, passed_nj).status_code == 201
            transfer_scanned = True
        r = post_positions(api, infra, [fix(vid, at, lat, lon, speed)])
        assert r.status_code == 200, r.text
    assert scan(api, infra, waybill, "arrived", world.wx, fixes[-1][0]).status_code == 201

    notices = events(infra, waybill, "delayed", "recovered")
    summary = [(short(e), e["data"].get("reason"),
                round((datetime.fromisoformat(e["data"]["detected_at"]) - t0).total_seconds() / 60)
                if e["data"].get("detected_at") else None) for e in notices]
    assert summary == EXPECTED, summary
    delays = [e["data"]["delay_minutes"] for e in notices if short(e) == "delayed"]
    assert all(b - a >= 30 for a, b in zip(delays, delays[1:], strict=False)), delays
    recovered = notices[-1]["data"]
    assert datetime.fromisoformat(recovered["eta"]) <= promised + minutes(15)

    shipment = api.get(f"/v1/shipments/{waybill}", headers=infra.headers("admin")).json()
    assert shipment["status"] == "arrived" and shipment["delayed"] is False
    timeline_kinds = [e["kind"] for e in shipment["timeline"] if e["kind"] in ("delayed", "recovered")]
    assert timeline_kinds == [k for k, _, _ in EXPECTED]


# (event, reason, minute after T0 of the fix that caused it). Minute 126: zero speeds start
# filling the 30-minute window, the ETA passes the promise → first notice. Minutes 128-138 the
# average keeps falling and each fix moves the ETA ≥ 30 min further, but within the hour's rest
# after a notice: no storm. Minute 186: an hour on, the ETA is far worse → one revised notice,
# reason vehicle_stopped (the stop is over 20 minutes old). The stop ends at 220, the ETA
# improves: no notice. Recovered at the first fix past Nanjing (minute 370).
EXPECTED = [
    ("delayed", "slow_progress", 126),
    ("delayed", "vehicle_stopped", 186),
    ("recovered", None, None),
]
