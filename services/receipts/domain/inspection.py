"""Inspection of a signed receipt against the waybill's requirements (回单要求): qualified, or
abnormal with its anomalies (异常回单), which then goes back to be signed again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.receipts.domain.lifecycle import ReceiptAction
from shared.errors import Invalid


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


@dataclass(frozen=True, slots=True)
class ReceiptRequirements:
    """What the shipper asked for on the waybill (回单要求)."""

    signature: bool = True
    stamp: bool = False
    id_number: bool = False
    copies: int = 1

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise Invalid("invalid_requirements", "a required receipt has at least one copy")


@dataclass(frozen=True, slots=True)
class ObservedReceipt:
    """What the inspector found on the returned paper."""

    signature: bool
    stamp: bool
    id_number: bool
    copies: int
    goods_exception: bool = False  # the consignee signed with a remark (damage, shortage...)


def inspection_action(result: InspectionResult) -> ReceiptAction:
    """Map the inspection endpoint's ``result`` to the state-machine action."""
    if InspectionResult(result) is InspectionResult.QUALIFIED:
        return ReceiptAction.INSPECT_QUALIFIED
    return ReceiptAction.INSPECT_ABNORMAL


def validate_inspection(result: InspectionResult, anomalies: Iterable[Anomaly]) -> tuple[Anomaly, ...]:
    """Check an inspection's consistency and return its anomalies de-duplicated, in enum order.

    ``abnormal`` needs at least one anomaly (otherwise nobody knows what to re-sign);
    ``qualified`` must have none. Violations raise 422 ``inspection_inconsistent``.
    """
    result = InspectionResult(result)
    found = {Anomaly(a) for a in anomalies}
    if result is InspectionResult.ABNORMAL and not found:
        raise Invalid(
            "inspection_inconsistent",
            "an abnormal receipt needs at least one anomaly",
            {"result": "abnormal"},
        )
    if result is InspectionResult.QUALIFIED and found:
        raise Invalid(
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
