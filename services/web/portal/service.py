"""What each portal page needs, read from the backends as the signed-in customer.

The customer's token carries `role=customer` and its `customer` claim, so every backend's
own scope rule decides what it sees (another customer's waybill is the backend's 404). The
portal adds one check of its own where the answer names its owner (a waybill's shipper, a
complaint's customer): anything not the account's is "not found" as well.

A part the deployed backends cannot give yet (a route missing from their OpenAPI, or a
backend that does not take customer tokens yet) is said to be unavailable — never guessed.
One signature style: `async def page_data(rt, *, caller, ...)`; results are `Part`s.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any

from services.web.backends.client import Backend, BackendError, Caller
from services.web.context import WebRuntime
from services.web.desk.parts import Part, part, parts
from services.web.domain import desk as desk_rules
from services.web.domain import portal as rules

PAGE = 200
MAX_ROWS = 2000  # a filter reads at most this many of the customer's shipments (the page says so)
ARRIVAL_READS = 200  # shipments whose arrival time is read for one day's list
STORAGE_ROUTE = "/v1/reports/storage"
APPOINT_ROUTE = "/v1/shipments/{waybill_no}/appointments"


def _items(page: Any) -> list[dict[str, Any]]:
    return list(page.get("items", [])) if isinstance(page, dict) else []


async def collect(backend: Backend, caller: Caller, path: str, params: dict[str, Any],
                  max_rows: int = MAX_ROWS) -> tuple[list[dict[str, Any]], bool]:
    """Every item of a keyset-paginated list, up to `max_rows`; whether there were more."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = await backend.get(caller, path, {**params, "limit": PAGE, "cursor": cursor})
        items += _items(page)
        cursor = page.get("next_cursor") if isinstance(page, dict) else None
        if not cursor:
            return items, False
        if len(items) >= max_rows:
            return items[:max_rows], True


# --- shipments ----------------------------------------------------------------------------

async def shipments(rt: WebRuntime, *, caller: Caller, f: rules.ShipmentFilter) -> Part:
    """The customer's shipments the filter keeps. Status goes to tracking as its own filter, a
    waybill prefix as `q` (when tracking has it); the rest is applied here."""
    tracking = rt.context.backends.tracking
    params: dict[str, Any] = {"status": f.status}
    if f.prefix and await rt.context.capabilities.has_param(tracking, "get", "/v1/shipments", "q"):
        params["q"] = f.prefix

    async def load() -> dict[str, Any]:
        items, more = await collect(tracking, caller, "/v1/shipments", params)
        return {"rows": rules.filter_shipments(items, f), "truncated": more}
    return await part("tracking", load())


async def shipment(rt: WebRuntime, *, caller: Caller, customer: str, waybill_no: str) -> dict[str, Part]:
    """One waybill as the customer sees it (with its current delivery appointment), its receipt,
    complaints and the photos of its exceptions."""
    b = rt.context.backends
    got = await parts({
        "shipment": ("tracking", b.tracking.get(caller, f"/v1/shipments/{waybill_no}")),
        "receipt": ("receipts", b.receipts.get(caller, f"/v1/receipts/{waybill_no}")),
        "complaints": ("complaints", complaints_of(rt, caller=caller, customer=customer, waybill_no=waybill_no)),
    })
    s = got["shipment"]
    if s.ok:
        if not rules.owns(s.data, customer):
            got["shipment"] = Part("tracking", problem="not_found", message=f"waybill {waybill_no} not found")
            return got
        view = rules.customer_view(s.data)
        got["shipment"] = Part("tracking", view)
        reported = rules.exception_ids(view)
        if reported:
            got["photos"] = await part("tracking", _photos(rt, caller, reported))
    receipt = got["receipt"]
    if receipt.problem == "not_found":  # a waybill without a receipt requirement has no receipt
        got["receipt"] = Part("receipts", None)
    return got


async def shipment_owned(rt: WebRuntime, *, caller: Caller, customer: str, waybill_no: str) -> bool | None:
    """Whether the waybill is the customer's: True, False (not there or not theirs), or None
    when tracking cannot say (unavailable, or not taking customer tokens yet)."""
    got = await part("tracking", rt.context.backends.tracking.get(caller, f"/v1/shipments/{waybill_no}"))
    if got.ok:
        return rules.owns(got.data, customer)
    return False if got.problem == "not_found" else None


