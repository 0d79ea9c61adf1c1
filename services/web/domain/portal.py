"""The key-account portal's rules: what a customer may see of a waybill, which of its
shipments a filter keeps, the daily arrival list, days in storage, a delivery window.

- a customer sees its shipments as the public detailed view shows them, plus receipts and
  exception photos: the timeline keeps registration, scans (station level), delays with
  the reason, recoveries, exceptions and the delivery; tracking notes (the desk's internal
  record), who recorded what, the vehicle and every position are left out;
- the signer is masked (杨民敬 → 杨**), as on the public page;
- a shipment is the customer's when its shipper's customer id is the account's; anything
  else is "not found", the same answer as for a waybill that does not exist;
- the daily arrival list (每日到货信息反馈) is the daily e-mail's: shipments whose final
  batch arrived that day, then those not yet arrived whose expected time (ETA, else the
  promised time) falls on or before that day, late when that is past the promised time;
- days in storage (暂存天数) count calendar days in Beijing time from the arrival;
- a delivery window (预约送货) is one day's span, ending after it starts, not in the past and
  at most 30 days ahead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from services.web.domain.desk import parse_time
from shared.clock import BUSINESS_TZ
from shared.errors import Invalid
from shared.pii import mask_name

Row = dict[str, Any]

RECEIPT_STATUSES = ("awaiting_delivery", "signed", "abnormal", "qualified", "mailed", "received", "handed_over",
                    "written_off", "cancelled", "lost")
STATUSES = ("registered", "in_transit", "arrived", "out_for_delivery", "delivered", "exception")
# What of each timeline entry a customer is shown; every other kind (notes) and field
# (vehicle, speed, remaining distance, who recorded it) is left out.
CUSTOMER_TIMELINE: dict[str, tuple[str, ...]] = {
    "registered": ("origin", "destination", "via", "promised_at"),
    "scan": ("type", "station", "pieces", "final"),
    "delayed": ("reason", "delay_minutes", "eta", "promised_at"),
    "recovered": ("eta", "promised_at"),
    "exception": ("action", "exception_id", "kind", "pieces", "station", "description", "resolution"),
    "delivered": ("signer_name", "delegated", "pieces", "station"),
}
APPOINTMENT_HORIZON = timedelta(days=30)
MAX_FILTER_DAYS = 366


def owns(shipment: Mapping[str, Any], customer: str) -> bool:
    """Whether the waybill is the customer's (its shipper's customer id)."""
    shipper = shipment.get("shipper") or {}
    return bool(customer) and isinstance(shipper, Mapping) and shipper.get("customer_id") == customer


def customer_timeline(timeline: Iterable[Mapping[str, Any]]) -> list[Row]:
    out: list[Row] = []
    for e in timeline:
        keep = CUSTOMER_TIMELINE.get(str(e.get("kind")))
        if keep is None:
            continue
        data = e.get("data") or {}
        shown = {k: data.get(k) for k in keep if k in data}
        if e.get("kind") == "delivered":
            shown["signer_name"] = mask_name(shown.get("signer_name"))
        out.append({"at": e.get("at"), "kind": e.get("kind"), "data": shown})
    return sorted(out, key=lambda x: str(parse_time(x["at"]) or ""))


def customer_view(shipment: Mapping[str, Any]) -> Row:
    """One waybill as its customer sees it: never the vehicle, a position or a whole name."""
    cargo = shipment.get("cargo") or {}
    consignee = shipment.get("consignee") or {}
    timeline = customer_timeline(shipment.get("timeline") or [])
    delivered = next((e for e in reversed(timeline) if e["kind"] == "delivered"), None)
    return {
        "waybill_no": shipment.get("waybill_no"), "status": shipment.get("status"),
        "origin": shipment.get("origin"), "destination": shipment.get("destination"),
        "via": list(shipment.get("via") or []), "promised_at": shipment.get("promised_at"),
        "eta": shipment.get("eta"), "delayed": bool(shipment.get("delayed")),
        "delay_minutes": shipment.get("delay_minutes") or 0, "delay_reason": shipment.get("delay_reason"),
        "pieces": shipment.get("pieces"), "pieces_arrived": shipment.get("pieces_arrived"),
        "registered_at": shipment.get("registered_at"), "final_arrived_at": shipment.get("final_arrived_at"),
        "delivered_at": shipment.get("delivered_at"),
        "cargo": {k: cargo.get(k) for k in ("description", "pieces", "weight_kg", "volume_m3")},
        "consignee_name": mask_name(consignee.get("name")), "consignee_company": consignee.get("company"),
        "appointment": _appointment(shipment.get("appointment")),
        "signer": delivered["data"].get("signer_name") if delivered else None,
        "signed_at": delivered["at"] if delivered else None,
        "timeline": timeline,
    }


def _appointment(a: Any) -> Row | None:
    """The current delivery appointment: its window and outcome (not who booked it)."""
    if not isinstance(a, Mapping) or not a.get("window_start"):
        return None
    return {k: a.get(k) for k in ("window_start", "window_end", "outcome", "channel")}


def exception_ids(view: Mapping[str, Any]) -> list[str]:
    """The exceptions reported on the waybill (their photos are shown), oldest first."""
    ids = [str(e["data"]["exception_id"]) for e in view.get("timeline", [])
           if e["kind"] == "exception" and e["data"].get("action") == "reported" and e["data"].get("exception_id")]
    return list(dict.fromkeys(ids))


# What of a complaint's history the customer follows: the steps in words, and the answers
# given to them; never who on the desk took or handed it on, nor internal reasons.
CUSTOMER_HISTORY = frozenset({"open", "respond", "ask_customer", "customer_reply", "escalate", "resolve", "reopen",
                              "survey", "close"})
SHOWN_DETAILS = {"respond": "message", "ask_customer": "message", "customer_reply": "message",
                 "resolve": "resolution"}


def customer_history(complaint: Mapping[str, Any]) -> list[Row]:
    """The complaint's history as its customer follows it, oldest first."""
    out: list[Row] = []
    for h in complaint.get("history") or []:
        action = h.get("action")
        if action not in CUSTOMER_HISTORY:
            continue
        key = SHOWN_DETAILS.get(str(action))
        text = (h.get("details") or {}).get(key) if key else None
        out.append({"at": h.get("at"), "action": action, "status": h.get("to_status"), "text": text})
    return out


