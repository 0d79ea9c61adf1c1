"""Position ingest: ONE path for the batch API, the OsmAnd protocol and Traccar forwarding.

Every feed turns its input into `Incoming` fixes of known vehicles and hands them to `ingest`,
inside one transaction: the fixes stored (a duplicate fix is kept once), each vehicle's last
position moved to its newest fix (never back, whatever order fixes arrive in), then the ETA /
delay evaluation of the shipments on board each vehicle whose newest fix advanced, with that
fix's time as "now", delayed / recovered events written to the outbox in the same transaction.

`/osmand` goes through the group commit (`feeds.group_commit`); the batch API and Traccar
forwarding through `ingest_batch` and `ingest_traccar` here.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import operator
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg
from prometheus_client import Counter

from services.tracking.context import TrackingRuntime
from services.tracking.domain.config import EtaConfig
from services.tracking.domain.fixes import (
    Fix,
    PositionLimits,
    positions_within_limits,
    validate_fix,
    validate_position_batch,
)
from services.tracking.domain.track import epoch_micros, evaluation_due, sample_track
from services.tracking.feeds import repository
from services.tracking.feeds.models import Incoming, IngestResult
from services.tracking.feeds.parsing import parse_traccar_forward
from services.tracking.feeds.track_cache import (
    STORED_TRACK_MAX_ROWS,
    merge_track,
    stored_track_covers,
    stored_track_span,
    unpack_track,
)
from services.tracking.shipments import evaluation
from services.tracking.shipments.repository import on_board_many
from shared.auth import Principal
from shared.clock import utcnow
from shared.context import uow
from shared.errors import BadRequest, DomainError, Invalid
from shared.types import is_identifier

log = logging.getLogger("lcs.tracking.feeds")

POSITIONS = Counter("lcs_tracking_positions_total", "positions received", ["feed", "outcome"])


async def ingest(conn: asyncpg.Connection, *, eta: EtaConfig, items: Sequence[Incoming],
                 vehicles: repository.Claimed | None = None, vouch_new: bool = False,
                 retried: bool = False, commit: bool = False) -> IngestResult:
    """Store fixes of registered vehicles and evaluate what they change, in the caller's transaction.
    `vehicles`: what `repository.claim_vehicles` gave the caller (the batch path reads them while
    checking the batch); otherwise read and claimed here.
    `vouch_new`: when no fix comes twice in `items`, let `repository.store_positions` COPY them
    without a savepoint; the caller then retries a
    UniqueViolationError (a fix stored before: a batch sent again, or the same fix sent by two
    clients at once) with `vouch_new=False, retried=True`: the fixes are then stored before the
    vehicles are locked (a few new fixes otherwise ride on the statement that locks them, whose
    INSERT could wait on a fix another transaction is storing while that one waits for a vehicle
    row this statement holds: PostgreSQL breaks such a deadlock by failing one, which is retried).

    Concurrent ingests of the same vehicles (a forwarder's connections each posting fixes of the
    whole fleet) do not queue behind each other: the vehicle rows are read without a lock, the
    fixes appended, and only the vehicles' evaluations claimed (`claim_vehicles`: one evaluator
    per vehicle, never waited for). A vehicle whose newest fix advanced is evaluated at it when
    this transaction holds its claim and the evaluation interval has passed; otherwise its
    evaluation is deferred (`vehicles.evaluation_due_at`, see `feeds.trailing`) to one interval
    later, unless a later fix's evaluation comes first (within the interval, or another transaction
    holding the claim: the same bound as a dense feed's notice). The track is sampled
    (`domain.track.sample_track`) only by the claim's holder too: claims are taken one after
    another and each holder reads the row after the previous one committed, so samples follow
    one another a step apart however many batches of the vehicle are in flight (unclaimed ones,
    reading the same newest sample, would each sample the same minute: a track as dense as the
    number of writers, too long for the stored track, read back at every batch). Fixes of an
    unclaimed vehicle are stored unsampled; its next holder samples on from its newest sample. The vehicle
    rows are locked (id order) only by the statement that ends the transaction,
    `repository.store_fixes`, whose every write holds against what committed meanwhile.

    The hot path of every feed, shaped to touch the database a fixed number of times per call
    whatever the number of fixes. Per vehicle, the newest fix, the track sampling
    (`domain.track.sample_track`) and the stored recent track (`track_cache.merge_track`) are
    worked out here from the rows read, in Python, instead of being read back; only a vehicle
    without a stored track it can trust has its recent fixes read from `positions` (one query for
    all of them, before the new ones are stored).

    `commit`: the transaction is committed at the end, with the statement that locks the vehicle
    rows where it can (`repository.store_fixes`), and is not the caller's to use afterwards."""
    if not items:
        if commit:
            await conn.execute("COMMIT")
        return IngestResult(received=0, stored=0, vehicles=0, evaluated_shipments=0, events=0)
    if vehicles is None:
        vehicles = await repository.claim_vehicles(conn, "vehicle_id", [i.vehicle_id for i in items])
    rows, claimed = vehicles
    span = stored_track_span(eta)
    per_vehicle: dict[str, list[Incoming]] = {}
    for item in items:
        per_vehicle.setdefault(item.vehicle_id, []).append(item)
    records: list[tuple[Any, ...]] = []
    changed: list[_Change] = []
    later = True  # every fix later than its vehicle's newest as read, none twice
    once = True  # no fix twice in the batch
    for vid in sorted(per_vehicle):  # the fixes stored in primary key order (see store_positions)
        fixes = per_vehicle[vid]
        fixes.sort(key=_by_time)
        row = rows[vid]
        times = list(map(_by_time, fixes))
        # sorted, so a time sent twice is next to itself (== on datetimes of one tzinfo compares
        # fields; a set would hash each, which asks its tzinfo for the offset)
        if once and any(map(operator.eq, times, times[1:])):
            once = later = False
        elif later and not (row["last_fix_at"] is None or row["last_fix_at"] < times[0]):
            later = False
        samples: list[list[Any]] = []
        sample_at: datetime | None = None  # None: its newest sample as it is
        if vid in claimed:
            flags, sample_at = sample_track(times, row["last_sample_at"], eta)
            records.extend(map(operator.add, fixes, map(_FLAG.__getitem__, flags)))  # (*fix, sampled), C-level
            samples = [[epoch_micros(f.at), f.lat, f.lon, f.speed_kmh]
                       for f, flag in zip(fixes, flags, strict=True) if flag]
        else:  # another transaction holds the vehicle: it samples, these fixes are stored unsampled
            records.extend(map(operator.add, fixes, itertools.repeat(_FLAG[False])))
        newest = fixes[-1]
        moved = row["last_fix_at"] is None or row["last_fix_at"] < newest.at
        if moved or samples:
            since = (newest.at if moved else row["last_fix_at"]) - span
            # the stored track is the claim holder's to keep (an unclaimed vehicle adds no sample
            # to it, and its row was read without it): left as it is, trusted or not
            trusted = vid not in claimed or stored_track_covers(
                row["recent_track_since"], row["recent_track_sample_at"], row["last_sample_at"], since)
            changed.append(_Change(vid, row, newest if moved else None, sample_at, samples, since, trusted))
    # vehicles whose stored track cannot be trusted: their sampled fixes read back, once, before the
    # new fixes are stored (all of a vehicle's fixes are at or before its newest fix)
    untrusted = [(c.vehicle_id, c.since, c.row["last_fix_at"]) for c in changed
                 if not c.trusted and c.row["last_fix_at"] is not None]
    read = await repository.recent_tracks(conn, untrusted) if untrusted else {}
    changes: list[repository.VehicleFix] = []
    tracks: dict[str, tuple[datetime | None, list[Any] | bytes | None]] = {}
    interval = float(eta.evaluation_interval_seconds)
    for c in changed:
        n = c.newest
        # evaluated at its newest fix (an out-of-order fix never rolls the vehicle back) when due and
        # claimed; else deferred (within the interval, or another transaction evaluating it now):
        # a trailing evaluation one interval from now, unless a later fix's evaluation comes first
        due_at: datetime | None = None
        due_in: float | None = None
        if n is not None:
            if c.vehicle_id in claimed and evaluation_due(n.at, c.row["last_evaluated_at"], eta):
                due_at = n.at
            else:
                due_in = interval
        track: repository.TrackWrite = None  # the stored one kept: nothing sampled, nothing read
        if c.samples or not c.trusted:
            base = unpack_track(c.row["recent_track"]) if c.trusted else read.get(c.vehicle_id, [])
            rows_ = merge_track(base, c.samples, epoch_micros(c.since))
            track = (c.since, rows_) if len(rows_) <= STORED_TRACK_MAX_ROWS else (None, ())
            tracks[c.vehicle_id] = (c.since, rows_)
        else:  # still packed: unpacked only if evaluated
            tracks[c.vehicle_id] = (c.row["recent_track_since"], c.row["recent_track"])
        changes.append(repository.VehicleFix(
            c.vehicle_id, (n.at, n.lat, n.lon, n.speed_kmh, n.heading) if n else None, c.sample_at, due_at, due_in,
            track, c.row, c.samples))
    # Many fixes, or some that may be stored already: stored now, on their own (the vehicles are
    # moved at the end). A few new ones ride on the statement that ends the ingest.
    # COPYed without a savepoint when no fix comes twice: a late fix (older than its vehicle's newest,
    # as concurrent batches of one fleet often are) is new too unless the batch is sent again, which
    # then fails on the primary key and is retried the careful way
    all_new = vouch_new and once
    together = len(records) <= repository.SMALL and later and not retried
    stored = 0 if together else await repository.store_positions(conn, records, all_new=all_new)
    exact = together or stored == len(records)
    if not exact:  # which sampled fixes were kept is not known here: the stored tracks are cleared
        changes = [c._replace(track=(None, ())) for c in changes]
    due = sorted(c.vehicle_id for c in changes if c.evaluated_at is not None)
    advanced: list[dict[str, Any]] = []
    for c, change in zip(changed, changes, strict=True):
        if change.evaluated_at is None:  # not due
            continue
        n = c.newest
        assert n is not None
        since, stored_track = tracks[c.vehicle_id]
        advanced.append({**c.row, "last_fix_at": n.at, "last_lat": n.lat, "last_lon": n.lon,
                         "last_speed_kmh": n.speed_kmh, "last_heading": n.heading, "last_sample_at": c.sample_at,
                         "recent_track": stored_track, "recent_track_since": since if exact else None,
                         "recent_track_sample_at": c.sample_at})
    result = evaluation.Evaluation()
    if due:
        result = await evaluation.evaluate_vehicles(conn, eta=eta, vehicles=advanced,
                                                    shipments=await on_board_many(conn, due), save=False)
    if together:
        stored = await repository.store_fixes(conn, records, changes, result.states, commit=commit)
    else:
        await repository.store_fixes(conn, (), changes, result.states, commit=commit)
    return IngestResult(received=len(items), stored=stored, vehicles=len(per_vehicle),
                        evaluated_shipments=result.shipments, events=result.events)


