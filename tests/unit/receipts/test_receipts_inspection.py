"""Inspection (审核回执单): abnormal needs at least one anomaly, qualified none."""

from __future__ import annotations

import pytest

from services.receipts.domain.inspection import (
    Anomaly,
    InspectionResult,
    ObservedReceipt,
    ReceiptRequirements,
    suggest_anomalies,
    validate_inspection,
)
from shared.errors import DomainError


def test_anomaly_vocabulary_is_the_contracts():
    assert [a.value for a in Anomaly] == [
        "signature_missing", "stamp_missing", "id_number_missing", "copies_short", "signed_with_exception",
    ]


def test_abnormal_needs_an_anomaly():
    with pytest.raises(DomainError) as info:
        validate_inspection(InspectionResult.ABNORMAL, [])
    assert info.value.code == "inspection_inconsistent"


def test_qualified_has_no_anomalies():
    assert validate_inspection(InspectionResult.QUALIFIED, []) == ()
    with pytest.raises(DomainError) as info:
        validate_inspection(InspectionResult.QUALIFIED, [Anomaly.STAMP_MISSING])
    assert info.value.code == "inspection_inconsistent"
    assert info.value.details["anomalies"] == ["stamp_missing"]


def test_anomalies_are_deduplicated_in_canonical_order():
    got = validate_inspection(
        InspectionResult.ABNORMAL, ["copies_short", Anomaly.SIGNATURE_MISSING, "copies_short"]  # type: ignore[list-item]
    )
    assert got == (Anomaly.SIGNATURE_MISSING, Anomaly.COPIES_SHORT)


def test_unknown_anomaly_is_refused():
    with pytest.raises(ValueError):
        validate_inspection(InspectionResult.ABNORMAL, ["coffee_stain"])  # type: ignore[list-item]


def test_suggestions_compare_requirements_with_the_paper():
    req = ReceiptRequirements(signature=True, stamp=True, id_number=True, copies=2)
    perfect = ObservedReceipt(signature=True, stamp=True, id_number=True, copies=2)
    assert suggest_anomalies(req, perfect) == ()
    bad = ObservedReceipt(signature=False, stamp=False, id_number=False, copies=1, goods_exception=True)
    assert suggest_anomalies(req, bad) == tuple(Anomaly)


def test_unrequired_items_are_not_anomalies():
    req = ReceiptRequirements(signature=True, stamp=False, id_number=False, copies=1)
    seen = ObservedReceipt(signature=True, stamp=False, id_number=False, copies=3)
    assert suggest_anomalies(req, seen) == ()


def test_requirements_need_a_copy():
    with pytest.raises(DomainError):
        ReceiptRequirements(copies=0)
