"""The public view of one waybill (`GET /v1/public/shipments`), for web's tracking page.

One answer for every refusal — an unknown number, wrong digits, a forged, foreign-keyed or expired
link: 404 `not_found` with the same message — and the same work for an unknown number as for a
known one (the digits are compared against padding, in constant time: domain.public.digits_match).
Web's limits (per address, per waybill) stand in front of it; this route is for role `public` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from asyncpg import Record
from prometheus_client import Counter

from services.tracking.context import TrackingRuntime
from services.tracking.domain import public
from services.tracking.public import repository
from services.tracking.public.models import PublicEta, PublicEventRead, PublicShipmentRead, PublicSignerRead
from shared.auth import Principal
from shared.clock import utcnow
from shared.errors import Invalid, NotFound
from shared.links import normalise_waybill, verify

LOOKUPS = Counter("lcs_tracking_public_lookups_total", "Public views asked for, by proof and outcome",
                  ["proof", "outcome"])  # proof: none | digits | link; outcome: coarse | detailed | not_found


def _not_found() -> NotFound:
    return NotFound("not_found", "no such waybill, or the digits or the link do not match")


async def public_shipment(rt: TrackingRuntime, *, principal: Principal, waybill_no: str | None,
                          phone_last4: str | None, link: str | None) -> PublicShipmentRead:
    """The coarse view (stage and city) for a waybill number alone; the detailed one with the right
    last 4 digits of a party's phone, or with a valid link (which names the waybill itself)."""
    if (waybill_no is None) == (link is None) or (link is not None and phone_last4 is not None):
        raise Invalid("invalid_query", "give either waybill_no (and optionally X-Phone-Last4) or X-Tracking-Link")
    now = utcnow()
    proof = "link" if link is not None else "digits" if phone_last4 is not None else "none"
    number = verify(rt.settings.link_keys(), link, now) if link is not None else normalise_waybill(waybill_no or "")
    row = None
    if number is not None:
        async with rt.pool.acquire() as conn:
            row = await repository.view(conn, number, with_timeline=proof != "none")
    view = _answer(row, proof=proof, phone_last4=phone_last4, now=now)
    if view is None:
        raise _not_found()
    return view


async def public_shipments(rt: TrackingRuntime, *, principal: Principal,
                           lookups: Sequence[tuple[str, str | None]]) -> list[PublicShipmentRead | None]:
    """Many look-ups by number in one statement: each (number, digits or None) answered as
    `public_shipment` answers it, None where that gives its one 404. Web sends the look-ups of
    the moment together (its public page's busiest path: one request and one statement for many)."""
    now = utcnow()
    asked = [(i, number, digits is not None) for i, (typed, digits) in enumerate(lookups)
             if (number := normalise_waybill(typed)) is not None]
    rows: dict[int, Record] = {}
    if asked:
        async with rt.pool.acquire() as conn:
            found = await repository.views(conn, [(number, timeline) for _, number, timeline in asked])
        rows = {asked[k][0]: row for k, row in found.items()}
    return [_answer(rows.get(i), proof="digits" if digits is not None else "none", phone_last4=digits, now=now)
            for i, (_, digits) in enumerate(lookups)]


def _answer(row: Record | None, *, proof: str, phone_last4: str | None, now: datetime) -> PublicShipmentRead | None:
    """The view of the row found (None: none) for the proof offered: a link (already verified),
    the digits (compared in constant time, against padding when there is no row), or none.
    None: the one refusal (no such waybill, or the digits do not match)."""
    proven = proof == "link"
    if phone_last4 is not None:
        proven = public.digits_match(phone_last4, row["phone_last4"] if row is not None else None)
    if row is None or (phone_last4 is not None and not proven):
        LOOKUPS.labels(proof, "not_found").inc()
        return None
    stage = public.stage_of(row["status"])
    here = public.current_station(stage, origin=row["origin"], destination=row["destination"],
                                  last_scan_station=row["last_scan_station"])
    cities: dict[str, str] = row["cities"] or {}
    if not proven:
        LOOKUPS.labels(proof, "coarse").inc()
        return PublicShipmentRead(waybill_no=row["waybill_no"], stage=stage.value, city=cities.get(here),
                                  detailed=False)
    entries = repository.entries(row)
    view = public.public_timeline(entries, cities)
    eta = public.public_eta(row["eta"], stage, now)
    delayed = bool(row["delayed"]) and stage is not public.Stage.DELIVERED
    LOOKUPS.labels(proof, "detailed").inc()
    return PublicShipmentRead(
        waybill_no=row["waybill_no"], stage=stage.value, city=cities.get(here), detailed=True,
        eta=None if eta is None else PublicEta(day=eta.day, half=eta.half),
        delayed=delayed, delay_reason=row["delay_reason"] if delayed else None,
        timeline=[PublicEventRead(at=e.at, event=e.event, city=e.city, reason=e.reason)
                  for e in view.events],
        signer=None if view.signer is None else PublicSignerRead(name=view.signer.name,
                                                                 signed_at=view.signer.signed_at),
    )
