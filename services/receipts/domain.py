"""Pure rules of the receipts service (回单管理): state machine, deadlines, custody, month end.

Nothing here does I/O, reads the clock or the environment: every "now" is passed in
(``as_of``), every number is configuration with the handbook's default. The service
layer calls these functions inside its transactions; the API maps :class:`DomainError`
to ``{"error": {"code", "message", "details"}}`` (``invalid_transition`` → 409).

The lifecycle of a delivery receipt (the signed proof of delivery)::

    awaiting_delivery ──deliver──▶ signed ──inspect_qualified──▶ qualified ──mail──▶ mailed
                                    ▲  │                                             │  │
                              re_sign  inspect_abnormal                       receive  flag_lost
                                    │  ▼                                             ▼  ▼
                                  abnormal                       received ◀──receive── lost
                                                                 │      │
                                                         hand_over      write_off
                                                                 ▼      ▼
                                                        handed_over    written_off

plus ``cancel`` (cash on delivery only) → ``cancelled``. The edges are listed once, in
:data:`TRANSITIONS`; everything else (API, handlers, tests) derives from that table.

Decisions (the handbook leaves them open; recorded here so they are made once):

* **Day counting.** The clock starts on the arrival *date* at the destination, in the
  business time zone (Asia/Shanghai): the arrival day is day 0, whatever the hour.
  With N allowed days the receipt must be back by the end of local day D+N, so
  ``due_at`` is the instant ``D+N+1 00:00`` local (exclusive). A receipt is overdue
  when ``as_of >= due_at`` and returned on time when ``returned_at < due_at``. An
  arrival at 2026-03-31 23:30 +08:00 (still 15:30 UTC the same day, 2026-03-31) counts
  from 31 March; one at 2026-04-01 00:30 +08:00 (16:30 UTC on 31 March) counts from
  1 April.
* **Split shipments.** The clock uses the final batch's arrival
  (:func:`final_arrived_at`), not the first.
* **Returned.** A receipt is back at the origin once ``received``; ``handed_over`` and
  ``written_off`` come after that. Those three stop the clock. ``cancelled`` is never
  overdue. ``lost`` is *not* returned: it is chased like any missing receipt.
* **Lost is a suspicion, not an end.** An envelope that arrives without a receipt it
  lists flags that receipt ``lost`` and the chase starts at once; if it turns up, it
  can be ``receive``d from ``lost`` (the custody chain keeps the ``flag_lost`` entry).
* **Write-off** only from ``received``: the customer collects the paper at the origin
  station in person (客户上门取回单 … 核销), so the origin must hold it.
* **Cancel** only for cash-on-delivery receipts (现付: the money was taken at delivery,
  so no settlement waits for the paper), from ``awaiting_delivery``, ``signed``,
  ``abnormal``, ``qualified``, ``received`` and ``lost`` (a missing COD receipt costs
  nothing to settle, so chasing it further is pointless; the ``flag_lost`` custody
  entry stays). Not from ``mailed``: it is sealed in an envelope whose list is
  reconciled on arrival, so it is received (or flagged) first and cancelled then. Not
  from the terminal states. A non-COD receipt is refused with ``cancel_requires_cod``
  before the state is looked at, because no state would make it cancellable.
* **Caught late** (abnormal receipt not caught in time, 100 CNY): its first
  ``inspect_abnormal`` happened at or after its ``due_at`` — by then the re-sign round
  trip can no longer make the deadline.
* **Month membership.** A receipt belongs to the month in which its ``due_at`` falls,
  in the business time zone; receipts without a ``due_at`` (goods not arrived) and
  cancelled receipts are not in any month's report.
* **Month-end figures** are a snapshot at ``as_of`` (default: the end of the month).
  Each receipt is exactly one of on time / late / lost / outstanding; the late fee
  (50) applies to returned-late and to outstanding-past-due receipts; a lost receipt
  costs ``lost_share`` (50%) of its declared value instead (no late fee on top), and
  is counted even when no value is known.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BUSINESS_TZ_NAME = "Asia/Shanghai"


# --------------------------------------------------------------------------- errors


class DomainError(Exception):
    """A business rule refused the request; ``code`` is the stable snake_case API code."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidTransition(DomainError):
    """The state machine has no edge for ``action`` from ``current`` (HTTP 409)."""

    def __init__(self, *, current: ReceiptStatus, action: ReceiptAction) -> None:
        super().__init__(
            "invalid_transition",
            f"cannot {action.value} a receipt that is {current.value}",
            {
                "current": current.value,
                "action": action.value,
                "allowed_actions": sorted(a.value for a in allowed_actions(current)),
            },
        )
        self.current = current
        self.action = action


