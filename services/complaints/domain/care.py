"""Customer care (客户关怀): customer files, key customers, the monthly return visit (回访)
and satisfaction (满意度).

* ``is_key_customer``: flagged by staff, or shipping at least the configured volume;
* ``merge_sightings``: what a customer file learns from the shipments naming it;
* ``visits_due``: key and new customers without a return visit in the month;
* ``validate_csat`` / ``csat_summary``: a satisfaction score is 1..5; its average.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.complaints.domain.hours import Month, utc
from shared.clock import BUSINESS_TZ_NAME
from shared.errors import Invalid

CSAT_SCORES = range(1, 6)


def validate_csat(score: int | None) -> int:
    """A satisfaction score must be a whole number 1..5 (422 ``invalid_score``)."""
    if isinstance(score, bool) or not isinstance(score, int) or score not in CSAT_SCORES:
        raise Invalid("invalid_score", "the satisfaction score must be a whole number from 1 to 5",
                      {"score": score})
    return score


def csat_average(distribution: Mapping[int, int]) -> float | None:
    """The mean score of a ``score → count`` distribution; ``None`` when nobody answered."""
    scored = sum(distribution.values())
    return (sum(score * n for score, n in distribution.items()) / scored) if scored else None


@dataclass(frozen=True, slots=True)
class CareRules:
    """Configurable customer-care thresholds.

    ``key_min_monthly_shipments``: a customer shipping at least this many waybills
    in the month before is treated as key even without the explicit flag (``None``
    disables the volume rule). ``new_customer_days``: a customer first seen within
    this many days before the month's end is "new" and gets a visit.
    """

    key_min_monthly_shipments: int | None = 30
    new_customer_days: int = 90


DEFAULT_CARE_RULES = CareRules()


def is_key_customer(*, flagged: bool, shipments_last_month: int, rules: CareRules = DEFAULT_CARE_RULES
                    ) -> bool:
    """Explicitly flagged by staff, or shipping at least the configured volume."""
    if flagged:
        return True
    threshold = rules.key_min_monthly_shipments
    return threshold is not None and shipments_last_month >= threshold


@dataclass(frozen=True, slots=True)
class CustomerSighting:
    """A customer seen on a shipment's registration: the file is created on first sight;
    a later sighting only fills the contact details still missing and moves
    ``first_seen_at`` back, never overwrites."""

    customer_id: str
    at: datetime
    name: str | None = None
    phone: str | None = None
    email: str | None = None


def merge_sightings(sightings: Iterable[CustomerSighting]) -> list[CustomerSighting]:
    """One sighting per customer that records what all of them, recorded in the given order,
    would: the first name, phone and e-mail given (a later one only fills a gap) and the
    earliest time. Customers in the order first seen."""
    merged: dict[str, CustomerSighting] = {}
    for s in sightings:
        m = merged.get(s.customer_id)
        merged[s.customer_id] = s if m is None else CustomerSighting(
            customer_id=s.customer_id, at=min(m.at, s.at), name=m.name if m.name is not None else s.name,
            phone=m.phone if m.phone is not None else s.phone, email=m.email if m.email is not None else s.email)
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class CustomerFile:
    """What the visit rule needs from a customer file (客户档案).

    ``shipments_last_month`` counts waybills in the month *before* the visit month
    (the repository counts them for the month asked about).
    """

    customer_id: str
    name: str
    first_seen_at: datetime
    key_flag: bool = False
    shipments_last_month: int = 0
    visits: tuple[datetime, ...] = ()


class VisitReason(StrEnum):
    KEY_CUSTOMER = "key_customer"
    NEW_CUSTOMER = "new_customer"


@dataclass(frozen=True, slots=True)
class VisitDue:
    customer_id: str
    name: str
    reasons: tuple[VisitReason, ...]
    last_visit_at: datetime | None


def visits_due(
    customers: Iterable[CustomerFile],
    month: Month,
    *,
    rules: CareRules = DEFAULT_CARE_RULES,
    tz: str = BUSINESS_TZ_NAME,
) -> list[VisitDue]:
    """Key and new customers with no return visit recorded in ``month``.

    Customers first seen after the month are not due (they did not exist yet).
    Key customers come first, then by customer id, so the list is a stable call order.
    """
    starts, ends = month.starts_at(tz), month.ends_at(tz)
    new_since = ends - timedelta(days=rules.new_customer_days)
    due: list[VisitDue] = []
    for customer in customers:
        first_seen = utc(customer.first_seen_at, "first_seen_at")
        if first_seen >= ends:
            continue
        reasons: list[VisitReason] = []
        if is_key_customer(flagged=customer.key_flag, shipments_last_month=customer.shipments_last_month,
                           rules=rules):
            reasons.append(VisitReason.KEY_CUSTOMER)
        if first_seen >= new_since:
            reasons.append(VisitReason.NEW_CUSTOMER)
        if not reasons:
            continue
        visits = sorted(utc(v, "visit") for v in customer.visits)
        if any(starts <= v < ends for v in visits):
            continue
        before = [v for v in visits if v < ends]
        due.append(VisitDue(customer.customer_id, customer.name, tuple(reasons),
                            before[-1] if before else None))
    due.sort(key=lambda d: (VisitReason.KEY_CUSTOMER not in d.reasons, d.customer_id))
    return due
