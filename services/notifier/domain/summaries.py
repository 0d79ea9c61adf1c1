"""What a throttle summary says (the messages held by `domain/throttling.py`, rolled up into one
per recipient and channel): one line per held message — a delay with its waybill, new ETA and
reason — and, for an SMS, which form fits one message.

* **E-mail** lists every line.
* **SMS** stays within one SMS: the list when it fits, else the counts and a link to the
  public tracking page (``LCS_PUBLIC_BASE_URL`` + ``/track``), else — no base URL, or a link
  too long — the counts and "call us or reply". The budget is measured on the rendered text
  (`domain/sms.py`): a zh-CN text is UCS-2, 70 units; an en text is GSM-7, 160 septets (our
  wording and the data in it — waybill numbers, times, links — are GSM-7; a character outside
  it would make it UCS-2, 70 units, and the measure follows).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from services.notifier.domain.sms import sms_segments

SUMMARY_TEMPLATE = "summary"
# The `event_type` of a summary's notification row (it is not caused by one event).
SUMMARY_EVENT_TYPE = "notifier.summary"
TRACK_PATH = "/track"
DELAYED = "delayed"


@dataclass(frozen=True)
class SummaryItem:
    """One held message, as its summary tells it: its kind (the template it would have been
    sent with), what it is about (a waybill, or a complaint ``ref``), the time it tells (the
    new ETA of a delay, the time of an arrival...) and a reason code (a delay's reason, an
    exception's kind, a complaint's category)."""

    kind: str
    waybill_no: str | None = None
    ref: str | None = None
    at: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SummaryItem:
        def text(key: str) -> str | None:
            value = raw.get(key)
            return str(value) if value is not None else None

        return cls(kind=str(raw["kind"]), waybill_no=text("waybill_no"), ref=text("ref"), at=text("at"),
                   reason=text("reason"))


# Per template: the context fields of its line (time, reason code, reference); None: not told.
_LINE_FIELDS: Mapping[str, tuple[str | None, str | None, str | None]] = {
    DELAYED: ("revised_eta", "reason", None),
    "departed": ("eta", None, None),
    "recovered": ("eta", None, None),
    "arrived": ("arrived_at", None, None),
    "out_for_delivery": ("at", None, None),
    "delivered": ("signed_at", None, None),
    "exception_reported": (None, "kind", None),
    "delivery_appointed": ("window_start", None, None),
    "complaint_opened": (None, "category", "complaint_id"),
    "complaint_responded": (None, None, "complaint_id"),
    "complaint_resolved": (None, None, "complaint_id"),
}


def summary_item(template: str, context: Mapping[str, Any]) -> SummaryItem:
    """The line a held message takes in its summary, from its template variables."""
    at_field, reason_field, ref_field = _LINE_FIELDS.get(template, (None, None, None))

    def text(field: str | None) -> str | None:
        value = context.get(field) if field else None
        return str(value) if value is not None else None

    return SummaryItem(kind=template, waybill_no=text("waybill_no"), ref=text(ref_field), at=text(at_field),
                       reason=text(reason_field))


def _latest(items: Iterable[SummaryItem]) -> list[SummaryItem]:
    """One line per subject (kind, waybill, reference), in the order they first came, each with
    its latest news: a waybill delayed twice shows its last ETA once."""
    found: dict[tuple[str, str | None, str | None], SummaryItem] = {}
    for item in items:
        found[(item.kind, item.waybill_no, item.ref)] = item
    return list(found.values())


def summary_context(items: Sequence[SummaryItem], *, link: str | None) -> dict[str, Any]:
    """The summary templates' variables: the delays (one per waybill) first, then every other
    notice, their counts, and the link to the tracking page (None without one)."""
    delays = _latest(i for i in items if i.kind == DELAYED)
    others = _latest(i for i in items if i.kind != DELAYED)
    return {
        "count": len(delays) + len(others),
        "delayed_count": len(delays),
        "other_count": len(others),
        "delays": [i.as_dict() for i in delays],
        "others": [i.as_dict() for i in others],
        "items": [i.as_dict() for i in (*delays, *others)],
        "link": link,
    }


def waybills_named(context: Mapping[str, Any]) -> set[str]:
    """Every waybill a summary's lines name (what the e-mail lists)."""
    return {str(i["waybill_no"]) for i in context["items"] if i.get("waybill_no")}


class SmsForm(StrEnum):
    """How a summary SMS tells its lines (the template variable ``form``)."""

    LIST = "list"  # every line
    LINK = "link"  # the counts and the link to the tracking page
    CALL = "call"  # the counts, and "call us or reply to this SMS"


def sms_forms(link: str | None) -> tuple[SmsForm, ...]:
    """The forms to try, longest first; the last one is sent even if it does not fit."""
    if link:
        return SmsForm.LIST, SmsForm.LINK, SmsForm.CALL
    return SmsForm.LIST, SmsForm.CALL


def fitting(texts: Sequence[str]) -> int:
    """Index of the first text that fits one SMS; the last one (the shortest form) when none does."""
    if not texts:
        raise ValueError("no text to choose from")
    for index, text in enumerate(texts):
        if sms_segments(text) == 1:
            return index
    return len(texts) - 1


def tracking_link(public_base_url: str | None) -> str | None:
    """The public tracking page a summary SMS points to; None without ``LCS_PUBLIC_BASE_URL``."""
    if not public_base_url or not public_base_url.strip():
        return None
    return public_base_url.strip().rstrip("/") + TRACK_PATH