# --- the shipments list ---------------------------------------------------------------------

@dataclass(frozen=True)
class ShipmentFilter:
    status: str | None = None
    date_from: date | None = None  # registered on or after (Beijing time)
    date_to: date | None = None  # registered on or before
    destination: str | None = None
    prefix: str | None = None  # waybill number prefix

    def as_params(self) -> dict[str, str]:
        return {k: v for k, v in {
            "status": self.status or "", "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "", "destination": self.destination or "",
            "prefix": self.prefix or ""}.items() if v}


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid("invalid_date", f"{name}: YYYY-MM-DD") from exc


def parse_day(value: str | None) -> date | None:
    return _day(value, "date")


def parse_filter(params: Mapping[str, str]) -> ShipmentFilter:
    status = (params.get("status") or "").strip() or None
    if status is not None and status not in STATUSES:
        raise Invalid("invalid_status", f"status must be one of {', '.join(STATUSES)}")
    date_from, date_to = _day(params.get("from"), "from"), _day(params.get("to"), "to")
    if date_from and date_to and date_to < date_from:
        raise Invalid("invalid_period", "to is before from")
    destination = (params.get("destination") or "").strip().upper()[:16] or None
    prefix = (params.get("prefix") or "").strip().upper()[:40] or None
    if prefix is not None and not prefix.replace("-", "").isalnum():
        raise Invalid("invalid_prefix", "a waybill prefix is letters, digits and -")
    return ShipmentFilter(status=status, date_from=date_from, date_to=date_to, destination=destination,
                          prefix=prefix)


def local_day(value: Any) -> date | None:
    at = parse_time(value)
    return at.astimezone(BUSINESS_TZ).date() if at is not None and at.tzinfo is not None else None


def keeps(f: ShipmentFilter, s: Mapping[str, Any]) -> bool:
    if f.status and s.get("status") != f.status:
        return False
    if f.destination and s.get("destination") != f.destination:
        return False
    if f.prefix and not str(s.get("waybill_no", "")).upper().startswith(f.prefix):
        return False
    if f.date_from or f.date_to:
        day = local_day(s.get("registered_at"))
        if day is None or (f.date_from and day < f.date_from) or (f.date_to and day > f.date_to):
            return False
    return True


def filter_shipments(items: Iterable[Mapping[str, Any]], f: ShipmentFilter) -> list[Row]:
    """The shipments the filter keeps, newest registration first."""
    kept = [dict(s) for s in items if keeps(f, s)]
    return sorted(kept, key=lambda s: (str(parse_time(s.get("registered_at")) or ""), s.get("waybill_no", "")),
                  reverse=True)


# --- the daily arrival list ----------------------------------------------------------------