class CancelNotAllowed(DomainError):
    """Only cash-on-delivery receipts can be cancelled (现付类回单 … 取消)."""

    def __init__(self, *, payment: Payment) -> None:
        super().__init__(
            "cancel_requires_cod",
            f"only cash-on-delivery receipts can be cancelled; this one is {payment.value}",
            {"payment": payment.value},
        )
        self.payment = payment


def _require_aware(name: str, value: datetime) -> None:
    # A naive datetime has no single meaning across stations and UTC servers; refuse it
    # rather than guess, so a deadline never silently shifts by eight hours.
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("naive_datetime", f"{name} must carry a time-zone offset", {"field": name})


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


# --------------------------------------------------------------------------- vocabulary


class ReceiptStatus(StrEnum):
    """Where a receipt is in its life; the values are the public contract's."""

    AWAITING_DELIVERY = "awaiting_delivery"
    SIGNED = "signed"
    ABNORMAL = "abnormal"
    QUALIFIED = "qualified"
    MAILED = "mailed"
    RECEIVED = "received"
    HANDED_OVER = "handed_over"
    WRITTEN_OFF = "written_off"
    CANCELLED = "cancelled"
    LOST = "lost"


class ReceiptAction(StrEnum):
    """What can happen to a receipt; each one is an edge source in :data:`TRANSITIONS`."""

    DELIVER = "deliver"  # tracking.shipment.delivered.v1: signed/stamped at the destination
    INSPECT_QUALIFIED = "inspect_qualified"  # checked against the requirements: fine
    INSPECT_ABNORMAL = "inspect_abnormal"  # checked: anomalies found (异常回单)
    RE_SIGN = "re_sign"  # an abnormal receipt signed again by the consignee
    MAIL = "mail"  # sealed in an envelope to the origin station (寄出)
    RECEIVE = "receive"  # present when the envelope arrives at the origin (接收)
    FLAG_LOST = "flag_lost"  # listed on the envelope but missing at arrival
    HAND_OVER = "hand_over"  # to the customer or the account's salesperson (返厂/交接)
    WRITE_OFF = "write_off"  # the customer collected it in person (核销)
    CANCEL = "cancel"  # cash on delivery: tell the customer and cancel


class Payment(StrEnum):
    """The waybill's payment type; only ``cod`` receipts can be cancelled."""

    PREPAID = "prepaid"
    COD = "cod"
    MONTHLY = "monthly"


class Anomaly(StrEnum):
    """Why a receipt is abnormal (异常回单)."""

    SIGNATURE_MISSING = "signature_missing"
    STAMP_MISSING = "stamp_missing"
    ID_NUMBER_MISSING = "id_number_missing"
    COPIES_SHORT = "copies_short"
    SIGNED_WITH_EXCEPTION = "signed_with_exception"


class InspectionResult(StrEnum):
    QUALIFIED = "qualified"
    ABNORMAL = "abnormal"


class HandoverTo(StrEnum):
    """Who receives a returned receipt at the origin (the contract's ``to``)."""

    CUSTOMER = "customer"
    SALES = "sales"


class OverdueStage(StrEnum):
    """Chase stages; each is announced once per receipt (``receipts.receipt.overdue.v1``)."""

    DUE = "due"  # past the 10/15/20-day return deadline
    FINAL = "final"  # past the 25-day final limit (two or more transfers only)


# --------------------------------------------------------------------------- state machine

_S = ReceiptStatus
_A = ReceiptAction