class _Change(NamedTuple):
    """A vehicle that `ingest` moves or adds samples to."""

    vehicle_id: str
    row: asyncpg.Record
    newest: Incoming | None  # its new newest fix, None when the fixes did not advance it
    sample_at: datetime | None  # its newest sample time afterwards (None: not claimed, as it is)
    samples: list[list[Any]]  # its new sampled fixes as track rows (domain.track.TrackRow)
    since: datetime  # where its stored track starts afterwards (stored_track_span before its newest fix)
    trusted: bool  # its stored track covers `since` on (track_cache.stored_track_covers)


_by_time = operator.attrgetter("at")
_FLAG = {True: (True,), False: (False,)}


# --- POST /v1/positions -----------------------------------------------------------------


async def ingest_batch(rt: TrackingRuntime, *, principal: Principal, items: Sequence[Incoming]) -> IngestResult:
    """All or nothing: any invalid item (bad range, future time, unknown vehicle) → 422 naming
    its index; a carrier token posting another carrier's vehicle → 403; nothing stored then."""
    now, limits, max_items = utcnow(), rt.context.limits, rt.settings.positions_max_batch
    # a column per field (Incoming is a tuple): checked a column at a time, item by item only if
    # that fails (to name the bad items)
    vehicle_ids, ats, lats, lons, speeds, headings, *_ = zip(*items, strict=True) if items else ((),) * 9
    if not (0 < len(items) <= max_items and positions_within_limits(ats, lats, lons, speeds, headings, now, limits)):
        try:
            validate_position_batch(items, now, limits, max_items=max_items)
        except DomainError:
            POSITIONS.labels("batch", "rejected").inc(len(items))
            raise
    ids = set(vehicle_ids)  # a batch holds few vehicles: checked once each, items only on a refusal
    try:
        result = await _ingest_batch_once(rt, principal, items, ids, vouch_new=True)
    except (asyncpg.UniqueViolationError, asyncpg.DeadlockDetectedError):
        # a fix stored meanwhile (see ingest's vouch_new): the same fix sent by two clients at once,
        # whose COPYs may also have waited on each other's entries
        log.warning("a position batch met a fix stored by another transaction; retried the careful way")
        result = await _ingest_batch_once(rt, principal, items, ids, vouch_new=False)
    POSITIONS.labels("batch", "stored").inc(result.stored)
    return result


