"""The ETA / delay evaluation of the shipments on board vehicles: what a fix, a scan or the stale
sweep sets off. It runs inside the caller's transaction (an ingest, a scan, the sweep), judges
each shipment with the domain's rules (`domain.eta`, `domain.delay`) and writes the delayed /
recovered events to the outbox with the new delay states.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter

from services.tracking.context import SOURCE
from services.tracking.domain import notes
from services.tracking.domain.config import EtaConfig
from services.tracking.domain.delay import (
    DelayEvent,
    DelayReason,
    DelayState,
    delay_decision_changed,
    delay_state_worth_saving,
    evaluate_delay,
    known_reason,
)
from services.tracking.domain.eta import estimate_eta
from services.tracking.domain.geo import GeoPoint
from services.tracking.domain.scans import Route, pending_via
from services.tracking.domain.track import (
    epoch_micros,
    track_delay_reason,
    track_lookback,
    track_settles_stop,
    track_speed_kmh,
)
from services.tracking.feeds.repository import recent_tracks
from services.tracking.feeds.track_cache import stored_track_covers, track_window, unpack_track
from services.tracking.shipments import repository, timeline
from services.tracking.shipments.models import PositionRead
from shared.events import Position, ShipmentDelayed, ShipmentRecovered
from shared.outbox import publish

log = logging.getLogger("lcs.tracking")

DELAY_EVENTS = Counter("lcs_tracking_delay_events_total", "delayed / recovered events emitted", ["event"])
EVALUATED = Counter("lcs_tracking_shipments_evaluated_total",
                    "in-transit shipments whose ETA and delay were evaluated (per vehicle evaluation)")


def _event_position(vehicle: asyncpg.Record | dict[str, Any]) -> Position | None:
    p = PositionRead.of_vehicle(vehicle)
    return None if p is None else Position(**p.model_dump())


def route_of(row: asyncpg.Record) -> Route:
    return Route(origin=row["origin"], destination=row["destination"], via=tuple(row["via"]))


def _previous_state(row: asyncpg.Record) -> DelayState:
    return DelayState(delayed=row["delayed"], notified_eta=row["notified_eta"], delay_minutes=row["delay_minutes"],
                      reason=known_reason(row["delay_reason"]), eta=row["eta"], evaluated_at=row["evaluated_at"],
                      notified_at=row["delay_notified_at"], delayed_since=row["delayed_since"])


async def _tracks(conn: asyncpg.Connection, reporting: dict[str, Any], at: dict[str, datetime],
                  at_us: dict[str, int], vehicle_ids: Sequence[str], lookback: timedelta) -> dict[str, list[Any]]:
    """Each vehicle's sampled track over `lookback` before its evaluation time, its newest fix last
    (the sampled track may not hold it; it is always read, unless later than the evaluation time:
    the rules never see a fix from after their "now"). From the vehicle row's stored track when it
    covers the window (`track_cache.stored_track_covers`), else read from `positions`."""
    tracks: dict[str, list[Any]] = {}
    unread: list[str] = []
    for vid in vehicle_ids:
        v = reporting[vid]
        start = at[vid] - lookback
        if stored_track_covers(v.get("recent_track_since"), v.get("recent_track_sample_at"), v.get("last_sample_at"),
                               start):
            stored = v.get("recent_track")  # as the row holds it, or as ingest just made it
            rows = stored if isinstance(stored, list) else unpack_track(stored)
            tracks[vid] = track_window(rows, epoch_micros(start), at_us[vid])
        else:
            unread.append(vid)
    if unread:
        found = await recent_tracks(conn, [(vid, at[vid] - lookback, at[vid]) for vid in unread])
        for vid in unread:
            tracks[vid] = found.get(vid) or []
    for vid, track in tracks.items():
        newest = reporting[vid]
        newest_us = epoch_micros(newest["last_fix_at"])
        if (not track or track[-1][0] != newest_us) and newest_us <= at_us[vid]:
            track.append((newest_us, newest["last_lat"], newest["last_lon"], newest["last_speed_kmh"]))
    return tracks


@dataclass
class Evaluation:
    shipments: int = 0
    events: int = 0
    # the delay states to write to `on_board`, when the caller writes them (`evaluate_vehicles(save=False)`)
    states: list[repository.BoardState] = field(default_factory=list)


async def evaluate_vehicle(conn: asyncpg.Connection, *, eta: EtaConfig, vehicle: asyncpg.Record | dict[str, Any],
                           now: datetime, silent: bool = False, only: Sequence[str] | None = None) -> Evaluation:
    """`evaluate_vehicles` for one vehicle, judged at `now`."""
    return await evaluate_vehicles(conn, eta=eta, vehicles=[vehicle], now=now, silent=silent, only=only)


async def evaluate_vehicles(conn: asyncpg.Connection, *, eta: EtaConfig,
                            vehicles: Sequence[asyncpg.Record | dict[str, Any]], now: datetime | None = None,
                            silent: bool = False, only: Sequence[str] | None = None,
                            shipments: Sequence[asyncpg.Record] | None = None, save: bool = True) -> Evaluation:
    """ETA and delay of every in-transit shipment on board the vehicles, inside the caller's
    transaction; emits delayed / recovered through the outbox.

    Live feed: each vehicle is judged at its newest fix time (`now=None`), so a replayed feed
    decides exactly as the live one did. Silent vehicles (`silent=True`, the stale sweep): the
    truck is assumed to stand where it was last seen, from `now` on, at the default speed; the
    reason is no_signal.

    Why batched: a group commit or a position batch touches many vehicles, and this is the hot
    path of ingest. The shipments of all of them (with their stations) and their sampled tracks
    are read in two queries (a third for the few tracks the short lookback does not settle, see
    `domain.track.track_lookback`), and the delay states written in one statement, instead of a handful
    of round trips per vehicle. `save=False`: the states are returned (`Evaluation.states`) for the
    caller to write, inside the same transaction, before it commits (`repository.board_states_params`).

    Where: the shipments on board and their states are the vehicles' `on_board` rows (what a fix
    reads and writes stays within its vehicle's rows); a changed delay decision is also written to
    the shipment's own row (`domain.delay.delay_decision_changed`), with its event and timeline entry.
    """
    cfg = eta
    result = Evaluation()
    reporting = {v["vehicle_id"]: v for v in vehicles if v["last_fix_at"] is not None}
    if not reporting:
        return result
    at = {vid: now or v["last_fix_at"] for vid, v in reporting.items()}
    at_us = {vid: epoch_micros(when) for vid, when in at.items()}  # the time axis of the tracks
    if shipments is None:  # else read by the caller, as `repository.on_board_many` (ingest: in the same round trip)
        shipments = await repository.on_board_many(conn, sorted(reporting), only)
    if not shipments:
        return result
    carried = sorted({s["vehicle_id"] for s in shipments})
    short, long = track_lookback(cfg)
    tracks = await _tracks(conn, reporting, at, at_us, carried, short)
    unsettled = [vid for vid, track in tracks.items() if not track_settles_stop(track, at_us[vid], cfg)]
    if unsettled:
        tracks.update(await _tracks(conn, reporting, at, at_us, unsettled, long))
    stations = {p[0]: GeoPoint(p[1], p[2]) for s in shipments for p in s["station_points"]}
    judged: dict[str, tuple[float | None, DelayReason]] = {}
    for vid, track in tracks.items():
        judged[vid] = (None if silent else track_speed_kmh(track, at_us[vid], cfg),
                       track_delay_reason(track, at_us[vid], cfg))
    changed: list[repository.BoardState] = []
    decided: list[tuple[str, DelayState]] = []
    for s in shipments:
        vehicle = reporting[s["vehicle_id"]]
        when = at[s["vehicle_id"]]
        speed, reason = judged[s["vehicle_id"]]
        pending = pending_via(route_of(s), s["reached_via"])
        estimate = estimate_eta(
            position=GeoPoint(vehicle["last_lat"], vehicle["last_lon"]),
            fix_at=when if silent else vehicle["last_fix_at"],
            pending_via=[stations[c] for c in pending],
            destination=stations[s["destination"]],
            recent_speed_kmh=speed, cfg=cfg)
        previous = _previous_state(s)
        decision = evaluate_delay(previous=previous, eta=estimate.eta, promised_at=s["promised_at"], now=when,
                                  inferred_reason=reason, note_reason=notes.stored_note_reason(s["note_reason"]),
                                  cfg=cfg)
        result.shipments += 1
        if not decision.emits and not delay_state_worth_saving(previous, decision.state):
            continue
        state = decision.state
        changed.append((s["vehicle_id"], s["waybill_no"], state))
        if delay_decision_changed(previous, state):
            decided.append((s["waybill_no"], state))
        if decision.event is DelayEvent.DELAYED:
            assert state.reason is not None
            await publish(conn, ShipmentDelayed(
                waybill_no=s["waybill_no"], eta=estimate.eta, promised_at=s["promised_at"],
                delay_minutes=state.delay_minutes, reason=state.reason.value, last_position=_event_position(vehicle),
                vehicle_id=vehicle["vehicle_id"], destination=s["destination"], detected_at=when), source=SOURCE)
            await timeline.append(conn, s["waybill_no"], when, "delayed", {
                "eta": estimate.eta.isoformat(), "promised_at": s["promised_at"].isoformat(),
                "delay_minutes": state.delay_minutes, "reason": state.reason.value,
                "vehicle_id": vehicle["vehicle_id"], "remaining_km": round(estimate.remaining_km, 1),
                "speed_kmh": round(estimate.speed_kmh, 1)})
        elif decision.event is DelayEvent.RECOVERED:
            await publish(conn, ShipmentRecovered(
                waybill_no=s["waybill_no"], eta=estimate.eta, promised_at=s["promised_at"],
                last_position=_event_position(vehicle), vehicle_id=vehicle["vehicle_id"], destination=s["destination"]),
                source=SOURCE)
            await timeline.append(conn, s["waybill_no"], when, "recovered", {
                "eta": estimate.eta.isoformat(), "promised_at": s["promised_at"].isoformat(),
                "vehicle_id": vehicle["vehicle_id"]})
        if decision.emits:
            result.events += 1
            DELAY_EVENTS.labels(decision.event.value).inc()
    if decided:
        await repository.save_delay_states(conn, decided)
    if changed and save:
        await repository.save_board_states(conn, changed)
    elif changed:  # the caller writes them, in a statement it sends anyway (feeds.ingest)
        result.states = changed
    EVALUATED.inc(result.shipments)
    return result


async def apply_note_reason(conn: asyncpg.Connection, *, shipment: asyncpg.Record, reason: str) -> None:
    """A delayed shipment takes the newest note's reason at once (`domain.notes.with_note_reason`):
    the desk sees it now, and the next delay notice carries it. Inside the caller's transaction,
    the shipment row locked by it (as `repository.get_shipment` reads it), its note's reason saved."""
    previous = _previous_state(shipment)
    state = notes.with_note_reason(previous, reason)
    if delay_state_worth_saving(previous, state):
        await repository.save_delay_states(conn, [(shipment["waybill_no"], state)])
        if shipment["vehicle_id"] is not None:  # its row on board, if it has one
            await repository.save_board_states(conn, [(shipment["vehicle_id"], shipment["waybill_no"], state)])