# The single truth of the lifecycle: (current status, action) -> new status.
# Anything not listed is refused with ``invalid_transition``.
TRANSITIONS: Mapping[tuple[ReceiptStatus, ReceiptAction], ReceiptStatus] = MappingProxyType(
    {
        (_S.AWAITING_DELIVERY, _A.DELIVER): _S.SIGNED,
        (_S.SIGNED, _A.INSPECT_QUALIFIED): _S.QUALIFIED,
        (_S.SIGNED, _A.INSPECT_ABNORMAL): _S.ABNORMAL,
        # Abnormal receipts go back to the consignee and are inspected again afterwards.
        (_S.ABNORMAL, _A.RE_SIGN): _S.SIGNED,
        # Only qualified receipts travel: mailing a faulty one would only bring it back.
        (_S.QUALIFIED, _A.MAIL): _S.MAILED,
        (_S.MAILED, _A.RECEIVE): _S.RECEIVED,
        (_S.MAILED, _A.FLAG_LOST): _S.LOST,
        # A lost-suspect receipt that turns up (late envelope, misfiled) is received normally.
        (_S.LOST, _A.RECEIVE): _S.RECEIVED,
        (_S.RECEIVED, _A.HAND_OVER): _S.HANDED_OVER,
        # The customer collects it at the origin, so the origin must hold it.
        (_S.RECEIVED, _A.WRITE_OFF): _S.WRITTEN_OFF,
        # Cash on delivery (payment is checked in transition()): cancellable wherever a
        # station holds the paper or it is missing; not while sealed in an envelope.
        (_S.AWAITING_DELIVERY, _A.CANCEL): _S.CANCELLED,
        (_S.SIGNED, _A.CANCEL): _S.CANCELLED,
        (_S.ABNORMAL, _A.CANCEL): _S.CANCELLED,
        (_S.QUALIFIED, _A.CANCEL): _S.CANCELLED,
        (_S.RECEIVED, _A.CANCEL): _S.CANCELLED,
        (_S.LOST, _A.CANCEL): _S.CANCELLED,
    }
)

TERMINAL_STATUSES: frozenset[ReceiptStatus] = frozenset(
    s for s in ReceiptStatus if not any(src == s for src, _ in TRANSITIONS)
)

# Back at the origin station: these stop the deadline clock.
RETURNED_STATUSES: frozenset[ReceiptStatus] = frozenset(
    {ReceiptStatus.RECEIVED, ReceiptStatus.HANDED_OVER, ReceiptStatus.WRITTEN_OFF}
)


def allowed_actions(status: ReceiptStatus) -> frozenset[ReceiptAction]:
    """The actions the table allows from ``status`` (payment aside)."""
    return frozenset(action for (src, action) in TRANSITIONS if src == status)


def transition(status: ReceiptStatus, action: ReceiptAction, *, payment: Payment) -> ReceiptStatus:
    """Return the status after ``action``; raise :class:`InvalidTransition` if the table has no edge.

    ``cancel`` on a prepaid or monthly receipt raises :class:`CancelNotAllowed`
    (``cancel_requires_cod``) whatever the current status.
    """
    status, action, payment = ReceiptStatus(status), ReceiptAction(action), Payment(payment)
    if action is ReceiptAction.CANCEL and payment is not Payment.COD:
        raise CancelNotAllowed(payment=payment)
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(current=status, action=action) from None


def inspection_action(result: InspectionResult) -> ReceiptAction:
    """Map the inspection endpoint's ``result`` to the state-machine action."""
    if InspectionResult(result) is InspectionResult.QUALIFIED:
        return ReceiptAction.INSPECT_QUALIFIED
    return ReceiptAction.INSPECT_ABNORMAL


# --------------------------------------------------------------------------- inspection


@dataclass(frozen=True, slots=True)
class ReceiptRequirements:
    """What the shipper asked for on the waybill (回单要求)."""

    signature: bool = True
    stamp: bool = False
    id_number: bool = False
    copies: int = 1

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise DomainError("invalid_requirements", "a required receipt has at least one copy")


@dataclass(frozen=True, slots=True)
class ObservedReceipt:
    """What the inspector found on the returned paper."""

    signature: bool
    stamp: bool
    id_number: bool
    copies: int
    goods_exception: bool = False  # the consignee signed with a remark (damage, shortage...)


