"""The public page's look-ups: limits, the call to tracking's redacted view, the audit log.

Order of a look-up: the number is normalised (shared.links.normalise_waybill) → the address's
limit (10 a minute, PostgreSQL) → with digits, the waybill's digit lock → tracking's view with
web's service role `public` (tracking checks the digits or the link, in constant time, and gives
one refusal for all: its 404) → wrong or unknown with digits counts one failure on that waybill →
one audit row. An unknown number and wrong digits take the same path and give the same page.

The form's look-ups of the moment go to tracking together (`POST /v1/public/shipments/lookups`,
`tracking_views`): one request and one statement for many, as the audit rows are written in
groups. A link's look-up goes alone (`GET /v1/public/shipments`, header `X-Tracking-Link`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from prometheus_client import Counter

from services.web.backends.client import Backend, BackendDown, BackendError, Caller
from services.web.context import WebRuntime
from services.web.domain import public
from services.web.domain.public import DigitLock, Outcome
from services.web.public import repository
from shared.clock import utcnow
from shared.context import uow
from shared.grouped import GroupCall
from shared.links import TOKEN_MAX_LENGTH, normalise_waybill
from shared.ratelimit import SharedWindows

log = logging.getLogger("lcs.web")

LOOKUPS = Counter("lcs_web_public_lookups_total", "Public tracking look-ups by way in and outcome", ["via", "outcome"])
# web's own principal towards tracking's public view: role `public`, nothing else.
PUBLIC_CALLER = Caller(sub="web-public-page", role="public")
PATH = "/v1/public/shipments"
LOOKUPS_PATH = "/v1/public/shipments/lookups"
LOOKUPS_MAX = 100  # tracking's bound per request (services.tracking.public.models.LOOKUPS_MAX)
View = dict[str, Any]


@dataclass(frozen=True)
class Lookup:
    outcome: Outcome
    waybill: str | None = None  # as normalised (shown back in the form)
    view: View | None = None
    retry_after: float = 0.0


async def _audit(rt: WebRuntime, *, address: str, via: str, waybill: str | None, digits: str | None,
                 result: Lookup) -> Lookup:
    LOOKUPS.labels(via, result.outcome).inc()
    # committed with the other look-ups of the moment (shared.grouped), before the page is sent
    await rt.context.lookup_log.write(repository.LookupRow(
        at=utcnow(), address=address, via=via, waybill_suffix=public.waybill_suffix(waybill),
        digits=public.masked_digits(digits), outcome=result.outcome))
    return result


async def _over_limit(rt: WebRuntime, address: str) -> float:
    limiter = rt.context.public_limiter
    return await limiter.take(_limit_key(address)) if limiter is not None else 0.0


async def _limit_and_lock(rt: WebRuntime, address: str, key: bytes | None) -> tuple[float, DigitLock | None]:
    """The address's limit and, for a look-up with digits (`key`), the waybill's digit lock: one
    statement for the look-ups of the moment when the limit is on (`limits_and_locks`)."""
    if rt.context.public_takes is not None:
        return await rt.context.public_takes.call((_limit_key(address), key))
    if key is None:
        return 0.0, None
    async with rt.pool.acquire() as conn:
        return 0.0, await repository.digit_lock(conn, key)


def _limit_key(address: str) -> str:
    return f"public-lookups:{address}"


async def _ask(tracking: Backend, *, params: dict[str, str], headers: dict[str, str]) -> View | None:
    """The redacted view, or None for tracking's one 404 (unknown, wrong digits, bad link)."""
    try:
        view: View = await tracking.get(PUBLIC_CALLER, PATH, params, headers=headers)
    except BackendError as exc:
        if exc.status == 404 and not isinstance(exc, BackendDown):
            return None
        raise
    return view


def limits_and_locks(limiter: SharedWindows) -> GroupCall[tuple[str, bytes | None], tuple[float, DigitLock | None]]:
    """The form's look-ups of the moment counted against their addresses' limits and their
    waybills' digit locks read, in one statement (`repository.take_many_with_digit_locks`)."""

    async def take(items: Sequence[tuple[str, bytes | None]]) -> list[tuple[float, DigitLock | None]]:
        return await repository.take_many_with_digit_locks(limiter, items)

    return GroupCall(take, max_group=LOOKUPS_MAX)


