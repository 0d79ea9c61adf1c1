"""The suggested reply: a polite text for staff to read out or send, in the seed's spirit.

Greet (您好), apologise (非常抱歉 / 不好意思), say where the goods are, why they are late
in plain words and when they will arrive (local time), promise to keep tracking, thank
(谢谢). Never argues and never blames the customer (客户始终是对的).

The words are Jinja2 templates, one per category and language, in
``services/complaints/templates/replies/`` (``delay.zh-CN.j2``, ``quote.en.j2``, ...);
``_common.<language>.j2`` holds the greeting, the closing sentences and the delay
reasons in plain words. ``suggested_reply`` is the one function that renders them: each
non-empty line a template writes is one sentence, and the sentences are joined as the
language writes them (with a space in English, without one in Chinese).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from services.complaints.domain.sla import QUOTE_MINUTES
from services.complaints.domain.vocabulary import Category, Language
from shared.clock import BUSINESS_TZ_NAME, require_aware
from shared.events import DelayReason

TEMPLATES = Path(__file__).resolve().parents[1] / "templates" / "replies"


def parse_delay_reason(value: str | None) -> DelayReason | None:
    """Tracking's reason code → ours; an unknown code becomes ``other`` (tracking may add codes)."""
    if value is None or not value.strip():
        return None
    try:
        return DelayReason(value.strip().lower())
    except ValueError:
        return DelayReason.OTHER


@dataclass(frozen=True, slots=True)
class ShipmentPosition:
    """The last known position: a place name when known, else coordinates."""

    at: datetime
    place: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class ShipmentSnapshot:
    """The complaint's copy of tracking's shipment view (from the local read model).

    ``status`` is tracking's vocabulary (``registered | in_transit | arrived |
    out_for_delivery | delivered | exception``); unknown values are treated as in transit.
    """

    waybill_no: str | None = None
    status: str = "in_transit"
    last_position: ShipmentPosition | None = None
    eta: datetime | None = None
    delayed: bool = False
    delay_minutes: int | None = None
    delay_reason: DelayReason | None = None
    promised_at: datetime | None = None
    destination: str | None = None


_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_local_time(value: datetime, language: Language, tz: str = BUSINESS_TZ_NAME) -> str:
    """``11月30日 20:30`` (zh-CN) or ``30 Nov 20:30`` (en), in the desk's timezone.

    Built by hand rather than with ``strftime``: month names would follow the
    process locale otherwise.
    """
    local = require_aware(value, "value").astimezone(ZoneInfo(tz))
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if language is Language.EN:
        return f"{local.day} {_EN_MONTHS[local.month - 1]} {clock}"
    return f"{local.month}月{local.day}日 {clock}"


def format_duration(minutes: int, language: Language) -> str:
    """``2小时30分钟`` / ``2 hours 30 minutes``; whole hours without minutes (``8小时``)."""
    hours_part, minutes_part = divmod(max(minutes, 0), 60)
    if language is Language.EN:
        pieces = []
        if hours_part:
            pieces.append(f"{hours_part} hour{'s' if hours_part != 1 else ''}")
        if minutes_part or not hours_part:
            pieces.append(f"{minutes_part} minute{'s' if minutes_part != 1 else ''}")
        return " ".join(pieces)
    text = f"{hours_part}小时" if hours_part else ""
    if minutes_part or not hours_part:
        text += f"{minutes_part}分钟"
    return text


def _environment(language: Language) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, autoescape=False,  # noqa: S701 - plain text, never HTML
                      trim_blocks=True, lstrip_blocks=True)
    filters: Mapping[str, Callable[..., str]] = {
        "local_time": lambda value, tz: format_local_time(value, language, tz),
        "duration": lambda minutes: format_duration(minutes, language),
    }
    env.filters.update(filters)
    return env


_ENVIRONMENTS = {language: _environment(language) for language in Language}

DELAY_REASON_TEXT: Mapping[DelayReason, Mapping[Language, str]] = {
    reason: {language: vars(_ENVIRONMENTS[language].get_template(f"_common.{language}.j2").module)["reasons"][reason]
             for language in Language}
    for reason in DelayReason
}
"""Each delay reason in plain words, as the templates say it (read from ``_common.<language>.j2``)."""


def _one_line(text: str | None) -> str | None:
    """A value as it appears inside one sentence: line breaks read as spaces."""
    return None if text is None else " ".join(text.splitlines())


def _context(shipment: ShipmentSnapshot | None, caller_name: str | None, tz: str, quote_minutes: int
             ) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": _one_line((caller_name or "").strip()), "tz": tz, "business_tz": tz == BUSINESS_TZ_NAME,
        "quote_minutes": quote_minutes, "shipment": shipment is not None,
        "waybill_no": shipment.waybill_no if shipment is not None else None,
    }
    if shipment is None:
        return values
    position = shipment.last_position
    has_position = position is not None and (bool(position.place) or (
        position.lat is not None and position.lon is not None))
    values.update(
        status=shipment.status, destination=_one_line(shipment.destination), eta=shipment.eta,
        delayed=shipment.delayed, promised_at=shipment.promised_at,
        reason=(shipment.delay_reason or DelayReason.OTHER).value if shipment.delayed else None,
        late_minutes=shipment.delay_minutes if shipment.delay_minutes and shipment.delay_minutes > 0 else None,
        position=None if not has_position or position is None else {
            "at": position.at, "place": _one_line(position.place) or None, "lat": position.lat, "lon": position.lon},
    )
    return values


def suggested_reply(
    *,
    category: Category,
    language: Language = Language.ZH_CN,
    caller_name: str | None = None,
    shipment: ShipmentSnapshot | None = None,
    tz: str = BUSINESS_TZ_NAME,
    quote_minutes: int = QUOTE_MINUTES,
) -> str:
    """The reply to a complaint of ``category``, in ``language``.

    ``shipment``: what the read model knows of the waybill (``None``: no waybill given).
    ``quote_minutes``: the answer time a price enquiry is promised — the ticket's own
    resolution target (``sla.QUOTE_MINUTES`` by default).
    """
    template = _ENVIRONMENTS[language].get_template(f"{category.value}.{language.value}.j2")
    text = template.render(_context(shipment, caller_name, tz, quote_minutes))
    sentences = [line.strip() for line in text.splitlines() if line.strip()]
    return (" " if language is Language.EN else "").join(sentences)
