"""The custody chain: every hand-off of the paper, who did what, when, from whom to whom
(出入清晰、可查). Entries are immutable and the chain only grows: a correction is a new entry
with a note, never an edit, so the history stays evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.receipts.domain.lifecycle import Payment, ReceiptAction, ReceiptStatus, transition
from services.receipts.domain.times import aware
from shared.errors import Invalid

_S = ReceiptStatus
_A = ReceiptAction


class HandoverTo(StrEnum):
    """Who receives a returned receipt at the origin (the contract's ``to``)."""

    CUSTOMER = "customer"
    SALES = "sales"


class PartyKind(StrEnum):
    STATION = "station"
    COURIER = "courier"
    CUSTOMER = "customer"
    SALES = "sales"
    UNKNOWN = "unknown"


UNKNOWN_PARTY = PartyKind.UNKNOWN.value


def party(kind: PartyKind, ref: str) -> str:
    """A custody party label, ``"<kind>:<ref>"`` (e.g. ``station:SH01``, ``courier:SF1234``)."""
    kind = PartyKind(kind)
    if kind is PartyKind.UNKNOWN:
        return UNKNOWN_PARTY
    if not ref or not ref.strip():
        raise Invalid("missing_party", f"a {kind.value} party needs a name or code", {"kind": kind.value})
    return f"{kind.value}:{ref.strip()}"


@dataclass(frozen=True, slots=True)
class CustodyEntry:
    """One hand-off of the paper; ``at`` is the time the station states, ``actor`` who recorded it."""

    at: datetime
    action: ReceiptAction
    actor: str
    from_party: str
    to_party: str
    note: str = ""

    def __post_init__(self) -> None:
        aware("at", self.at)
        if not self.actor or not self.actor.strip():
            raise Invalid("missing_actor", "every custody entry names its actor")


def holder(status: ReceiptStatus, *, origin: str, destination: str, courier_no: str | None = None) -> str:
    """Who physically holds the receipt while it is in ``status`` (before it leaves the carrier)."""
    status = ReceiptStatus(status)
    if status in {_S.AWAITING_DELIVERY, _S.SIGNED, _S.ABNORMAL, _S.QUALIFIED}:
        return party(PartyKind.STATION, destination)
    if status is _S.MAILED:
        return party(PartyKind.COURIER, courier_no) if courier_no else UNKNOWN_PARTY
    if status is _S.RECEIVED:
        return party(PartyKind.STATION, origin)
    # Lost: nobody knows; handed over / written off / cancelled: out of the chain.
    return UNKNOWN_PARTY


def custody_parties(
    action: ReceiptAction,
    *,
    status_before: ReceiptStatus,
    origin: str,
    destination: str,
    courier_no: str | None = None,
    handover_to: HandoverTo | None = None,
    recipient: str | None = None,
) -> tuple[str, str]:
    """``(from_party, to_party)`` for ``action``; ``recipient`` is the hand-over recipient or the collector.

    deliver / inspect / re_sign: destination station → destination station (the paper
    stays where it was signed); mail: destination → courier; receive: courier (or
    unknown, if it was lost) → origin; flag_lost: courier → unknown; hand_over: origin →
    customer or sales recipient; write_off: origin → customer (the collector); cancel:
    current holder → current holder (cancelling ends the chase, it moves no paper).
    """
    action = ReceiptAction(action)
    dest = party(PartyKind.STATION, destination)
    orig = party(PartyKind.STATION, origin)
    courier = party(PartyKind.COURIER, courier_no) if courier_no else UNKNOWN_PARTY
    if action in {_A.DELIVER, _A.INSPECT_QUALIFIED, _A.INSPECT_ABNORMAL, _A.RE_SIGN}:
        return dest, dest
    if action is _A.MAIL:
        if not courier_no:
            raise Invalid("missing_party", "mailing needs the envelope's courier number")
        return dest, courier
    if action is _A.RECEIVE:
        # From lost we may not know the courier any more; the courier number, if the
        # caller still has it from the envelope, keeps the chain precise.
        return courier, orig
    if action is _A.FLAG_LOST:
        return courier, UNKNOWN_PARTY
    if action is _A.HAND_OVER:
        if handover_to is None or not recipient:
            raise Invalid("missing_party", "a hand-over needs `to` (customer | sales) and the recipient")
        kind = PartyKind.CUSTOMER if HandoverTo(handover_to) is HandoverTo.CUSTOMER else PartyKind.SALES
        return orig, party(kind, recipient)
    if action is _A.WRITE_OFF:
        if not recipient:
            raise Invalid("missing_party", "a write-off names the collector")
        return orig, party(PartyKind.CUSTOMER, recipient)
    # cancel
    current = holder(status_before, origin=origin, destination=destination, courier_no=courier_no)
    return current, current


def append_custody(chain: Sequence[CustodyEntry], entry: CustodyEntry) -> tuple[CustodyEntry, ...]:
    """The chain with ``entry`` appended; the input is never modified (append-only history).

    The order is the order of recording; ``at`` is the hand-off time stated by the
    station and is not re-sorted, so a late report stays visible as such.
    """
    return (*chain, entry)


@dataclass(frozen=True, slots=True)
class Step:
    """The result of one action: the new status and the custody entry to append."""

    status: ReceiptStatus
    custody: CustodyEntry


def apply_action(
    status: ReceiptStatus,
    action: ReceiptAction,
    *,
    payment: Payment,
    at: datetime,
    actor: str,
    origin: str,
    destination: str,
    courier_no: str | None = None,
    handover_to: HandoverTo | None = None,
    recipient: str | None = None,
    note: str = "",
) -> Step:
    """Validate ``action`` against the state machine and build its custody entry in one call."""
    action = ReceiptAction(action)
    new_status = transition(status, action, payment=payment)
    from_party, to_party = custody_parties(
        action,
        status_before=status,
        origin=origin,
        destination=destination,
        courier_no=courier_no,
        handover_to=handover_to,
        recipient=recipient,
    )
    entry = CustodyEntry(
        at=at, action=action, actor=actor, from_party=from_party, to_party=to_party, note=note
    )
    return Step(status=new_status, custody=entry)
