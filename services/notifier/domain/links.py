"""The public tracking link in a notice to a shipper or a consignee.

Every notice about a waybill to its shipper or consignee carries `<LCS_PUBLIC_BASE_URL>/t/<token>`
(shared.links: signed, expires after `LCS_PUBLIC_LINK_DAYS`), which opens the waybill's detailed
public view without the phone digits. Without a base URL or a key ring, notices carry no link.

An SMS with its link may take at most `SMS_PARTS_WITH_LINK` parts; a text that would need more
(a long base URL, a long waybill number) is sent without the link rather than in more parts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.domain.sms import sms_segments
from services.notifier.domain.summaries import tracking_link
from services.notifier.domain.vocabulary import Audience
from shared.links import LinkKeys, link_url, sign

SMS_PARTS_WITH_LINK = 3
LINKED_AUDIENCES: frozenset[Audience] = frozenset({Audience.SHIPPER, Audience.CONSIGNEE})


@dataclass(frozen=True)
class TrackingLinks:
    base_url: str
    keys: LinkKeys
    lifetime: timedelta

    def for_waybill(self, waybill_no: str, now: datetime) -> str:
        """The link to `waybill_no`'s page, valid for `lifetime` from `now` (the decision time, so
        a message rendered twice for one event says the same)."""
        return link_url(self.base_url, sign(self.keys, waybill_no, now + self.lifetime))


def tracking_links(base_url: str | None, keys: LinkKeys | None, lifetime: timedelta) -> TrackingLinks | None:
    if not base_url or not base_url.strip() or keys is None:
        return None
    return TrackingLinks(base_url=base_url.strip(), keys=keys, lifetime=lifetime)


def sms_fits_with_link(text: str) -> bool:
    return sms_segments(text) <= SMS_PARTS_WITH_LINK


def summary_links(links: TrackingLinks | None, public_base_url: str | None, waybills: Iterable[str | None],
                  due: datetime) -> list[str | None]:
    """Where a summary too long to list its lines may point, best first: the one waybill's own
    signed page when every line is about that one waybill, then the tracking page's form
    (`<base>/track`, shorter: it may fit one SMS where the signed link does not); `[None]` when
    there is no public site."""
    named = set(waybills)
    candidates: list[str | None] = []
    if links is not None and len(named) == 1 and None not in named:
        candidates.append(links.for_waybill(str(next(iter(named))), due))
    form = tracking_link(public_base_url)
    if form is not None:
        candidates.append(form)
    return candidates or [None]