def validate_inspection(result: InspectionResult, anomalies: Iterable[Anomaly]) -> tuple[Anomaly, ...]:
    """Check an inspection's consistency and return its anomalies de-duplicated, in enum order.

    ``abnormal`` needs at least one anomaly (otherwise nobody knows what to re-sign);
    ``qualified`` must have none. Violations raise ``inspection_inconsistent``.
    """
    result = InspectionResult(result)
    found = {Anomaly(a) for a in anomalies}
    if result is InspectionResult.ABNORMAL and not found:
        raise DomainError(
            "inspection_inconsistent",
            "an abnormal receipt needs at least one anomaly",
            {"result": "abnormal"},
        )
    if result is InspectionResult.QUALIFIED and found:
        raise DomainError(
            "inspection_inconsistent",
            "a qualified receipt cannot have anomalies",
            {"result": "qualified", "anomalies": sorted(a.value for a in found)},
        )
    return tuple(a for a in Anomaly if a in found)


def suggest_anomalies(requirements: ReceiptRequirements, observed: ObservedReceipt) -> tuple[Anomaly, ...]:
    """Anomalies implied by comparing the requirements with the paper; a suggestion for the inspector."""
    found: list[Anomaly] = []
    if requirements.signature and not observed.signature:
        found.append(Anomaly.SIGNATURE_MISSING)
    if requirements.stamp and not observed.stamp:
        found.append(Anomaly.STAMP_MISSING)
    if requirements.id_number and not observed.id_number:
        found.append(Anomaly.ID_NUMBER_MISSING)
    if observed.copies < requirements.copies:
        found.append(Anomaly.COPIES_SHORT)
    if observed.goods_exception:
        found.append(Anomaly.SIGNED_WITH_EXCEPTION)
    return tuple(found)


# --------------------------------------------------------------------------- deadlines


@dataclass(frozen=True, slots=True)
class DeadlineConfig:
    """Return deadlines in days after the arrival date (seed: 10 / 15 / 20, at the latest 25)."""

    direct_days: int = 10
    one_transfer_days: int = 15
    two_plus_transfer_days: int = 20
    final_limit_days: int = 25
    business_tz: str = BUSINESS_TZ_NAME

    def __post_init__(self) -> None:
        days = (self.direct_days, self.one_transfer_days, self.two_plus_transfer_days, self.final_limit_days)
        if any(d < 0 for d in days):
            raise ValueError("deadline days cannot be negative")
        # More transfers never shorten the deadline, and the final limit is the latest.
        if list(days) != sorted(days):
            raise ValueError("deadline days must not decrease: direct <= one <= two+ <= final limit")
        _zone(self.business_tz)

    @property
    def tz(self) -> ZoneInfo:
        return _zone(self.business_tz)


DEFAULT_DEADLINES = DeadlineConfig()


def return_days(transfers: int, cfg: DeadlineConfig = DEFAULT_DEADLINES) -> int:
    """Allowed days for a route with ``transfers`` transfer stations (``len(via)``)."""
    if transfers < 0:
        raise DomainError("invalid_transfers", "transfers cannot be negative", {"transfers": transfers})
    if transfers == 0:
        return cfg.direct_days
    if transfers == 1:
        return cfg.one_transfer_days
    return cfg.two_plus_transfer_days


def _end_of_local_day(arrived_at: datetime, days: int, tz: ZoneInfo) -> datetime:
    # Day 0 is the local arrival date; the deadline is the end of local day D+days,
    # expressed as the (exclusive) first instant of D+days+1.
    _require_aware("arrived_at", arrived_at)
    arrival_date = arrived_at.astimezone(tz).date()
    return datetime.combine(arrival_date + timedelta(days=days + 1), time(0), tzinfo=tz)


def due_at(arrived_at: datetime, transfers: int, cfg: DeadlineConfig = DEFAULT_DEADLINES) -> datetime:
    """The return deadline (exclusive instant, business time zone) for the final arrival ``arrived_at``."""
    return _end_of_local_day(arrived_at, return_days(transfers, cfg), cfg.tz)


