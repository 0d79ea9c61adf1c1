"""What a key-account customer (role `customer`) is shown of its own complaints: what it said,
what the desk answered, the resolution, the status and the due times — never the desk's
workings (priority and SLA targets, who claimed it, the suggested-reply script, escalation
reasons, staff names), the caller's phone or e-mail unmasked, or the vehicle and its position.

Pure rules: the desk's view of a ticket in, the customer's out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.pii import mask_email, mask_phone

# Fields of a ticket that are the desk's own; a customer gets null.
INTERNAL_FIELDS = ("priority", "assigned_role", "assigned_to", "claimed_at", "opened_by",
                   "first_response_minutes", "resolution_minutes", "suggested_reply")
# Steps of a ticket's history a customer sees, and what of their details.
SHOWN_ACTIONS = frozenset({"open", "respond", "ask_customer", "customer_reply", "resolve", "reopen", "survey",
                           "close"})
SHOWN_DETAILS = frozenset({"message", "channel", "category", "resolution", "score", "comment"})
# The shipment snapshot a ticket carries, without the truck.
HIDDEN_SHIPMENT = ("vehicle_id", "last_position")


def _role(actor: Any) -> str:
    """Who acted, as a customer is told: the role (`staff`, `customer`, `system`), never the person."""
    return str(actor or "").split(":", 1)[0]


def history_entry(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """A history entry as the customer sees it, or None when the step is internal (claims, escalations)."""
    if entry.get("action") not in SHOWN_ACTIONS:
        return None
    details = entry.get("details") or {}
    return {**entry, "actor": _role(entry.get("actor")),
            "details": {k: v for k, v in details.items() if k in SHOWN_DETAILS}}


def shipment(snapshot: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if snapshot is None:
        return None
    return {**snapshot, **dict.fromkeys(HIDDEN_SHIPMENT)}


def ticket(data: Mapping[str, Any]) -> dict[str, Any]:
    """A ticket (`GET /v1/complaints/{id}` or a list row) as its own customer sees it."""
    shown = {**data, **dict.fromkeys(k for k in INTERNAL_FIELDS if k in data)}
    shown["phone"] = mask_phone(data.get("phone"))
    shown["email"] = mask_email(data.get("email"))
    if "shipment" in data:
        shown["shipment"] = shipment(data["shipment"])
    if data.get("history") is not None:
        shown["history"] = [e for e in (history_entry(h) for h in data["history"]) if e is not None]
    if "allowed_actions" in data:  # the steps a customer may take itself
        shown["allowed_actions"] = [a for a in data["allowed_actions"] if a in CUSTOMER_STEPS]
    return shown


# The steps a customer takes on its own ticket: answer the desk's question, rate the resolution.
CUSTOMER_STEPS = frozenset({"customer_reply", "survey"})
