"""Envelopes of mailed receipts (寄出 / 接收): what one envelope may carry, and its
reconciliation against its list when it arrives at the origin station.

* An envelope carries receipts from their destination station (``from_station``) to their
  origin station (``to_station``) and nothing else, at most ``envelope_max_waybills`` of
  them, and only ``qualified`` ones (409 ``invalid_transition`` naming each one's state):
  all of them or none.
* On arrival, a listed waybill that is present is received; a listed one that is missing
  is flagged lost and chased at once. A waybill present but not listed is refused (422
  ``not_in_envelope``), as is an arrival before the sending, or a second arrival (409).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.receipts.domain.lifecycle import ReceiptAction, ReceiptStatus
from shared.errors import Conflict, Invalid


def check_size(waybills: Sequence[str], max_waybills: int) -> None:
    if len(waybills) > max_waybills:
        raise Invalid("too_many_waybills", f"an envelope lists at most {max_waybills} waybills",
                      {"count": len(waybills), "max": max_waybills})


def check_contents(waybills: Sequence[str], receipts: Mapping[str, Mapping[str, Any]], *,
                   from_station: str, to_station: str) -> None:
    """``receipts``: the receipts of ``waybills`` the caller may see, by waybill."""
    unknown = [w for w in waybills if w not in receipts]
    if unknown:
        raise Invalid("unknown_receipts", "no receipt is known for some waybills", {"waybills": unknown})
    wrong_from = [w for w in waybills if receipts[w]["destination"] != from_station]
    wrong_to = [w for w in waybills if receipts[w]["origin"] != to_station]
    if wrong_from or wrong_to:
        raise Invalid(
            "envelope_route_mismatch",
            "an envelope carries receipts from their destination station (from_station) "
            "to their origin station (to_station) only",
            {"not_from_station": wrong_from, "not_to_station": wrong_to},
        )
    not_qualified = [{"waybill_no": w, "current": receipts[w]["status"]} for w in waybills
                     if receipts[w]["status"] != ReceiptStatus.QUALIFIED.value]
    if not_qualified:
        first = not_qualified[0]
        raise Conflict(
            "invalid_transition",
            f"only qualified receipts can be mailed; {first['waybill_no']} is {first['current']}",
            {"action": ReceiptAction.MAIL.value, "current": first["current"], "receipts": not_qualified},
        )


def check_arrival(envelope: Mapping[str, Any], *, received_at: datetime, listed: Sequence[str],
                  present: Sequence[str]) -> None:
    """``envelope``: its ``status``, ``sent_at`` and ``received_at``; ``listed``: its waybills."""
    if envelope["status"] == "received":
        raise Conflict("envelope_already_received", "this envelope's arrival was already recorded",
                       {"received_at": envelope["received_at"].isoformat()})
    if received_at < envelope["sent_at"]:
        raise Invalid("arrival_before_sending", "received_at is before the envelope was sent",
                      {"sent_at": envelope["sent_at"].isoformat()})
    extra = sorted(set(present) - set(listed))
    if extra:
        raise Invalid("not_in_envelope", "some waybills present are not on the envelope's list",
                      {"waybills": extra})
