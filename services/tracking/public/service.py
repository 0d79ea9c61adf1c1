"""The public view of one waybill (`GET /v1/public/shipments`), for web's tracking page.

One answer for every refusal — an unknown number, wrong digits, a forged, foreign-keyed or expired
link: 404 `not_found` with the same message — and the same work for an unknown number as for a
known one (the digits are compared against padding, in constant time: domain.public.digits_match).
Web's limits (per address, per waybill) stand in front of it; this route is for role `public` only.
"""

from __future__ import annotations

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
    proven = link is not None
    if phone_last4 is not None:
        proven = public.digits_match(phone_last4, row["phone_last4"] if row is not None else None)
    if row is None or (phone_last4 is not None and not proven):
        LOOKUPS.labels(proof, "not_found").inc()
        raise _not_found()
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