async def _photos(rt: WebRuntime, caller: Caller, exception_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    tracking = rt.context.backends.tracking
    pages = await asyncio.gather(*(tracking.get(caller, f"/v1/exceptions/{x}/photos") for x in exception_ids))
    return {x: _items(p) for x, p in zip(exception_ids, pages, strict=True)}


async def photo(rt: WebRuntime, *, caller: Caller, customer: str, waybill_no: str, exception_id: str,
                photo_id: int) -> tuple[bytes, str] | None:
    """A photo of an exception on the customer's waybill, or None when it is not theirs."""
    tracking = rt.context.backends.tracking
    try:
        s = await tracking.get(caller, f"/v1/shipments/{waybill_no}")
    except BackendError as exc:
        if exc.status in (403, 404):
            return None
        raise
    if not rules.owns(s, customer) or exception_id not in rules.exception_ids(rules.customer_view(s)):
        return None
    try:
        r = await tracking.request(caller, "GET", f"/v1/exceptions/{exception_id}/photos/{photo_id}", accept="image/*")
    except BackendError as exc:
        if exc.status in (403, 404):
            return None
        raise
    kind = r.headers.get("content-type", "").split(";")[0].strip()
    if not kind.startswith("image/"):
        return None
    return r.content, kind


# --- the daily arrival list ---------------------------------------------------------------

async def arrivals(rt: WebRuntime, *, caller: Caller, day: date) -> Part:
    """每日到货 for `day`: the customer's shipments, with the arrival time of those that may
    have arrived read from each one (a list row does not carry it)."""
    tracking = rt.context.backends.tracking

    async def load() -> dict[str, Any]:
        items, more = await collect(tracking, caller, "/v1/shipments", {})
        # A shipment registered after the day cannot be on that day's list.
        items = [s for s in items if (rules.local_day(s.get("registered_at")) or day) <= day]
        need = [s for s in items if "final_arrived_at" not in s and rules.may_have_arrived(s)]
        need.sort(key=lambda s: str(s.get("registered_at")), reverse=True)
        reads = need[:ARRIVAL_READS]
        sem = asyncio.Semaphore(8)

        async def detail(w: str) -> Part:
            async with sem:
                return await part("tracking", tracking.get(caller, f"/v1/shipments/{w}"))
        found = await asyncio.gather(*(detail(s["waybill_no"]) for s in reads))
        by_no = {p.data["waybill_no"]: p.data for p in found if p.ok}
        unread = {s["waybill_no"] for s in need[ARRIVAL_READS:]}
        merged = []
        for s in items:
            d = by_no.get(s["waybill_no"])
            if d is not None:
                s = {**s, "final_arrived_at": d.get("final_arrived_at"), "delivered_at": d.get("delivered_at")}
            merged.append(s)
        return {"rows": rules.arrival_rows(merged, day), "truncated": more or bool(unread)}
    return await part("tracking", load())


# --- the storage report -------------------------------------------------------------------

async def storage(rt: WebRuntime, *, caller: Caller, customer: str, station: str | None,
                  as_of: datetime) -> Part:
    """货物暂存报表 from tracking's `GET /v1/reports/storage` (when the deployed tracking has it)."""
    tracking = rt.context.backends.tracking
    if not await rt.context.capabilities.has_route(tracking, "get", STORAGE_ROUTE):
        return Part("tracking", problem="unsupported", message=f"GET {STORAGE_ROUTE} is not available in tracking")

    async def load() -> list[dict[str, Any]]:
        report = await tracking.get(caller, STORAGE_ROUTE, {"customer_id": customer, "station": station,
                                                            "as_of": as_of.isoformat()})
        return rules.storage_rows(report, as_of)
    return await part("tracking", load())


# --- appointments -------------------------------------------------------------------------

async def can_appoint(rt: WebRuntime) -> bool:
    return await rt.context.capabilities.has_route(rt.context.backends.tracking, "post", APPOINT_ROUTE)


# --- receipts and complaints --------------------------------------------------------------

async def receipts(rt: WebRuntime, *, caller: Caller, status: str | None) -> Part:
    async def load() -> dict[str, Any]:
        items, more = await collect(rt.context.backends.receipts, caller, "/v1/receipts", {"status": status})
        return {"rows": desk_rules.receipts_by_deadline(items), "truncated": more}
    return await part("receipts", load())


async def complaints_of(rt: WebRuntime, *, caller: Caller, customer: str,
                        waybill_no: str | None = None) -> list[dict[str, Any]]:
    items, _ = await collect(rt.context.backends.complaints, caller, "/v1/complaints",
                             {"customer_id": customer, "waybill_no": waybill_no}, max_rows=500)
    return [c for c in items if c.get("customer_id") == customer]


async def complaint(rt: WebRuntime, *, caller: Caller, customer: str, complaint_id: str) -> Part:
    got = await part("complaints", rt.context.backends.complaints.get(caller, f"/v1/complaints/{complaint_id}"))
    if got.ok and got.data.get("customer_id") != customer:
        return Part("complaints", problem="not_found", message="complaint not found")
    return got