def final_due_at(
    arrived_at: datetime, transfers: int, cfg: DeadlineConfig = DEFAULT_DEADLINES
) -> datetime | None:
    """The 25-day final limit, which exists only for two or more transfers; ``None`` otherwise."""
    return_days(transfers, cfg)  # validates ``transfers``
    if transfers < 2:
        return None
    return _end_of_local_day(arrived_at, cfg.final_limit_days, cfg.tz)


@dataclass(frozen=True, slots=True)
class ArrivalBatch:
    """One ``arrived`` scan of a (possibly split) shipment at its destination."""

    arrived_at: datetime
    pieces: int


def final_arrived_at(batches: Iterable[ArrivalBatch], *, total_pieces: int | None = None) -> datetime | None:
    """The arrival that starts the clock: the last batch's (分批装运的为最后一批到达时间).

    With ``total_pieces``, ``None`` until the batches add up to the whole shipment,
    so a partial arrival never starts the clock. Batches may come in any order.
    """
    batches = list(batches)
    for b in batches:
        _require_aware("arrived_at", b.arrived_at)
    if not batches:
        return None
    if total_pieces is not None and sum(b.pieces for b in batches) < total_pieces:
        return None
    return max(b.arrived_at for b in batches)


# --------------------------------------------------------------------------- overdue and chasing


def is_overdue(status: ReceiptStatus, due_at: datetime | None, as_of: datetime) -> bool:
    """Whether the receipt is late at ``as_of``: not yet back at the origin and ``as_of >= due_at``.

    Returned (received / handed_over / written_off) and cancelled receipts are never
    overdue; without a ``due_at`` (goods not fully arrived) the clock has not started.
    """
    _require_aware("as_of", as_of)
    status = ReceiptStatus(status)
    if due_at is None or status in RETURNED_STATUSES or status is ReceiptStatus.CANCELLED:
        return False
    _require_aware("due_at", due_at)
    return as_of >= due_at


def overdue_stage(
    status: ReceiptStatus, *, due_at: datetime | None, final_due_at: datetime | None, as_of: datetime
) -> OverdueStage | None:
    """The chase stage reached at ``as_of``: ``None``, ``due`` or ``final`` (final limit passed)."""
    if not is_overdue(status, due_at, as_of):
        return None
    if final_due_at is not None:
        _require_aware("final_due_at", final_due_at)
        if as_of >= final_due_at:
            return OverdueStage.FINAL
    return OverdueStage.DUE


_STAGE_ORDER = (OverdueStage.DUE, OverdueStage.FINAL)


def stages_to_emit(already_emitted: AbstractSet[str], stage: OverdueStage | None) -> list[OverdueStage]:
    """Stages to announce now so each receipt emits ``receipts.receipt.overdue.v1`` once per stage.

    Every stage up to and including ``stage`` that was not emitted yet, in order: if
    the daily scan first sees a receipt already past its final limit (a missed day, a
    late ``arrived`` event), both ``due`` and ``final`` go out, so no stage is skipped.
    """
    if stage is None:
        return []
    reached = _STAGE_ORDER[: _STAGE_ORDER.index(OverdueStage(stage)) + 1]
    return [s for s in reached if s.value not in already_emitted]


# --------------------------------------------------------------------------- custody


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
        raise DomainError("missing_party", f"a {kind.value} party needs a name or code", {"kind": kind.value})
    return f"{kind.value}:{ref.strip()}"


@dataclass(frozen=True, slots=True)
class CustodyEntry:
    """One hand-off of the paper: who did what, when, from whom to whom (出入清晰、可查).

    Entries are immutable and the chain only grows (:func:`append_custody`): a
    correction is a new entry with a note, never an edit, so the history stays evidence.
    """

    at: datetime
    action: ReceiptAction
    actor: str
    from_party: str
    to_party: str
    note: str = ""

    def __post_init__(self) -> None:
        _require_aware("at", self.at)
        if not self.actor or not self.actor.strip():
            raise DomainError("missing_actor", "every custody entry names its actor")


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
            raise DomainError("missing_party", "mailing needs the envelope's courier number")
        return dest, courier
    if action is _A.RECEIVE:
        # From lost we may not know the courier any more; the courier number, if the
        # caller still has it from the envelope, keeps the chain precise.
        return courier, orig
    if action is _A.FLAG_LOST:
        return courier, UNKNOWN_PARTY
    if action is _A.HAND_OVER:
        if handover_to is None or not recipient:
            raise DomainError("missing_party", "a hand-over needs `to` (customer | sales) and the recipient")
        kind = PartyKind.CUSTOMER if HandoverTo(handover_to) is HandoverTo.CUSTOMER else PartyKind.SALES
        return orig, party(kind, recipient)
    if action is _A.WRITE_OFF:
        if not recipient:
            raise DomainError("missing_party", "a write-off names the collector")
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


