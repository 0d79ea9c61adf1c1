"""What each desk page needs, read from the backends as the signed-in person.

One signature style: `async def page_data(rt, *, caller, ...)`; results are `Part`s (see
desk.parts), so a page renders whatever could be had.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from services.web.backends.client import BackendError, Caller
from services.web.context import WebRuntime
from services.web.desk.parts import Part, part, parts
from services.web.domain import desk as rules
from services.web.domain.search import Query, classify
from shared.clock import utcnow

LIST_LIMIT = 50
SEARCH_PAGE = 25  # a search's hits on one page, by waybill number; the page says when more match
OPEN_EXCEPTIONS_ROUTE = "/v1/exceptions"
TRACK_ROUTE = "/v1/vehicles/{vehicle_id}/track"
TRACK_POINTS = 500


def _items(page: Any) -> list[dict[str, Any]]:
    return list(page.get("items", [])) if isinstance(page, dict) else []


# --- the workbench's lists -----------------------------------------------------------------

async def delayed(rt: WebRuntime, *, caller: Caller) -> list[dict[str, Any]]:
    page = await rt.context.backends.tracking.get(caller, "/v1/shipments", {"delayed": "true", "limit": 200})
    return rules.delayed_order(s for s in _items(page) if s.get("status") != "delivered")[:LIST_LIMIT]


async def in_transit(rt: WebRuntime, *, caller: Caller) -> dict[str, Any]:
    report: dict[str, Any] = await rt.context.backends.tracking.get(caller, "/v1/reports/in-transit")
    return report


async def stale(rt: WebRuntime, *, caller: Caller) -> list[dict[str, Any]]:
    report = await in_transit(rt, caller=caller)
    return [v for v in report.get("vehicles", []) if v.get("stale")]


async def open_complaints(rt: WebRuntime, *, caller: Caller) -> list[dict[str, Any]]:
    """Tickets not resolved or closed, newest first (one call per open status)."""
    statuses = sorted(rules.OPEN_COMPLAINT)
    pages = await asyncio.gather(*(rt.context.backends.complaints.get(
        caller, "/v1/complaints", {"status": s, "limit": 200}) for s in statuses))
    items = [c for p in pages for c in _items(p)]
    return sorted(items, key=lambda c: str(c.get("opened_at")), reverse=True)


async def complaints_at_risk(rt: WebRuntime, *, caller: Caller) -> list[dict[str, Any]]:
    return rules.complaints_at_risk(await open_complaints(rt, caller=caller), utcnow())[:LIST_LIMIT]


async def callbacks(rt: WebRuntime, *, caller: Caller) -> list[dict[str, Any]]:
    page = await rt.context.backends.complaints.get(caller, "/v1/calls/callbacks", {"limit": 200})
    return rules.callbacks_due(_items(page), utcnow())[:LIST_LIMIT]


async def receipts_due(rt: WebRuntime, *, caller: Caller) -> list[dict[str, Any]]:
    """Overdue, or due within 3 days: the receipts overdue as of three days from now."""
    now = utcnow()
    as_of = (now + rules.RECEIPT_WINDOW).isoformat()
    page = await rt.context.backends.receipts.get(caller, "/v1/receipts",
                                                  {"overdue": "true", "as_of": as_of, "limit": 200})
    items = [r for r in _items(page) if rules.receipt_needs_chasing(r, now)]
    return rules.receipts_by_deadline(items)[:LIST_LIMIT]


async def exceptions_summary(rt: WebRuntime, *, caller: Caller, days: int = 7) -> list[dict[str, Any]]:
    """The last `days` days' exceptions per station and kind, the rows with some still open at
    the end (tracking's weekly summary)."""
    now = utcnow()
    report = await rt.context.backends.tracking.get(
        caller, "/v1/reports/exceptions", {"from": (now - timedelta(days=days)).isoformat(), "to": now.isoformat()})
    return [r for r in report.get("rows", []) if r.get("open_at_end")]


async def open_exceptions(rt: WebRuntime, *, caller: Caller, limit: int = 200) -> list[dict[str, Any]]:
    """Each exception still open, newest first, with its id (to resolve it): tracking's
    `GET /v1/exceptions?status=open`; a tracking whose OpenAPI does not declare it is said to
    lack it (unsupported), never guessed at."""
    b = rt.context.backends
    if not await rt.context.capabilities.has_param(b.tracking, "get", OPEN_EXCEPTIONS_ROUTE, "status"):
        raise BackendError("tracking", 405, "unsupported", f"GET {OPEN_EXCEPTIONS_ROUTE}?status= is not available "
                                                           "in tracking")
    return _items(await b.tracking.get(caller, OPEN_EXCEPTIONS_ROUTE, {"status": "open", "limit": limit}))


async def exceptions_open(rt: WebRuntime, *, caller: Caller) -> list[dict[str, Any]]:
    """The workbench's open exceptions, newest first."""
    return await open_exceptions(rt, caller=caller, limit=LIST_LIMIT)


LISTS: dict[str, tuple[str, Callable[..., Awaitable[Any]]]] = {
    "delayed-list": ("tracking", delayed),
    "stale-list": ("tracking", stale),
    "complaints-at-risk": ("complaints", complaints_at_risk),
    "callbacks-due": ("complaints", callbacks),
    "receipts-overdue": ("receipts", receipts_due),
    "exceptions-open": ("tracking", exceptions_open),
}


async def workbench(rt: WebRuntime, *, caller: Caller, names: list[str] | None = None) -> dict[str, Part]:
    chosen = names or list(LISTS)
    return await parts({n: (LISTS[n][0], LISTS[n][1](rt, caller=caller)) for n in chosen})


# --- one waybill --------------------------------------------------------------------------

async def _stations(rt: WebRuntime, caller: Caller, codes: list[str]) -> list[dict[str, Any]]:
    found = await asyncio.gather(*(part("tracking", rt.context.backends.tracking.get(caller, f"/v1/stations/{c}"))
                                   for c in dict.fromkeys(codes)))
    return [p.data for p in found if p.ok]


async def shipment(rt: WebRuntime, *, caller: Caller, waybill_no: str) -> dict[str, Part]:
    b = rt.context.backends
    got = await parts({
        "shipment": ("tracking", b.tracking.get(caller, f"/v1/shipments/{waybill_no}")),
        "receipt": ("receipts", b.receipts.get(caller, f"/v1/receipts/{waybill_no}")),
        "complaints": ("complaints", b.complaints.get(caller, "/v1/complaints", {"waybill_no": waybill_no})),
        "notifications": ("notifier", b.notifier.get(caller, "/v1/notifications", {"waybill_no": waybill_no})),
    })
    s = got["shipment"]
    route: list[str] = []
    if s.ok:
        route = [s.data["origin"], *s.data.get("via", []), s.data["destination"]]
    stations, got["track"] = await asyncio.gather(_stations(rt, caller, route), track(rt, caller=caller, shipment=s))
    got["stations"] = Part("tracking", stations)
    return got


async def track(rt: WebRuntime, *, caller: Caller, shipment: Part) -> Part:
    """The recent track of the vehicle carrying the shipment, since it departed (tracking's
    `GET /v1/vehicles/{id}/track`): no vehicle, or a tracking without the route, draws none."""
    vehicle_id = shipment.data.get("vehicle_id") if shipment.ok else None
    b = rt.context.backends
    if not vehicle_id or not await rt.context.capabilities.has_route(b.tracking, "get", TRACK_ROUTE):
        return Part("tracking", {"points": []})
    params: dict[str, Any] = {"limit": TRACK_POINTS}
    if shipment.data.get("departed_at"):
        params["since"] = shipment.data["departed_at"]
    return await part("tracking", b.tracking.get(caller, TRACK_ROUTE.format(vehicle_id=quote(vehicle_id, safe="")),
                                                 params))


async def timeline(rt: WebRuntime, *, caller: Caller, waybill_no: str) -> Part:
    return await part("tracking", rt.context.backends.tracking.get(caller, f"/v1/shipments/{waybill_no}"))


# --- search -------------------------------------------------------------------------------

async def search(rt: WebRuntime, *, caller: Caller, text: str) -> tuple[Query, dict[str, Part]]:
    """The hits for what was typed. A waybill number is looked up whole first; the prefix,
    phone and customer searches use tracking's `GET /v1/shipments?q=` / `?phone=` when the
    deployed tracking has them (read from its OpenAPI), and say so when it has not."""
    query = classify(text)
    b, caps = rt.context.backends, rt.context.capabilities
    found: dict[str, Part] = {}
    if query.kind == "empty":
        return query, found
    if query.kind == "waybill":
        exact = await part("tracking", b.tracking.get(caller, f"/v1/shipments/{query.value}"))
        if exact.ok:
            found["shipments"] = Part("tracking", [exact.data])
            return query, found
        if exact.problem not in ("not_found", None):
            found["shipments"] = exact
            return query, found
    param = {"waybill": "q", "customer": "q", "phone": "phone", "phone_last4": "phone"}[query.kind]
    if await caps.has_param(b.tracking, "get", "/v1/shipments", param):
        page = await part("tracking", b.tracking.get(caller, "/v1/shipments",
                                                     {param: query.value, "limit": SEARCH_PAGE}))
        found["shipments"] = page if not page.ok else Part("tracking", _items(page.data))
        if page.ok and isinstance(page.data, dict) and page.data.get("next_cursor"):
            found["more"] = Part("tracking", SEARCH_PAGE)  # more match than the page shows
    else:
        found["shipments"] = Part("tracking", problem="unsupported",
                                  message=f"GET /v1/shipments?{param}= is not available in tracking")
    if query.kind in ("customer", "waybill") and re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", query.value):
        found["customer"] = await part("complaints", b.complaints.get(caller, f"/v1/customers/{query.value}"))
    return query, found


# --- queues -------------------------------------------------------------------------------

async def complaints_queue(rt: WebRuntime, *, caller: Caller) -> dict[str, Part]:
    return await parts({
        "complaints": ("complaints", open_complaints(rt, caller=caller)),
        "callbacks": ("complaints", callbacks(rt, caller=caller)),
        "calls": ("complaints", rt.context.backends.complaints.get(caller, "/v1/calls", {"limit": 50})),
    })


async def complaint(rt: WebRuntime, *, caller: Caller, complaint_id: str) -> Part:
    return await part("complaints", rt.context.backends.complaints.get(caller, f"/v1/complaints/{complaint_id}"))


async def receipts_queue(rt: WebRuntime, *, caller: Caller, status: str | None) -> Part:
    async def load() -> list[dict[str, Any]]:
        page = await rt.context.backends.receipts.get(caller, "/v1/receipts", {"status": status, "limit": 200})
        return rules.receipts_by_deadline(_items(page))
    return await part("receipts", load())


async def notifications(rt: WebRuntime, *, caller: Caller, status: str | None) -> Part:
    async def load() -> list[dict[str, Any]]:
        return _items(await rt.context.backends.notifier.get(caller, "/v1/notifications",
                                                             {"status": status, "limit": 100}))
    return await part("notifier", load())


async def stations(rt: WebRuntime, *, caller: Caller) -> Part:
    async def load() -> list[dict[str, Any]]:
        return _items(await rt.context.backends.tracking.get(caller, "/v1/stations", {"limit": 500}))
    return await part("tracking", load())


# --- writes -------------------------------------------------------------------------------

class WriteFailed(Exception):
    """A write the backend refused or could not take: shown above the form, values kept."""

    def __init__(self, error: BackendError) -> None:
        super().__init__(error.message)
        self.error = error


async def write(call: Awaitable[Any]) -> Any:
    try:
        return await call
    except BackendError as exc:
        raise WriteFailed(exc) from exc