def tracking_views(tracking: Backend) -> GroupCall[tuple[str, str | None], View | None]:
    """Look-ups by (number, digits or None), asked of tracking in groups: each gets its view, or
    None for tracking's one refusal; a group tracking cannot answer raises its BackendError in
    every caller. A tracking without the grouped route (an older release, while a rolling upgrade
    reaches web first) is asked one look-up at a time."""

    async def ask(lookups: Sequence[tuple[str, str | None]]) -> list[View | None]:
        body = {"lookups": [{"waybill_no": number, "phone_last4": digits} for number, digits in lookups]}
        try:
            answer = await tracking.post(PUBLIC_CALLER, LOOKUPS_PATH, json=body, idempotent=True)
        except BackendError as exc:
            if exc.status not in (404, 405) or isinstance(exc, BackendDown):
                raise
            return list(await asyncio.gather(*(_ask_one(tracking, number, digits) for number, digits in lookups)))
        results: list[View | None] = answer["results"]
        return results

    return GroupCall(ask, max_group=LOOKUPS_MAX)


async def _ask_one(tracking: Backend, number: str, digits: str | None) -> View | None:
    return await _ask(tracking, params={"waybill_no": number},
                      headers={"X-Phone-Last4": digits} if digits is not None else {})


async def look_up(rt: WebRuntime, *, address: str, waybill_text: str, digits: str | None) -> Lookup:
    """The form: a waybill number, optionally the last 4 digits of a party's phone."""
    s = rt.settings
    waybill = normalise_waybill(waybill_text)
    audit: dict[str, Any] = {"address": address, "via": "form", "waybill": waybill, "digits": digits}
    valid = waybill is not None and (digits is None or public.is_digits(digits))
    key = public.waybill_hash(waybill) if waybill is not None else b""
    wait, state = await _limit_and_lock(rt, address, key if valid and digits is not None else None)
    if wait:
        return await _audit(rt, **audit, result=Lookup("rate_limited", waybill, retry_after=wait))
    if waybill is None or not valid:
        return await _audit(rt, **audit, result=Lookup("invalid", waybill))
    if state is not None and state.locked(utcnow()):
        return await _audit(rt, **audit, result=Lookup("locked", waybill, retry_after=state.wait_seconds(utcnow())))
    try:
        view = await rt.context.public_views.call((waybill, digits))
    except BackendError:  # BackendDown included: tracking cannot answer now
        return await _audit(rt, **audit, result=Lookup("unavailable", waybill))
    if view is None:
        if digits is not None:
            lock = timedelta(minutes=s.public_digit_lock_minutes)
            async with uow(rt) as conn:
                await repository.lock_row(conn, key)
                state = await repository.digit_lock(conn, key, for_update=True)
                await repository.save_digit_lock(conn, key, public.after_failure(
                    state, utcnow(), limit=s.public_digit_failures, lock=lock))
        return await _audit(rt, **audit, result=Lookup("not_found", waybill))
    return await _audit(rt, **audit, result=Lookup("detailed" if view.get("detailed") else "coarse", waybill, view))


async def open_link(rt: WebRuntime, *, address: str, token: str) -> Lookup:
    """A signed link (`/t/{token}`): tracking verifies it; forged and expired ones are not found."""
    audit: dict[str, Any] = {"address": address, "via": "link", "waybill": None, "digits": None}
    wait = await _over_limit(rt, address)
    if wait:
        return await _audit(rt, **audit, result=Lookup("rate_limited", retry_after=wait))
    if not token or len(token) > TOKEN_MAX_LENGTH or not token.isascii():
        return await _audit(rt, **audit, result=Lookup("not_found"))
    try:
        view = await _ask(rt.context.backends.tracking, params={}, headers={"X-Tracking-Link": token})
    except BackendError as exc:
        # A token tracking would not even read (422) is as unknown as a forged one.
        outcome: Outcome = "not_found" if exc.status == 422 else "unavailable"
        return await _audit(rt, **audit, result=Lookup(outcome))
    if view is None:
        return await _audit(rt, **audit, result=Lookup("not_found"))
    waybill = str(view.get("waybill_no") or "")
    return await _audit(rt, **{**audit, "waybill": waybill}, result=Lookup("detailed", waybill, view))


async def sweep(rt: WebRuntime) -> None:
    """Periodic: the audit log past its retention, digit counts that no longer count."""
    s = rt.settings
    async with uow(rt) as conn:
        await repository.sweep(conn, now=utcnow(), retention=timedelta(days=s.public_lookup_retention_days),
                               lock=timedelta(minutes=s.public_digit_lock_minutes))