def arrival_rows(shipments: Iterable[Mapping[str, Any]], day: date) -> list[Row]:
    """每日到货: arrived that day (by the final batch's arrival), then still due by that day."""
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=BUSINESS_TZ)
    arrived: list[Row] = []
    due: list[Row] = []
    for s in shipments:
        base = {"waybill_no": s.get("waybill_no"), "destination": s.get("destination"),
                "consignee_name": s.get("consignee_name"), "pieces": s.get("pieces"),
                "promised_at": s.get("promised_at"), "status": s.get("status")}
        arrived_at = parse_time(s.get("final_arrived_at"))
        if arrived_at is not None:
            if local_day(arrived_at) == day:
                arrived.append({**base, "kind": "arrived", "at": arrived_at, "late": False})
            continue
        if s.get("delivered_at") or s.get("status") == "delivered":
            continue
        expected = parse_time(s.get("eta")) or parse_time(s.get("promised_at"))
        if expected is None or expected.tzinfo is None or expected >= end_of_day:
            continue
        promised = parse_time(s.get("promised_at"))
        due.append({**base, "kind": "due", "at": expected, "late": promised is not None and expected > promised})
    arrived.sort(key=lambda r: (r["at"], r["waybill_no"]))
    due.sort(key=lambda r: (r["at"], r["waybill_no"]))
    return arrived + due


def may_have_arrived(s: Mapping[str, Any]) -> bool:
    """Whether a shipment's arrival time is worth reading (a list row does not carry it)."""
    return s.get("status") in ("arrived", "out_for_delivery", "delivered", "exception") or bool(s.get("pieces_arrived"))


# --- the storage report --------------------------------------------------------------------

def days_in_storage(arrived_at: Any, as_of: datetime) -> int | None:
    """Calendar days (Beijing time) from the arrival to `as_of`: 0 on the day it arrived."""
    start = local_day(arrived_at)
    if start is None:
        return None
    return max(0, (as_of.astimezone(BUSINESS_TZ).date() - start).days)


def appointment_text(a: Any) -> str:
    """An appointment as one cell: its window in Beijing time."""
    if not a:
        return ""
    if isinstance(a, str):
        return a
    if not isinstance(a, Mapping):
        return ""
    start, end = parse_time(a.get("window_start")), parse_time(a.get("window_end"))
    if start is None:
        return ""
    text = start.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M")
    if end is not None:
        text += "–" + end.astimezone(BUSINESS_TZ).strftime("%H:%M")
    return text


def storage_rows(report: Mapping[str, Any] | list[Any], as_of: datetime) -> list[Row]:
    """Tracking's storage report as table rows, longest in storage first."""
    items = report if isinstance(report, list) else (report.get("rows") or report.get("items") or [])
    rows: list[Row] = []
    for r in items:
        days = r.get("days_in_storage")
        rows.append({
            "waybill_no": r.get("waybill_no"), "station": r.get("station") or r.get("destination"),
            "pieces": r.get("pieces"), "weight_kg": r.get("weight_kg"), "volume_m3": r.get("volume_m3"),
            "arrived_at": r.get("arrived_at"),
            "days_in_storage": days if days is not None else days_in_storage(r.get("arrived_at"), as_of),
            "appointment": appointment_text(r.get("appointment")),
            "appointment_outcome": (r.get("appointment") or {}).get("outcome") if isinstance(
                r.get("appointment"), Mapping) else None,
            "appointment_missed": bool(r.get("appointment_missed")),
            "consignee_name": r.get("consignee_name"),
        })
    return sorted(rows, key=lambda r: (-(r["days_in_storage"] or 0), str(r["waybill_no"])))


# --- a delivery window ---------------------------------------------------------------------

def _clock(value: str, name: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError as exc:
        raise Invalid("invalid_time", f"{name}: HH:MM") from exc


def delivery_window(day: str, start: str, end: str, now: datetime) -> tuple[datetime, datetime]:
    """The window asked for, in Beijing time; refused when it ends before it starts, is over
    already, or lies more than 30 days ahead."""
    d = _day(day, "date")
    if d is None:
        raise Invalid("invalid_date", "date: YYYY-MM-DD")
    window_start = datetime.combine(d, _clock(start, "from"), tzinfo=BUSINESS_TZ)
    window_end = datetime.combine(d, _clock(end, "to"), tzinfo=BUSINESS_TZ)
    if window_end <= window_start:
        raise Invalid("window_backwards", "the window must end after it starts")
    if window_end <= now:
        raise Invalid("window_past", "the window is already over")
    if window_start > now + APPOINTMENT_HORIZON:
        raise Invalid("window_too_far", "a window at most 30 days ahead")
    return window_start, window_end
