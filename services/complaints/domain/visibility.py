"""What a partner branch may read of a ticket (docs/SECURITY.md, T20).

A branch sees the tickets about waybills on its route, also those the desk or proactive care
opened. The desk's own judgement of the caller must not travel with them: the priority, the
proactive flag and the SLA targets follow from whether the shipper is a key customer, and the
caller's phone and e-mail are the desk's contact, not the partner's. So a branch reads every
ticket through `partner_view`: those fields null, contacts masked, and the same fields taken out
of the history entries' details. Pure: dicts in, dicts out."""

from __future__ import annotations

from typing import Any

from shared.pii import mask_email, mask_phone

# Fields that carry the desk's judgement of the caller (key customer or not).
HIDDEN_FROM_PARTNERS: tuple[str, ...] = (
    "priority", "proactive", "first_response_minutes", "resolution_minutes",
    "first_response_due", "resolution_due",
)


def partner_view(ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket (a list row or the full view) as a branch may read it."""
    out = {**ticket}
    for name in HIDDEN_FROM_PARTNERS:
        if name in out:
            out[name] = None
    if "phone" in out:
        out["phone"] = mask_phone(out["phone"])
    if "email" in out:
        out["email"] = mask_email(out["email"])
    if out.get("history"):
        out["history"] = [_entry(e) for e in out["history"]]
    return out


def _entry(entry: dict[str, Any]) -> dict[str, Any]:
    details = entry.get("details")
    if not isinstance(details, dict):
        return entry
    kept = {k: v for k, v in details.items() if k not in HIDDEN_FROM_PARTNERS and k not in ("phone", "email")}
    return {**entry, "details": kept}
