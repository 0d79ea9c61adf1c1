"""The vehicle's stored recent track (`vehicles.recent_track`) against the record it copies:
whatever fixes arrive (live, late, duplicated, in small groups or COPYed batches, through the
batch API or /osmand, with or without speed), a stored track the service would trust holds
exactly the vehicle's sampled fixes in `positions` from `recent_track_since` on; and a writer that
does not keep it (a replica of an earlier release) makes it untrusted, then rebuilt."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.tracking.domain.track import epoch_micros
from services.tracking.feeds.track_cache import STORED_TRACK_MAX_ROWS, stored_track_covers, unpack_track
from tests.conftest import Infra
from tests.integration.tracking.core_support import fix, minutes, new_vehicle, now, post_positions, sql


def vehicle_row(infra: Infra, vid: str) -> Any:
    return sql(infra, "SELECT last_fix_at, last_sample_at, recent_track, recent_track_since, recent_track_sample_at "
                      "FROM tracking.vehicles WHERE vehicle_id = $1", vid)[0]


def sampled_since(infra: Infra, vid: str, since: datetime) -> list[tuple[Any, ...]]:
    rows = sql(infra, "SELECT at, lat, lon, speed_kmh FROM tracking.positions "
                      "WHERE vehicle_id = $1 AND sampled AND at >= $2 ORDER BY at", vid, since)
    return [(float(epoch_micros(r["at"])), r["lat"], r["lon"], r["speed_kmh"]) for r in rows]


def check_stored_track(infra: Infra, vid: str) -> bool:
    """The invariant; returns whether the vehicle has a track the service would trust."""
    v = vehicle_row(infra, vid)
    if not stored_track_covers(v["recent_track_since"], v["recent_track_sample_at"], v["last_sample_at"],
                               v["recent_track_since"] or v["last_fix_at"]):
        return False
    assert unpack_track(v["recent_track"]) == sampled_since(infra, vid, v["recent_track_since"])
    return True


def osmand(api, dev: str, at: datetime, lat: float, lon: float, speed: float | None) -> None:  # type: ignore[no-untyped-def]
    params: dict[str, Any] = {"id": dev, "lat": lat, "lon": lon, "timestamp": at.isoformat()}
    if speed is not None:
        params["speed"] = speed / 1.852  # knots
    assert api.get("/osmand", params=params).status_code == 200


# One step of a feed: fixes at these seconds after the feed's start (may repeat, may go back), sent
# as one batch (a small group, or COPYed when padded past 64 fixes), or one by one through /osmand.
step = st.tuples(
    st.lists(st.integers(min_value=0, max_value=3 * 3600), min_size=1, max_size=6),
    st.sampled_from(["batch", "padded", "osmand"]),
    st.booleans(),  # with speed
)


# the profile's suppressed health checks (timing-based ones) stay suppressed, plus the fixture one
@settings(max_examples=25, deadline=None, suppress_health_check=[*settings.default.suppress_health_check,
                                                                 HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_a_trusted_stored_track_is_exactly_the_sampled_fixes_it_copies(api, infra: Infra,  # type: ignore[no-untyped-def]
                                                                      steps) -> None:
    vid, dev = new_vehicle(api, infra)
    t0 = now() - timedelta(hours=4)
    for seconds, how, with_speed in steps:
        speed = 55.0 if with_speed else None
        times = sorted(seconds) if how != "osmand" else seconds
        fixes = [fix(vid, t0 + timedelta(seconds=s), 31.2 + s * 1e-5, 121.4 - s * 1e-5, speed) for s in times]
        if how == "padded":  # the same fixes, then a second-by-second run after them: a COPYed batch
            last = max(times)
            fixes += [fix(vid, t0 + timedelta(seconds=last + 7 + k), 31.3, 121.3, speed) for k in range(70)]
        if how == "osmand":
            for s in times:
                osmand(api, dev, t0 + timedelta(seconds=s), 31.2 + s * 1e-5, 121.4 - s * 1e-5, speed)
        else:
            r = post_positions(api, infra, fixes)
            assert r.status_code == 200, r.text
        check_stored_track(infra, vid)


def test_a_live_feed_keeps_its_track_trusted_and_bounded(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t0 = now() - timedelta(hours=2)
    for k in range(6):  # 20 minutes a batch, a fix every 20 s
        fixes = [fix(vid, t0 + timedelta(seconds=k * 1200 + s), 31.2, 121.4 + s * 1e-5) for s in range(0, 1200, 20)]
        assert post_positions(api, infra, fixes).status_code == 200
        assert check_stored_track(infra, vid)
    v = vehicle_row(infra, vid)
    rows = unpack_track(v["recent_track"])
    # the window is 30 minutes behind the newest fix, a sample a minute
    assert v["recent_track_since"] == v["last_fix_at"] - minutes(30)
    assert 28 <= len(rows) <= 31 <= STORED_TRACK_MAX_ROWS


def test_an_earlier_release_writing_fixes_makes_the_track_untrusted_then_rebuilt(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t0 = now() - timedelta(hours=1)
    assert post_positions(api, infra, [fix(vid, t0 + minutes(m), 31.2, 121.4 + m * 1e-3) for m in range(5)]
                          ).status_code == 200
    assert check_stored_track(infra, vid)
    # what a replica of the previous release does: the fix stored and sampled, the vehicle moved,
    # the stored track left alone
    late = t0 + minutes(6)
    sql(infra, "INSERT INTO tracking.positions (vehicle_id, at, lat, lon, speed_kmh, sampled) "
               "VALUES ($1, $2, 31.25, 121.45, 40, true)", vid, late)
    sql(infra, "UPDATE tracking.vehicles SET last_fix_at = $2, last_sample_at = $2 WHERE vehicle_id = $1", vid, late)
    assert not check_stored_track(infra, vid)
    # the next fix rebuilds it from positions, the old release's fix included
    assert post_positions(api, infra, [fix(vid, t0 + minutes(8), 31.3, 121.5)]).status_code == 200
    assert check_stored_track(infra, vid)
    rows = unpack_track(vehicle_row(infra, vid)["recent_track"])
    assert float(epoch_micros(late)) in [r[0] for r in rows]


def test_a_duplicate_fix_clears_the_track_and_the_next_fix_rebuilds_it(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    vid, _ = new_vehicle(api, infra)
    t0 = now() - timedelta(hours=1)
    first = [fix(vid, t0 + minutes(m), 31.2, 121.4) for m in range(3)]
    assert post_positions(api, infra, first).status_code == 200
    assert check_stored_track(infra, vid)
    # the first fix again, with a different position: positions keeps the first one stored
    r = post_positions(api, infra, [fix(vid, t0, 40.0, 100.0), fix(vid, t0 + minutes(4), 31.2, 121.4)])
    assert r.status_code == 200 and r.json()["stored"] == 1
    assert vehicle_row(infra, vid)["recent_track_since"] is None
    assert post_positions(api, infra, [fix(vid, t0 + minutes(5), 31.2, 121.4)]).status_code == 200
    assert check_stored_track(infra, vid)
    assert unpack_track(vehicle_row(infra, vid)["recent_track"])[0][1:3] == (31.2, 121.4)


def test_a_batch_meeting_a_fix_stored_behind_its_vehicles_back_is_retried_and_kept_once(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    """A COPYed batch of fixes all newer than their vehicle's newest skips the savepoint; a fix
    someone stored without moving the vehicle makes that COPY fail, and the batch is retried the
    careful way: stored once, the rest kept, the track still exact."""
    vid, _ = new_vehicle(api, infra)
    t0 = now() - timedelta(hours=1)
    assert post_positions(api, infra, [fix(vid, t0, 31.2, 121.4)]).status_code == 200
    behind = t0 + timedelta(seconds=30)
    sql(infra, "INSERT INTO tracking.positions (vehicle_id, at, lat, lon, speed_kmh, sampled) "
               "VALUES ($1, $2, 10.0, 10.0, 1, false)", vid, behind)
    batch = [fix(vid, t0 + timedelta(seconds=s), 31.2, 121.4 + s * 1e-5) for s in range(10, 810, 10)]  # 80 fixes
    r = post_positions(api, infra, batch)
    assert r.status_code == 200 and r.json()["stored"] == 79, r.text
    kept = sql(infra, "SELECT lat FROM tracking.positions WHERE vehicle_id = $1 AND at = $2", vid, behind)
    assert kept[0]["lat"] == 10.0
    assert vehicle_row(infra, vid)["last_fix_at"] == t0 + timedelta(seconds=800)
    assert vehicle_row(infra, vid)["recent_track_since"] is None  # a duplicate: cleared, read back next time
    assert post_positions(api, infra, [fix(vid, t0 + timedelta(seconds=900), 31.2, 121.5)]).status_code == 200
    assert check_stored_track(infra, vid)
