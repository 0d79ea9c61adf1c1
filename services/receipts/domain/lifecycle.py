"""The lifecycle of a delivery receipt (the signed proof of delivery) as one table.

::

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
:data:`TRANSITIONS`; everything else (API, handlers, tests) derives from that table, and
anything not in it is refused with 409 ``invalid_transition``.

Decisions (the handbook leaves them open; recorded here so they are made once):

* **Returned.** A receipt is back at the origin once ``received``; ``handed_over`` and
  ``written_off`` come after that. Those three stop the deadline clock. ``cancelled`` is
  never overdue. ``lost`` is *not* returned: it is chased like any missing receipt.
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
  (409) before the state is looked at, because no state would make it cancellable.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType

from shared.errors import Conflict


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


class InvalidTransition(Conflict):
    """The state machine has no edge for ``action`` from ``current`` (409 ``invalid_transition``)."""

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


class CancelNotAllowed(Conflict):
    """Only cash-on-delivery receipts can be cancelled (现付类回单 … 取消): 409 ``cancel_requires_cod``."""

    def __init__(self, *, payment: Payment) -> None:
        super().__init__(
            "cancel_requires_cod",
            f"only cash-on-delivery receipts can be cancelled; this one is {payment.value}",
            {"payment": payment.value},
        )
        self.payment = payment


def allowed_actions(status: ReceiptStatus) -> frozenset[ReceiptAction]:
    """The actions the table allows from ``status`` (payment aside)."""
    return frozenset(action for (src, action) in TRANSITIONS if src == status)


def actions_for(status: ReceiptStatus, payment: Payment) -> list[str]:
    """The actions a caller may take on a receipt, as the API shows them: the table's, and
    ``cancel`` only for cash on delivery."""
    return sorted(a.value for a in allowed_actions(status)
                  if not (a is ReceiptAction.CANCEL and payment is not Payment.COD))


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
