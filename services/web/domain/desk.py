"""The workbench's rules: what is at risk, what is due, in which order.

- a complaint is *at risk* while it still owes its first response and that is due within
  2 minutes (or already past), or when it has breached a deadline;
- a receipt belongs on the workbench when it is overdue or due within 3 days;
- delayed shipments: the newest delay first (tracking's `delayed_since`), then by waybill number;
  from a tracking without it, the longest delay first;
- a callback is due once its time has come, soonest first;
- which buttons a receipt row offers, by its status (the receipts service decides; these only
  choose what to offer): cancelling only for cash on delivery, never while sealed in an envelope;
- an exception is open from its `reported` timeline entry until one `resolved` names its id;
- which notifications the desk may send again: failed or suppressed ones that have somewhere
  to go (not `no_recipient`, not `opted_out`: sending again could not deliver, or would go
  against the recipient's wish; not `rolled_up`: its summary is what is sent again).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

AT_RISK_WINDOW = timedelta(minutes=2)
RECEIPT_WINDOW = timedelta(days=3)
OPEN_COMPLAINT = frozenset({"open", "responded", "waiting_customer", "escalated"})

Row = dict[str, Any]


def parse_time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def complaint_at_risk(c: Row, now: datetime, window: timedelta = AT_RISK_WINDOW) -> bool:
    if c.get("status") not in OPEN_COMPLAINT:
        return False
    if c.get("breached"):
        return True
    due = parse_time(c.get("first_response_due"))
    return c.get("status") == "open" and due is not None and due - now <= window


def complaints_at_risk(items: Iterable[Row], now: datetime) -> list[Row]:
    """At-risk complaints, the most urgent (earliest due) first."""
    far = datetime.max.replace(tzinfo=now.tzinfo)
    risky = [c for c in items if complaint_at_risk(c, now)]
    return sorted(risky, key=lambda c: parse_time(c.get("first_response_due") or c.get("resolution_due")) or far)


def sla_due(c: Row) -> datetime | None:
    """The deadline the countdown shows: the first response while none was given, else the resolution."""
    if c.get("status") == "open" and c.get("first_response_due"):
        return parse_time(c["first_response_due"])
    return parse_time(c.get("resolution_due"))


def receipt_needs_chasing(r: Row, now: datetime, window: timedelta = RECEIPT_WINDOW) -> bool:
    if r.get("overdue"):
        return True
    due = parse_time(r.get("due_at"))
    return due is not None and due - now <= window


def receipts_by_deadline(items: Iterable[Row]) -> list[Row]:
    """Earliest deadline first; receipts without one (not arrived yet) last."""
    def key(r: Row) -> tuple[bool, float]:
        due = parse_time(r.get("due_at"))
        return (due is None, due.timestamp() if due else 0.0)
    return sorted(items, key=key)


def delayed_order(items: Iterable[Row]) -> list[Row]:
    """The newest delay first (`delayed_since`; one without the time after those with it), then
    by waybill number. From a tracking that does not say when delays began: the longest first."""
    rows = list(items)
    if any(s.get("delayed_since") for s in rows):
        def since(s: Row) -> float:
            at = parse_time(s.get("delayed_since"))
            return -at.timestamp() if at is not None else float("inf")
        return sorted(rows, key=lambda s: (since(s), str(s.get("waybill_no"))))
    return sorted(rows, key=lambda s: (-(s.get("delay_minutes") or 0), str(s.get("waybill_no"))))


def callbacks_due(items: Iterable[Row], now: datetime) -> list[Row]:
    """Every pending callback, soonest first; those whose time has come are marked `due`."""
    out = []
    for c in items:
        due = parse_time(c.get("callback_due"))
        out.append({**c, "due": due is not None and due <= now})
    return sorted(out, key=lambda c: str(c.get("callback_due") or ""))


def minutes_left(due: datetime | None, now: datetime) -> int | None:
    if due is None:
        return None
    return int((due - now).total_seconds() // 60)


RECEIPT_ACTIONS: dict[str, tuple[str, ...]] = {
    "signed": ("inspection",), "abnormal": ("re-sign",), "mailed": ("arrival",),
    "received": ("handover", "write-off"), "lost": ("receive",),
}
CANCELLABLE_RECEIPTS = frozenset({"awaiting_delivery", "signed", "abnormal", "qualified", "received", "lost"})


def receipt_actions(r: Row) -> tuple[str, ...]:
    actions = RECEIPT_ACTIONS.get(str(r.get("status")), ())
    if r.get("payment") == "cod" and r.get("status") in CANCELLABLE_RECEIPTS:
        actions = (*actions, "cancel")
    return actions


RETRYABLE_NOTIFICATIONS = frozenset({"failed", "suppressed"})
NOTHING_TO_SEND = frozenset({"no_recipient", "opted_out", "rolled_up"})


def notification_retryable(n: Row) -> bool:
    return (n.get("status") in RETRYABLE_NOTIFICATIONS and n.get("reason") not in NOTHING_TO_SEND
            and bool(n.get("to")))


def open_exceptions(waybill_no: str, timeline: Iterable[Row]) -> list[Row]:
    """The exceptions of one waybill still open, read from its timeline (tracking writes a
    `reported` and a `resolved` entry per exception, each naming its `exception_id`)."""
    reported: dict[str, Row] = {}
    resolved: set[str] = set()
    for e in timeline:
        if e.get("kind") != "exception":
            continue
        data = e.get("data") or {}
        eid = data.get("exception_id")
        if not eid:
            continue
        if data.get("action") == "resolved":
            resolved.add(str(eid))
        else:
            reported[str(eid)] = {**data, "id": str(eid), "waybill_no": waybill_no, "reported_at": e.get("at")}
    return [r for eid, r in reported.items() if eid not in resolved]