async def _ingest_batch_once(rt: TrackingRuntime, principal: Principal, items: Sequence[Incoming], ids: set[str], *,
                             vouch_new: bool) -> IngestResult:
    # uow(rt), with its BEGIN sent with the claims (repository.begin_and_claim)
    async with rt.pool.acquire() as conn:
        claim = await repository.begin_and_claim(conn, ids)
        try:
            result = await _ingest_claimed(rt, conn, principal, items, ids, claim, vouch_new=vouch_new)  # commits
        except BaseException:
            if not conn.is_closed() and conn.is_in_transaction():
                with contextlib.suppress(Exception):
                    await conn.execute("ROLLBACK")
            raise
    return result


async def _ingest_claimed(rt: TrackingRuntime, conn: asyncpg.Connection, principal: Principal,
                          items: Sequence[Incoming], ids: set[str], claim: repository.Claimed, *,
                          vouch_new: bool) -> IngestResult:
    vehicles = claim.rows
    if principal.role == "carrier":  # another carrier's vehicle is answered as an unknown one (T21)
        vehicles = {v: row for v, row in vehicles.items() if row["carrier"] == principal.carrier}
    if not ids <= vehicles.keys():
        unknown = [{"index": n, "field": "vehicle_id", "problem": f"vehicle {i.vehicle_id} is not registered"}
                   for n, i in enumerate(items) if i.vehicle_id not in vehicles]
        POSITIONS.labels("batch", "rejected").inc(len(items))
        raise Invalid("unknown_vehicle", f"position {unknown[0]['index']}: {unknown[0]['problem']}",
                      unknown[:100])
    return await ingest(conn, eta=rt.context.eta, items=items, vehicles=claim, vouch_new=vouch_new,
                        retried=not vouch_new, commit=True)