# --------------------------------------------------------------------------- month end

# ASCII only: ``\d`` would otherwise accept full-width digits such as "２０２６".
_MONTH_RE = re.compile(r"(\d{4})-(\d{2})", re.ASCII)


def parse_month(month: str, *, business_tz: str = BUSINESS_TZ_NAME) -> tuple[datetime, datetime]:
    """``"YYYY-MM"`` → ``[start, end)`` as aware datetimes at local midnight; strict (``invalid_month``)."""
    match = _MONTH_RE.fullmatch(month) if isinstance(month, str) else None
    year, mon = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    if not match or not 1 <= mon <= 12 or not 1 <= year <= 9998:
        raise DomainError("invalid_month", "month must be YYYY-MM, e.g. 2026-11", {"month": month})
    tz = _zone(business_tz)
    start = datetime(year, mon, 1, tzinfo=tz)
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=tz)
    return start, end


@dataclass(frozen=True, slots=True)
class PenaltyConfig:
    """Month-end penalties (seed: 50 CNY per late receipt, 100 per abnormal caught late, 50% of a loss)."""

    late_cny: Decimal = Decimal("50")
    abnormal_late_cny: Decimal = Decimal("100")
    lost_share: Decimal = Decimal("0.5")

    def __post_init__(self) -> None:
        for name in ("late_cny", "abnormal_late_cny", "lost_share"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                # Money never goes through float; accept ints/strings by converting exactly.
                object.__setattr__(self, name, value := Decimal(str(value)))
            if value < 0:
                raise ValueError(f"{name} cannot be negative")
        if self.lost_share > 1:
            raise ValueError("lost_share is a fraction between 0 and 1")


DEFAULT_PENALTIES = PenaltyConfig()


@dataclass(frozen=True, slots=True)
class ReceiptFact:
    """What the month-end report needs to know about one receipt.

    ``returned_at``: when it was received at the origin (None if not yet);
    ``abnormal_at``: its first abnormal inspection (None if never abnormal);
    ``lost_at``: when it was flagged lost (None if never); ``declared_value_cny``: the
    direct loss the company suffers if it stays lost, when known.
    """

    waybill_no: str
    region: str
    status: ReceiptStatus
    due_at: datetime | None
    required: bool = True
    returned_at: datetime | None = None
    abnormal_at: datetime | None = None
    lost_at: datetime | None = None
    declared_value_cny: Decimal | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", ReceiptStatus(self.status))
        for name in ("due_at", "returned_at", "abnormal_at", "lost_at"):
            value = getattr(self, name)
            if value is not None:
                _require_aware(name, value)


@dataclass(frozen=True, slots=True)
class RegionReportRow:
    """One region's month: ``required = returned_on_time + returned_late + outstanding + lost``."""

    region: str
    required: int = 0
    returned_on_time: int = 0
    returned_late: int = 0
    outstanding: int = 0
    abnormal: int = 0
    abnormal_caught_late: int = 0
    lost: int = 0
    late_penalty_cny: Decimal = Decimal("0.00")
    abnormal_penalty_cny: Decimal = Decimal("0.00")
    lost_penalty_cny: Decimal = Decimal("0.00")
    penalty_cny: Decimal = Decimal("0.00")


_CENT = Decimal("0.01")


def _cny(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class _Tally:
    required: int = 0
    on_time: int = 0
    late: int = 0
    outstanding: int = 0
    outstanding_past_due: int = 0
    abnormal: int = 0
    abnormal_late: int = 0
    lost: int = 0
    lost_value: Decimal = field(default_factory=lambda: Decimal(0))


def monthly_report(
    month: str,
    facts: Iterable[ReceiptFact],
    *,
    as_of: datetime | None = None,
    penalties: PenaltyConfig = DEFAULT_PENALTIES,
    business_tz: str = BUSINESS_TZ_NAME,
) -> list[RegionReportRow]:
    """Per-region month-end figures for the receipts due in ``month``, sorted by region.

    A snapshot at ``as_of`` (default: the end of the month), so re-running a past month
    gives the same figures: something returned or flagged after ``as_of`` did not
    happen yet. Each required, non-cancelled receipt due in the month falls in exactly
    one of: returned on time (``returned_at < due_at``), returned late, lost (flagged
    lost and not returned), outstanding. Penalties: ``late_cny`` per receipt returned
    late or still outstanding past its due date (chasing failed); ``abnormal_late_cny``
    per abnormal receipt caught late (first abnormal inspection at or after ``due_at``);
    ``lost_share`` of the declared value per lost receipt (no late fee on top: the loss
    share is that receipt's penalty).
    """
    start, end = parse_month(month, business_tz=business_tz)
    if as_of is None:
        as_of = end
    _require_aware("as_of", as_of)
    tallies: dict[str, _Tally] = {}
    for fact in facts:
        if not fact.required or fact.due_at is None or fact.status is ReceiptStatus.CANCELLED:
            continue
        if not start <= fact.due_at < end:
            continue
        t = tallies.setdefault(fact.region, _Tally())
        t.required += 1
        returned_at = fact.returned_at
        if returned_at is not None and returned_at <= as_of:
            if returned_at < fact.due_at:
                t.on_time += 1
            else:
                t.late += 1
        elif fact.lost_at is not None and fact.lost_at <= as_of:
            t.lost += 1
            if fact.declared_value_cny is not None:
                t.lost_value += fact.declared_value_cny
        else:
            t.outstanding += 1
            if as_of >= fact.due_at:
                t.outstanding_past_due += 1
        if fact.abnormal_at is not None and fact.abnormal_at <= as_of:
            t.abnormal += 1
            if fact.abnormal_at >= fact.due_at:
                t.abnormal_late += 1
    rows = []
    for region in sorted(tallies):
        t = tallies[region]
        late_pen = _cny(penalties.late_cny * (t.late + t.outstanding_past_due))
        abnormal_pen = _cny(penalties.abnormal_late_cny * t.abnormal_late)
        lost_pen = _cny(penalties.lost_share * t.lost_value)
        rows.append(
            RegionReportRow(
                region=region,
                required=t.required,
                returned_on_time=t.on_time,
                returned_late=t.late,
                outstanding=t.outstanding,
                abnormal=t.abnormal,
                abnormal_caught_late=t.abnormal_late,
                lost=t.lost,
                late_penalty_cny=late_pen,
                abnormal_penalty_cny=abnormal_pen,
                lost_penalty_cny=lost_pen,
                penalty_cny=late_pen + abnormal_pen + lost_pen,
            )
        )
    return rows


REPORT_CSV_COLUMNS: tuple[str, ...] = (
    "region",
    "required",
    "returned_on_time",
    "returned_late",
    "outstanding",
    "abnormal",
    "abnormal_caught_late",
    "lost",
    "late_penalty_cny",
    "abnormal_penalty_cny",
    "lost_penalty_cny",
    "penalty_cny",
)

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(value: str) -> str:
    # Region names come from branch data and the file is opened in spreadsheets:
    # neutralise anything a spreadsheet would evaluate as a formula.
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def report_csv(rows: Iterable[RegionReportRow]) -> str:
    """The report as CSV text (RFC 4180, CRLF, header first, money with two decimals)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                _csv_text(row.region),
                row.required,
                row.returned_on_time,
                row.returned_late,
                row.outstanding,
                row.abnormal,
                row.abnormal_caught_late,
                row.lost,
                f"{row.late_penalty_cny:.2f}",
                f"{row.abnormal_penalty_cny:.2f}",
                f"{row.lost_penalty_cny:.2f}",
                f"{row.penalty_cny:.2f}",
            ]
        )
    return buffer.getvalue()
