"""What a key-account customer (role `customer`) is shown of its own shipments: like the public
detailed view plus exceptions and their photos — never the vehicle, its live position, the desk's
tracking records (notes: who was called and what was said), ID numbers or who on the staff did what.

Pure rules: a timeline entry in, the customer's version out (or None: not shown).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.pii import mask_name

# Timeline entries the customer sees; `note` (the desk's 追踪记录) is internal.
SHOWN_KINDS = frozenset({"registered", "scan", "delayed", "recovered", "exception", "delivered", "appointment"})
# Keys never shown to a customer, whatever the entry: staff identities, the vehicle, ID documents.
HIDDEN_KEYS = frozenset({"by", "vehicle_id", "note_id", "contact", "channel", "note", "signer_id_number",
                         "signer_id_type"})


def timeline_entry(kind: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The entry's data as the customer sees it, or None when the entry is not shown."""
    if kind not in SHOWN_KINDS:
        return None
    shown = {k: v for k, v in data.items() if k not in HIDDEN_KEYS}
    if kind == "delivered" and shown.get("signer_name"):
        shown["signer_name"] = mask_name(str(shown["signer_name"]))
    return shown


def actor_role(actor: str | None) -> str | None:
    """Who did it, as a customer is told: the role (`staff`, `branch`), never the person."""
    if actor is None:
        return None
    return actor.split(":", 1)[0]
