"""An ingest that commits its own transaction (`ingest(commit=True)`, the batch API's way) sends
the statement that moves the vehicles, and takes their row locks, in the same round trip as the
COMMIT (`shared.db.execute_and_commit`: the statement prepared on the pool's connections, its
arguments written as constants); and it leaves the vehicles and the positions exactly as the
statement sent with bound parameters and a COMMIT of its own does (the same fixes into a twin
fleet: stored tracks, samples, newest fixes, evaluation times)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.tracking.domain.config import EtaConfig
from services.tracking.feeds import repository
from services.tracking.feeds.ingest import ingest
from services.tracking.feeds.models import Incoming
from shared.db import create_pool
from tests.conftest import Infra, run_sync, unique
from tests.integration.tracking import core_support as core
from tests.integration.tracking.core_support import minutes, now

_VEHICLE_COLUMNS = ("last_fix_at", "last_lat", "last_lon", "last_speed_kmh", "last_heading", "last_sample_at",
                    "last_evaluated_at", "recent_track", "recent_track_since", "recent_track_sample_at")


class _Recorder:
    """A connection that notes the statements sent through it (the round trips an ingest makes)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    async def execute(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self._conn.execute(query, *args)

    async def fetch(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self._conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Any:
        self.sent.append(query)
        return await self._conn.fetchrow(query, *args)

    async def copy_to_table(self, table: str, **kwargs: Any) -> Any:
        self.sent.append(f"COPY {table}")
        return await self._conn.copy_to_table(table, **kwargs)


def _batches(vehicles: list[str], t0: datetime) -> list[list[Incoming]]:
    """Two batches of 40 s of 1 Hz fixes per vehicle (more than `repository.SMALL` fixes: stored by
    COPY, the vehicles moved by the statement that ends the ingest), the second later, so that it
    meets the stored tracks and samples the first left."""
    return [[Incoming(vid, t0 + timedelta(seconds=b * 90 + s), 31.2 + s / 1000 + n / 100, 121.4 - s / 1000, 60.0, 280.0)
             for n, vid in enumerate(vehicles) for s in range(40)] for b in range(2)]


async def _ingest_both_ways(infra: Infra, plain: list[str], committing: list[str], t0: datetime) -> dict[str, Any]:
    pool = await create_pool(infra.database_url, "tracking", min_size=1, max_size=1)
    out: dict[str, Any] = {"sent": [], "in_transaction": []}
    try:
        async with pool.acquire() as conn:
            for items in _batches(plain, t0):
                claim = await repository.begin_and_claim(conn, {i.vehicle_id for i in items})
                await ingest(conn, eta=EtaConfig(), items=items, vehicles=claim, vouch_new=True)
                await conn.execute("COMMIT")
            for items in _batches(committing, t0):
                recorder = _Recorder(conn)
                claim = await repository.begin_and_claim(conn, {i.vehicle_id for i in items})
                await ingest(recorder, eta=EtaConfig(), items=items, vehicles=claim, vouch_new=True, commit=True)  # type: ignore[arg-type]
                out["sent"].append(recorder.sent)
                out["in_transaction"].append(conn.is_in_transaction())
        admin = await asyncpg.connect(infra.database_url)
        try:
            for key, ids in (("plain", plain), ("committing", committing)):
                rows = await admin.fetch(f"SELECT vehicle_id, {', '.join(_VEHICLE_COLUMNS)}, evaluation_due_at IS NULL "
                                         "AS nothing_due FROM tracking.vehicles WHERE vehicle_id = ANY($1::text[]) "
                                         "ORDER BY vehicle_id", ids)
                out[key] = [tuple(r)[1:] for r in rows]
                fixes = await admin.fetch("SELECT at, lat, lon, sampled FROM tracking.positions "
                                          "WHERE vehicle_id = ANY($1::text[]) ORDER BY vehicle_id, at", ids)
                out[key + "_fixes"] = [tuple(r) for r in fixes]
        finally:
            await admin.close()
    finally:
        await pool.close()
    return out


def test_the_statement_that_moves_the_vehicles_commits_in_its_round_trip(api, infra: Infra) -> None:  # type: ignore[no-untyped-def]
    tag = unique()
    plain, committing = [f"P{tag}{n}" for n in range(3)], [f"Q{tag}{n}" for n in range(3)]  # same id order
    for vid in plain + committing:
        core.add_vehicle(api, infra, vid, f"D{vid}")
    out = run_sync(_ingest_both_ways(infra, plain, committing, now() - minutes(30)))
    for sent in out["sent"]:
        last = sent[-1]
        assert last.startswith("EXECUTE lcs_ingest_vehicles(") and last.endswith("; COMMIT"), last[:80]
        assert "COMMIT" not in sent[:-1]  # no COMMIT of its own
    assert out["in_transaction"] == [False, False]
    assert out["committing_fixes"] == out["plain_fixes"] and len(out["plain_fixes"]) == 240
    assert out["committing"] == out["plain"]
    tracks = [row[_VEHICLE_COLUMNS.index("recent_track")] for row in out["committing"]]
    assert all(tracks) and len(set(tracks)) == 3  # each vehicle's stored track written, bytes and all
