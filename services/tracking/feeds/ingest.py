"""Position ingest: ONE path for the batch API, the OsmAnd protocol and Traccar forwarding.

Every feed turns its input into `Incoming` fixes of known vehicles and hands them to
`ingest`, inside one transaction: COPY into a staging table, one INSERT ... ON CONFLICT
DO NOTHING into `positions` (a duplicate fix is kept once), each vehicle's last position
moved to its newest fix (never back, whatever order fixes arrive in), then the ETA /
delay evaluation of the shipments on board each vehicle whose newest fix advanced, with
that fix's time as "now", delayed / recovered events written to the outbox in the same
transaction.

`/osmand` uses group commit: concurrent requests queue their fix, one committer writes
whatever is queued in one transaction, and each request is answered only after that
transaction committed (200) — many phones, few transactions, nothing acknowledged that
is not durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import operator
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from itertools import repeat
from typing import Any, NamedTuple

import asyncpg
import orjson
from prometheus_client import Counter, Histogram

from services.tracking import repository as repo
from services.tracking.domain import (
    STORED_TRACK_MAX_ROWS,
    DomainError,
    Fix,
    epoch_micros,
    evaluation_due,
    merge_track,
    parse_osmand,
    parse_traccar_forward,
    position_problems,
    positions_within_limits,
    sample_track,
    stored_track_covers,
    stored_track_span,
    validate_position_batch,
)
from services.tracking.models import IngestResult, PositionBatch
from services.tracking.service import eta_config, evaluate_vehicles
from services.tracking.settings import tracking_settings
from shared.auth import Principal
from shared.context import Runtime
from shared.errors import BadRequest, Forbidden, Invalid, Unavailable

log = logging.getLogger("lcs.tracking.feeds")

POSITIONS = Counter("lcs_tracking_positions_total", "positions received", ["feed", "outcome"])
GROUP_SIZE = Histogram("lcs_tracking_osmand_group_size", "fixes per /osmand group commit",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
GROUP_SECONDS = Histogram("lcs_tracking_osmand_commit_seconds", "duration of one /osmand group commit",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))


class Incoming(NamedTuple):
    """A validated fix of a registered vehicle, in `positions` column order: the tuple itself is
    the COPY record (a tuple, not a frozen dataclass: a batch makes thousands of them)."""

    vehicle_id: str
    at: datetime
    lat: float
    lon: float
    speed_kmh: float | None = None
    heading: float | None = None
    altitude: float | None = None
    accuracy: float | None = None
    battery: float | None = None

    @classmethod
    def from_fix(cls, vehicle_id: str, fix: Fix) -> Incoming:
        return cls(vehicle_id, fix.at, fix.lat, fix.lon, fix.speed_kmh, fix.heading, fix.altitude, fix.accuracy,
                   fix.battery)


async def ingest(conn: asyncpg.Connection, rt: Runtime, items: Sequence[Incoming], *,
                 vehicles: Mapping[str, asyncpg.Record] | None = None, vouch_new: bool = False) -> IngestResult:
    """Store fixes of registered vehicles and evaluate what they change, in the caller's transaction.
    `vehicles`: the rows of `repo.lock_vehicles` when the caller already holds the locks (the
    batch path takes them while checking the batch); otherwise they are taken here.
    `vouch_new`: when every fix is later than its vehicle's newest and none comes twice, let
    `repo.store_fixes` COPY them without a savepoint; the caller then retries a
    UniqueViolationError (a fix stored behind the vehicles' backs) with `vouch_new=False`.

    The hot path of every feed, shaped to touch the database a fixed number of times per call
    whatever the number of fixes: the fixes stored and the vehicles moved (repo.store_fixes), then
    the batched evaluation. Per vehicle, the newest fix, the track sampling (domain.sample_track)
    and the stored recent track (domain.merge_track) are worked out here from the locked rows, in
    Python, instead of being read back; only a vehicle without a stored track it can trust has its
    recent fixes read from `positions` (one query for all of them, before the new ones are stored)."""
    if not items:
        return IngestResult(received=0, stored=0, vehicles=0, evaluated_shipments=0, events=0)
    if vehicles is None:
        vehicles = await repo.lock_vehicles(conn, [i.vehicle_id for i in items])
    cfg = eta_config(rt)
    span = stored_track_span(cfg)
    per_vehicle: dict[str, list[Incoming]] = {}
    for item in items:
        per_vehicle.setdefault(item.vehicle_id, []).append(item)
    records: list[tuple[Any, ...]] = []
    changed: list[_Change] = []
    all_new = vouch_new
    for vid, fixes in per_vehicle.items():
        fixes.sort(key=_by_time)
        row = vehicles[vid]
        times = list(map(_by_time, fixes))
        # sorted, so a time sent twice is next to itself (== on datetimes of one tzinfo compares
        # fields; a set would hash each, which asks its tzinfo for the offset)
        if all_new and not ((row["last_fix_at"] is None or row["last_fix_at"] < times[0])
                            and not any(map(operator.eq, times, times[1:]))):
            all_new = False
        flags, sample_at = sample_track(times, row["last_sample_at"], cfg)
        records.extend(map(operator.add, fixes, map(_FLAG.__getitem__, flags)))  # (*fix, sampled), C-level
        newest = fixes[-1]
        moved = row["last_fix_at"] is None or row["last_fix_at"] < newest.at
        samples = [[epoch_micros(f.at), f.lat, f.lon, f.speed_kmh] for f, flag in zip(fixes, flags, strict=True)
                   if flag]
        if moved or samples:
            since = (newest.at if moved else row["last_fix_at"]) - span
            trusted = stored_track_covers(row["recent_track_since"], row["recent_track_sample_at"],
                                          row["last_sample_at"], since)
            changed.append(_Change(vid, row, newest if moved else None, sample_at, samples, since, trusted))
    # vehicles whose stored track cannot be trusted: their sampled fixes read back, once, before the
    # new fixes are stored (all of a vehicle's fixes are at or before its newest fix)
    untrusted = [(c.vehicle_id, c.since, c.row["last_fix_at"]) for c in changed
                 if not c.trusted and c.row["last_fix_at"] is not None]
    read = await repo.recent_tracks(conn, untrusted) if untrusted else {}
    changes: list[repo.VehicleFix] = []
    tracks: dict[str, tuple[datetime | None, list[Any] | bytes | None]] = {}
    for c in changed:
        n = c.newest
        # evaluated at its newest fix (an out-of-order fix never rolls the vehicle back), when due
        due_at = n.at if n is not None and evaluation_due(n.at, c.row["last_evaluated_at"], cfg) else None
        track: repo.TrackWrite = None  # the stored one kept: nothing sampled, nothing read
        if c.samples or not c.trusted:
            base = repo.unpack_track(c.row["recent_track"]) if c.trusted else read.get(c.vehicle_id, [])
            rows = merge_track(base, c.samples, epoch_micros(c.since))
            track = (c.since, rows) if len(rows) <= STORED_TRACK_MAX_ROWS else (None, ())
            tracks[c.vehicle_id] = (c.since, rows)
        else:  # still packed: unpacked only if evaluated
            tracks[c.vehicle_id] = (c.row["recent_track_since"], c.row["recent_track"])
        changes.append((c.vehicle_id, (n.at, n.lat, n.lon, n.speed_kmh, n.heading) if n else None, c.sample_at,
                        due_at, track))
    due = sorted(change[0] for change in changes if change[3] is not None)
    stored, shipments = await repo.store_fixes(conn, records, changes, all_new=all_new, on_board=due)
    exact = stored == len(records)  # else the stored tracks were cleared (repo.store_fixes)
    advanced: list[dict[str, Any]] = []
    for c, change in zip(changed, changes, strict=True):
        if change[3] is None:  # not due
            continue
        n = c.newest
        assert n is not None
        since, stored_track = tracks[c.vehicle_id]
        advanced.append({**c.row, "last_fix_at": n.at, "last_lat": n.lat, "last_lon": n.lon,
                         "last_speed_kmh": n.speed_kmh, "last_heading": n.heading, "last_sample_at": c.sample_at,
                         "recent_track": stored_track, "recent_track_since": since if exact else None,
                         "recent_track_sample_at": c.sample_at})
    result = await evaluate_vehicles(conn, rt, advanced, shipments=shipments)
    return IngestResult(received=len(items), stored=stored, vehicles=len(per_vehicle),
                        evaluated_shipments=result.shipments, events=result.events)


class _Change(NamedTuple):
    """A vehicle that `ingest` moves or adds samples to."""

    vehicle_id: str
    row: asyncpg.Record
    newest: Incoming | None  # its new newest fix, None when the fixes did not advance it
    sample_at: datetime | None  # its newest sample time afterwards
    samples: list[list[Any]]  # its new sampled fixes as track rows (domain.TrackRow)
    since: datetime  # where its stored track starts afterwards (stored_track_span before its newest fix)
    trusted: bool  # its stored track covers `since` on (domain.stored_track_covers)


_by_time = operator.attrgetter("at")
_FLAG = {True: (True,), False: (False,)}


# --- POST /v1/positions -----------------------------------------------------------------

_POSITION_KEYS = frozenset(("vehicle_id", "at", "lat", "lon", "speed_kmh", "heading"))  # models.PositionIn
# shared.types.Identifier, used with fullmatch: pydantic's (Rust) `$` never matches before a final "\n", Python's does
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
# The one shape of time the fast path reads: RFC 3339 with 'T', seconds, at most 6 fraction digits and
# 'Z' or ±HH:MM, every field range spelled out (datetime.fromisoformat would read "+10:60" as +11:00).
_INSTANT = (r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
            r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
            r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])")
_INSTANT_LINES = re.compile(rf"{_INSTANT}(?:\n{_INSTANT})*", re.ASCII)
_NUMBER = frozenset((int, float))  # exact types: a bool (which pydantic's lax mode reads as 1.0) is left to it
_NUMBER_OR_NULL = frozenset((int, float, type(None)))


def parse_position_batch_fast(raw: bytes) -> list[Incoming] | None:
    """The `POST /v1/positions` body as fixes, when it has the common well-formed shape; else None.

    Why: this is the GPS hot path (batches of 500 to 5,000 fixes), where pydantic's validation,
    building `Incoming` from its models and the range checks on them were ~15% of the service's CPU.
    Here orjson reads the body and it is checked column by column, with C-level calls (type sets,
    one regex over the distinct times) instead of Python code per item.

    It accepts only a strict subset of what `PositionBatch` accepts (no numbers as strings, no epoch
    times, no other time shapes...) and for it yields what the pydantic path yields (ints made floats;
    the same instant and UTC offset, as a `datetime.timezone`). Anything else, valid or not, gives
    None and the caller takes the pydantic path (`parse_json_body(PositionBatch, raw)`), the one that
    answers the contract's 422 errors. Ranges and the time limit are checked by `ingest_batch`
    (domain.validate_position_batch) whichever path parsed the body."""
    try:
        body = orjson.loads(raw)
        if type(body) is not dict or body.keys() != {"positions"}:
            return None
        positions = body["positions"]
        if (type(positions) is not list or not positions or set(map(type, positions)) != {dict}
                or not set().union(*positions) <= _POSITION_KEYS):
            return None
        # one column per field; a missing required field raises KeyError
        vehicle_ids = [p["vehicle_id"] for p in positions]
        times = [p["at"] for p in positions]
        lats = _floats([p["lat"] for p in positions], _NUMBER)
        lons = _floats([p["lon"] for p in positions], _NUMBER)
        speeds = _floats([p.get("speed_kmh") for p in positions], _NUMBER_OR_NULL)
        headings = _floats([p.get("heading") for p in positions], _NUMBER_OR_NULL)
        if lats is None or lons is None or speeds is None or headings is None:
            return None
        # each vehicle id once (a batch holds few vehicles); anything but a string raises TypeError
        if not all(map(_IDENTIFIER.fullmatch, set(vehicle_ids))):
            return None
        # each distinct time once (a feed's vehicles share their seconds), all in one match, a line
        # each (a call per item costs more than its match): the count of line breaks proves no time
        # holds one, so every time is one whole line
        distinct = set(times)  # TypeError: a time that is a list or an object
        lines = "\n".join(distinct)
        if lines.count("\n") != len(distinct) - 1 or _INSTANT_LINES.fullmatch(lines) is None:
            return None
        # ValueError: a day the month lacks, year 0
        instants = dict(zip(distinct, map(datetime.fromisoformat, distinct), strict=True))
        ats = list(map(instants.__getitem__, times))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    absent = repeat(None)  # altitude, accuracy, battery: not in the batch API (the columns are of equal length)
    return list(map(_new_incoming, zip(vehicle_ids, ats, lats, lons, speeds, headings, absent, absent, absent,
                                       strict=False)))


_new_incoming = functools.partial(tuple.__new__, Incoming)  # Incoming._make without its Python frame per item


def _floats(values: list[Any], allowed: frozenset[type]) -> list[Any] | None:
    """`values` as pydantic makes them (ints become floats), or None if one is not of an allowed type."""
    types = set(map(type, values))
    if not types <= allowed:
        return None
    return [None if v is None else float(v) for v in values] if int in types else values


def batch_items(batch: PositionBatch) -> list[Incoming]:
    """The fixes of a batch parsed by pydantic (the fallback of `parse_position_batch_fast`)."""
    return [Incoming(p.vehicle_id, p.at, p.lat, p.lon, p.speed_kmh, p.heading) for p in batch.positions]


async def ingest_batch(rt: Runtime, items: Sequence[Incoming], principal: Principal) -> IngestResult:
    """All or nothing: any invalid item (bad range, future time, unknown vehicle) → 422 naming
    its index; a carrier token posting another carrier's vehicle → 403; nothing stored then."""
    settings = tracking_settings(rt.settings)
    now, limits = datetime.now(UTC), settings.position_limits()
    # a column per field (Incoming is a tuple): checked a column at a time, item by item only if
    # that fails (to name the bad items)
    vehicle_ids, ats, lats, lons, speeds, headings, *_ = zip(*items, strict=True) if items else ((),) * 9
    if not (0 < len(items) <= settings.positions_max_batch
            and positions_within_limits(ats, lats, lons, speeds, headings, now, limits)):
        try:
            validate_position_batch(items, now, limits, max_items=settings.positions_max_batch)
        except DomainError as err:
            POSITIONS.labels("batch", "rejected").inc(len(items))
            raise Invalid(err.code, err.message, err.details) from err
    ids = set(vehicle_ids)  # a batch holds few vehicles: checked once each, items only on a refusal
    try:
        result = await _ingest_batch_once(rt, items, ids, principal, vouch_new=True)
    except asyncpg.UniqueViolationError:  # a fix was stored behind its vehicle's back (see ingest's vouch_new)
        log.warning("a position batch met a fix stored without its vehicle moving; retried the careful way")
        result = await _ingest_batch_once(rt, items, ids, principal, vouch_new=False)
    POSITIONS.labels("batch", "stored").inc(result.stored)
    return result


async def _ingest_batch_once(rt: Runtime, items: Sequence[Incoming], ids: set[str], principal: Principal, *,
                             vouch_new: bool) -> IngestResult:
    async with rt.pool.acquire() as conn, conn.transaction():
        vehicles = await repo.lock_vehicles(conn, ids)
        if not ids <= vehicles.keys():
            unknown = [{"index": n, "field": "vehicle_id", "problem": f"vehicle {i.vehicle_id} is not registered"}
                       for n, i in enumerate(items) if i.vehicle_id not in vehicles]
            POSITIONS.labels("batch", "rejected").inc(len(items))
            raise Invalid("unknown_vehicle", f"position {unknown[0]['index']}: {unknown[0]['problem']}",
                           unknown[:100])
        if principal.role == "carrier" and any(vehicles[v]["carrier"] != principal.carrier for v in ids):
            foreign = [n for n, i in enumerate(items) if vehicles[i.vehicle_id]["carrier"] != principal.carrier]
            raise Forbidden("forbidden", f"position {foreign[0]}: vehicle of another carrier",
                           [{"index": n, "field": "vehicle_id"} for n in foreign[:100]])
        return await ingest(conn, rt, items, vehicles=vehicles, vouch_new=vouch_new)


# --- fixes from devices (OsmAnd, Traccar) -----------------------------------------------


_DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")  # as VehiclePut.device_id


def checked_fix(rt: Runtime, fix: Fix, now: datetime) -> Fix:
    if not _DEVICE_ID.fullmatch(fix.device_id):
        raise DomainError("invalid_field", "device id: letters, digits and _.:- only, at most 64 characters",
                          {"field": "id"})
    problems = position_problems(lat=fix.lat, lon=fix.lon, at=fix.at, now=now, speed_kmh=fix.speed_kmh,
                                 heading=fix.heading, limits=tracking_settings(rt.settings).position_limits())
    if problems:
        raise DomainError("invalid_position", "; ".join(p.problem for p in problems),
                          [{"field": p.field, "problem": p.problem} for p in problems])
    return fix


def parse_osmand_request(rt: Runtime, data: Mapping[str, Any], now: datetime) -> Fix:
    """Parse and check an OsmAnd request (query/form parameters or the JSON body): 400 if bad."""
    try:
        return checked_fix(rt, parse_osmand(data, received_at=now), now)
    except DomainError as err:
        POSITIONS.labels("osmand", "rejected").inc()
        raise BadRequest(err.code, err.message, err.details) from err


async def ingest_traccar(rt: Runtime, body: Mapping[str, Any], principal: Principal) -> IngestResult:
    now = datetime.now(UTC)
    try:
        fix = checked_fix(rt, parse_traccar_forward(body), now)
    except DomainError as err:
        POSITIONS.labels("traccar", "rejected").inc()
        raise Invalid(err.code, err.message, err.details) from err
    async with rt.pool.acquire() as conn, conn.transaction():
        vehicle = await repo.vehicle_with_device(conn, fix.device_id)
        if vehicle is None:
            POSITIONS.labels("traccar", "unknown_device").inc()
            raise BadRequest("unknown_device", f"device {fix.device_id} is not registered on a vehicle",
                           {"device_id": fix.device_id})
        if principal.role == "carrier" and vehicle["carrier"] != principal.carrier:
            raise Forbidden("forbidden", "the device belongs to another carrier's vehicle")
        result = await ingest(conn, rt, [Incoming.from_fix(vehicle["vehicle_id"], fix)])
    POSITIONS.labels("traccar", "stored").inc(result.stored)
    return result


class UnknownDevice(Exception):
    pass


class OsmandGroupCommit:
    """Concurrent /osmand fixes share one transaction; each caller waits for its commit.

    Each committer loop keeps its pooled connection from group to group (acquiring and releasing
    it per group showed in its profile) and gives it back after a failed group, so a broken
    connection is never used twice. Under load it also saves a round trip per group: when more
    fixes are waiting as a group commits, the next group's `BEGIN` is sent with the `COMMIT`
    (`COMMIT; BEGIN`, one simple query; the commit is durable when it answers). A transaction
    so begun that finds no group within `IDLE_SECONDS` is ended, so the connection never sits
    idle in a transaction (a server's `idle_in_transaction_session_timeout` would cut it)."""

    IDLE_SECONDS = 1.0

    def __init__(self, rt: Runtime, max_group: int) -> None:
        self.rt = rt
        self.max_group = max_group
        self.queue: asyncio.Queue[tuple[Fix, asyncio.Future[None]]] = asyncio.Queue()

    async def submit(self, fix: Fix) -> None:
        """Returns once the fix is committed; raises UnknownDevice, or the commit's error."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.queue.put((fix, future))
        await future

    async def run(self) -> None:
        conn: asyncpg.pool.PoolConnectionProxy | None = None
        begun = False  # `conn` is inside a transaction begun for the next group
        try:
            while True:
                if begun and self.queue.empty():
                    try:
                        first = await asyncio.wait_for(self.queue.get(), self.IDLE_SECONDS)
                    except TimeoutError:
                        assert conn is not None
                        begun = False
                        try:
                            await conn.execute("ROLLBACK")  # nothing was done in it
                        except Exception:  # noqa: BLE001 - a broken connection: the next group takes another
                            released, conn = conn, None
                            await self._give_back(released)
                        continue
                else:
                    first = await self.queue.get()
                group = [first]
                while len(group) < self.max_group and not self.queue.empty():
                    group.append(self.queue.get_nowait())
                group = [(fix, fut) for fix, fut in group if not fut.done()]  # callers gone (disconnect)
                if not group:
                    continue
                GROUP_SIZE.observe(len(group))
                started = time.perf_counter()
                try:
                    if conn is None:
                        conn = await self.rt.pool.acquire()
                    if not begun:
                        await conn.execute("BEGIN")
                    begun = False  # from here on, the transaction is this group's
                    outcomes, stored = await self._store(conn, [fix for fix, _ in group])
                    if self.queue.empty():
                        await conn.execute("COMMIT")
                    else:
                        await conn.execute("COMMIT; BEGIN")
                        begun = True
                except asyncio.CancelledError:
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(Unavailable("unavailable", "the service is shutting down"))
                    raise
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    log.warning("osmand group commit failed", extra={"size": len(group), "error": repr(exc)})
                    for _, fut in group:
                        if not fut.done():
                            fut.set_exception(exc)
                    if conn is not None:
                        released, conn = conn, None
                        await self._give_back(released)
                    continue
                GROUP_SECONDS.observe(time.perf_counter() - started)
                POSITIONS.labels("osmand", "stored").inc(stored)
                for (_, fut), known in zip(group, outcomes, strict=True):
                    if not fut.done():
                        if known:
                            fut.set_result(None)
                        else:
                            fut.set_exception(UnknownDevice())
        finally:
            if conn is not None:
                await self._give_back(conn)

    async def _give_back(self, conn: asyncpg.pool.PoolConnectionProxy) -> None:
        """Back to the pool, after rolling back what is open (the pool would too, but warns)."""
        with contextlib.suppress(Exception):
            if not conn.is_closed() and conn.is_in_transaction():
                await conn.execute("ROLLBACK")
        await self.rt.pool.release(conn)

    async def _store(self, conn: asyncpg.pool.PoolConnectionProxy, fixes: Sequence[Fix]) -> tuple[list[bool], int]:
        """The group's work inside the transaction the caller began and commits: whether each
        fix's device is known, and how many fixes were new."""
        vehicles = await repo.lock_vehicles_by_device(conn, [f.device_id for f in fixes])
        items = [Incoming.from_fix(vehicles[f.device_id]["vehicle_id"], f) for f in fixes
                 if f.device_id in vehicles]
        result = await ingest(conn, self.rt, items, vehicles={v["vehicle_id"]: v for v in vehicles.values()})
        return [f.device_id in vehicles for f in fixes], result.stored


async def ingest_osmand(rt: Runtime, fix: Fix) -> None:
    committer = rt.extras.get("osmand_group_commit")
    try:
        if isinstance(committer, OsmandGroupCommit):
            await committer.submit(fix)
        else:  # the committer is not running (e.g. a test app): write it alone
            async with rt.pool.acquire() as conn, conn.transaction():
                vehicle = await repo.vehicle_with_device(conn, fix.device_id)
                if vehicle is None:
                    raise UnknownDevice()
                await ingest(conn, rt, [Incoming.from_fix(vehicle["vehicle_id"], fix)])
    except UnknownDevice:
        POSITIONS.labels("osmand", "unknown_device").inc()
        raise BadRequest("unknown_device", f"device {fix.device_id} is not registered on a vehicle",
                       {"device_id": fix.device_id}) from None


async def run_osmand_group_commit(rt: Runtime) -> None:
    """Service worker: owns the /osmand committer for the life of the process.

    `osmand_committers` loops share the queue, so a group forms and starts while the previous
    one is still committing (one loop alone leaves the database idle while it collects, and the
    requests idle while it commits). Each transaction locks its vehicles in id order, so groups
    touching the same vehicle wait for each other instead of deadlocking."""
    settings = tracking_settings(rt.settings)
    committer = OsmandGroupCommit(rt, settings.osmand_group_max)
    rt.extras["osmand_group_commit"] = committer
    try:
        await asyncio.gather(*(committer.run() for _ in range(settings.osmand_committers)))
    finally:
        with contextlib.suppress(KeyError):
            del rt.extras["osmand_group_commit"]