# --- fixes from devices (OsmAnd, Traccar) -----------------------------------------------


def checked_fix(fix: Fix, *, now: datetime, limits: PositionLimits) -> Fix:
    """A device's fix once its device id (as `VehiclePut.device_id`) and its position pass:
    422 `invalid_field` / `invalid_position` otherwise."""
    if not is_identifier(fix.device_id):
        raise Invalid("invalid_field", "device id: letters, digits and _.:- only, at most 64 characters",
                      {"field": "id"})
    return validate_fix(fix, now, limits)


def unknown_device(device_id: str) -> BadRequest:
    return BadRequest("unknown_device", f"device {device_id} is not registered on a vehicle", {"device_id": device_id})


async def ingest_traccar(rt: TrackingRuntime, *, principal: Principal, body: Mapping[str, Any]) -> IngestResult:
    """Traccar's JSON forwarding of one position: 422 for bad content, 400 `unknown_device` (also
    for a device on another carrier's vehicle: a carrier learns nothing of other carriers' fleets)."""
    try:
        fix = checked_fix(parse_traccar_forward(body), now=utcnow(), limits=rt.context.limits)
    except DomainError:
        POSITIONS.labels("traccar", "rejected").inc()
        raise
    async with uow(rt) as conn:
        claim = await repository.claim_vehicles(conn, "device_id", [fix.device_id])
        vehicle = next(iter(claim.rows.values()), None)
        if vehicle is None or (principal.role == "carrier" and vehicle["carrier"] != principal.carrier):
            # another carrier's device is answered as an unknown one (T21)
            POSITIONS.labels("traccar", "unknown_device").inc()
            raise unknown_device(fix.device_id)
        vehicle_id = vehicle["vehicle_id"]
        result = await ingest(conn, eta=rt.context.eta, items=[Incoming.from_fix(vehicle_id, fix)], vehicles=claim)
    POSITIONS.labels("traccar", "stored").inc(result.stored)
    return result
