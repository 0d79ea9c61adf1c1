"""Rendering notification templates (the Jinja2 files beside this module).

File names say what a file is: ``<name>.sms.<language>.j2`` for an SMS, for an e-mail
three parts ``<name>.email.<language>.subject.j2`` / ``.txt.j2`` / ``.html.j2``, and
``<name>.wecom.<language>.j2`` for a WeChat Work group robot's markdown. Files whose name
starts with ``_`` are layouts that the e-mail parts extend.

* Autoescaping is on for ``.html.j2`` only: a consignee called ``<script>`` must be inert in
  the HTML part yet read as typed in the plain-text part and the SMS.
* Group robot markdown: every ``{{ value }}`` is made inert (``domain/wecom.markdown_text``: a
  ``[link](...)`` in a consignee's name stays text) and the message is kept within the robot's
  4096 bytes: a template shows ``rows[:limit]`` of its lists and says how many it left out, and
  the renderer picks the largest ``limit`` that fits (``fit_markdown``).
* ``StrictUndefined``: a template asking for a field the event lacks fails loudly (and the
  delivery fails visibly) instead of sending "您好，您的运单已于 发车".
* One Jinja environment per language, so the filters (``local_time``, ``delay_reason``, ...)
  speak the language of the file being rendered — also when an ``en`` file is missing and
  the ``zh-CN`` one is used instead.
* Times are shown in the business time zone (`shared.clock`, Asia/Shanghai): customers,
  stations and staff all read Beijing time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.notifier.domain.vocabulary import Channel, Language
from services.notifier.domain.wecom import fit_markdown, markdown_text
from services.notifier.templates.samples import SAMPLE_DATA
from shared.clock import BUSINESS_TZ_NAME

TEMPLATES_DIR = Path(__file__).resolve().parent
DEFAULT_LANGUAGE = Language.ZH_CN

_FILE_RE = re.compile(
    r"^(?P<name>[a-z0-9_]+)\.(?P<channel>sms|email|wecom)\.(?P<language>[A-Za-z]{2}(?:-[A-Za-z]{2})?)"
    r"(?:\.(?P<part>subject|txt|html))?\.j2$"
)


class TemplateNotFoundError(LookupError):
    """No such template for that channel (in any language)."""


@dataclass(frozen=True)
class Rendered:
    """A rendered message. SMS: ``text`` only. E-mail: ``subject``, ``text`` and ``html``."""

    subject: str | None
    text: str
    html: str | None
    language: Language


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    channel: Channel
    languages: tuple[Language, ...]


# --------------------------------------------------------------------------------------
# Words for codes, per language
# --------------------------------------------------------------------------------------

_LABELS: dict[str, dict[Language, dict[str, str]]] = {
    "delay_reason": {
        Language.ZH_CN: {
            "traffic_jam": "道路拥堵",
            "breakdown": "车辆故障",
            "customs_inspection": "海关查验",
            "weather": "天气原因",
            "force_majeure": "不可抗力",
            "vehicle_stopped": "车辆临时停靠",
            "no_signal": "车辆定位信号中断",
            "slow_progress": "运输进度较慢",
            "other": "其他原因",
        },
        Language.EN: {
            "traffic_jam": "heavy traffic",
            "breakdown": "a vehicle breakdown",
            "customs_inspection": "a customs inspection",
            "weather": "bad weather",
            "force_majeure": "circumstances beyond our control",
            "vehicle_stopped": "an unscheduled stop",
            "no_signal": "a loss of the vehicle's tracking signal",
            "slow_progress": "slower progress than planned",
            "other": "operational reasons",
        },
    },
    "exception_kind": {
        Language.ZH_CN: {
            "damage": "破损",
            "shortage": "短少",
            "wet": "受潮",
            "contaminated": "污染",
            "lost": "丢失",
            "mismatch": "货单不符",
            "other": "其他异常",
        },
        Language.EN: {
            "damage": "damage",
            "shortage": "a shortage",
            "wet": "water damage",
            "contaminated": "contamination",
            "lost": "a loss",
            "mismatch": "a mismatch between the goods and the waybill",
            "other": "an irregularity",
        },
    },
    "complaint_category": {
        Language.ZH_CN: {
            "delay": "时效延误",
            "damage": "货物破损",
            "loss": "货物丢失",
            "attitude": "服务态度",
            "billing": "费用问题",
            "quote": "报价咨询",
            "other": "其他",
        },
        Language.EN: {
            "delay": "delay",
            "damage": "damage",
            "loss": "loss",
            "attitude": "service attitude",
            "billing": "billing",
            "quote": "quotation",
            "other": "other",
        },
    },
    "sla_kind": {
        Language.ZH_CN: {"first_response": "首次响应", "resolution": "处理完结"},
        Language.EN: {"first_response": "first response", "resolution": "resolution"},
    },
}

_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _as_aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"aware datetimes only: {value!r}")
    return moment


def _label(vocabulary: str, language: Language) -> Callable[[str], str]:
    words = _LABELS[vocabulary][language]

    def label(code: str) -> str:
        # An unknown code still reads as a sentence; the code itself would not.
        return words.get(str(code), words.get("other", str(code)))

    return label


def _filters(language: Language, tz: str) -> dict[str, Callable[..., Any]]:
    zone = ZoneInfo(tz)

    def local_time(value: datetime | str) -> str:
        """``11月30日 20:30`` / ``30 Nov 20:30`` in the service's time zone."""
        local = _as_aware(value).astimezone(zone)
        if language is Language.EN:
            return f"{local.day} {_EN_MONTHS[local.month - 1]} {local:%H:%M}"
        return f"{local.month}月{local.day}日 {local:%H:%M}"

    def local_date(value: date | datetime | str) -> str:
        """``2026年11月30日`` / ``30 Nov 2026``; a datetime is converted to local time first."""
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            value = _as_aware(value).astimezone(zone).date()
        if language is Language.EN:
            return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"
        return f"{value.year}年{value.month}月{value.day}日"

    def time_window(start: datetime | str, end: datetime | str) -> str:
        """``12月2日 14:00–16:00`` / ``2 Dec 14:00-16:00`` (a GSM-7 hyphen: an en dash would make an
        English SMS UCS-2); both ends in full across midnight."""
        first, last = _as_aware(start).astimezone(zone), _as_aware(end).astimezone(zone)
        dash = "-" if language is Language.EN else "–"
        if first.date() == last.date():
            return f"{local_time(first)}{dash}{last:%H:%M}"
        return f"{local_time(first)} {dash} {local_time(last)}"

    def duration(minutes: int | float) -> str:
        """``1小时30分钟`` / ``1 h 30 min``."""
        hours, mins = divmod(round(minutes), 60)
        if language is Language.EN:
            parts = [f"{hours} h" if hours else "", f"{mins} min" if mins or not hours else ""]
            return " ".join(p for p in parts if p)
        return (f"{hours}小时" if hours else "") + (f"{mins}分钟" if mins or not hours else "")

    return {
        "local_time": local_time,
        "local_date": local_date,
        "time_window": time_window,
        "duration": duration,
        **{vocabulary: _label(vocabulary, language) for vocabulary in _LABELS},
    }


# --------------------------------------------------------------------------------------
# The renderer
# --------------------------------------------------------------------------------------


class TemplateRenderer:
    """Renders ``<name>`` for a channel and language from the files in ``templates_dir``."""

    def __init__(self, templates_dir: Path | str = TEMPLATES_DIR, *, tz: str = BUSINESS_TZ_NAME) -> None:
        self._dir = Path(templates_dir)
        loader = FileSystemLoader(self._dir)
        self._envs: dict[Language, Environment] = {}
        self._markdown_envs: dict[Language, Environment] = {}
        for language in Language:
            env = Environment(
                loader=loader,
                autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.filters.update(_filters(language, tz))
            self._envs[language] = env
            # Markdown, not HTML: `finalize` makes every value inert markdown text instead.
            markdown = Environment(loader=loader, autoescape=False, undefined=StrictUndefined,  # noqa: S701
                                   trim_blocks=True, lstrip_blocks=True, finalize=markdown_text)
            markdown.filters.update(_filters(language, tz))
            self._markdown_envs[language] = markdown
        # Templates ship with the service and do not change at run time: index them once.
        self._files = frozenset(path.name for path in self._dir.glob("*.j2"))
        self._index = self._available()

    def list_templates(self) -> list[TemplateInfo]:
        """Every (template, channel) pair with the languages it exists in, sorted by name."""
        found: dict[tuple[str, Channel], set[Language]] = {}
        for name, channel, language in self._index:
            found.setdefault((name, channel), set()).add(language)
        return [
            TemplateInfo(name=name, channel=channel, languages=tuple(sorted(langs)))
            for (name, channel), langs in sorted(found.items())
        ]

    def render(
        self, template: str, channel: Channel | str, language: Language | str, data: Mapping[str, Any]
    ) -> Rendered:
        """Render one message. Missing ``en`` (or unknown language) → the ``zh-CN`` file."""
        channel = Channel(channel)
        language = self._pick_language(template, channel, language)
        env = self._envs[language]
        # ``recipient_name`` and ``link`` (the public tracking link) are optional everywhere; give
        # them a value so StrictUndefined lets the templates test them.
        context = {"recipient_name": None, "link": None, **data}
        if channel is Channel.SMS:
            text = env.get_template(f"{template}.sms.{language}.j2").render(context)
            return Rendered(subject=None, text=text.strip(), html=None, language=language)
        if channel is Channel.WECOM:
            markdown = self._markdown_envs[language].get_template(f"{template}.wecom.{language}.j2")
            longest = max((len(v) for v in context.values() if isinstance(v, list)), default=0)
            text = fit_markdown(lambda limit: markdown.render({**context, "limit": limit}).strip(), longest)
            return Rendered(subject=None, text=text, html=None, language=language)
        stem = f"{template}.email.{language}"
        subject = env.get_template(f"{stem}.subject.j2").render(context)
        text = env.get_template(f"{stem}.txt.j2").render(context)
        html_name = f"{stem}.html.j2"
        html = env.get_template(html_name).render(context) if html_name in self._files else None
        return Rendered(
            # One line, whatever the data held: a CR/LF in a subject would be a header injection.
            subject=" ".join(subject.split()),
            text=text.strip() + "\n",
            html=html.strip() + "\n" if html is not None else None,
            language=language,
        )

    def preview(self, template: str, channel: Channel | str, language: Language | str) -> Rendered:
        """Render with ``SAMPLE_DATA`` (for ``POST /v1/templates/{name}/preview``)."""
        if template not in SAMPLE_DATA:
            raise TemplateNotFoundError(template)
        return self.render(template, channel, language, SAMPLE_DATA[template])

    def _available(self) -> set[tuple[str, Channel, Language]]:
        available: set[tuple[str, Channel, Language]] = set()
        for file_name in self._files:
            match = _FILE_RE.match(file_name)
            if match is None or match["language"] not in Language.__members__.values():
                continue
            channel = Channel(match["channel"])
            # An e-mail exists in a language when its subject and text parts do.
            if channel is Channel.EMAIL and match["part"] != "txt":
                continue
            if channel is Channel.EMAIL and file_name.replace(".txt.j2", ".subject.j2") not in self._files:
                continue
            available.add((match["name"], channel, Language(match["language"])))
        return available

    def _pick_language(self, template: str, channel: Channel, language: Language | str) -> Language:
        available = {lang for name, ch, lang in self._index if name == template and ch is channel}
        if not available:
            raise TemplateNotFoundError(f"{template}.{channel}")
        wanted = Language(language) if language in Language.__members__.values() else DEFAULT_LANGUAGE
        if wanted in available:
            return wanted
        if DEFAULT_LANGUAGE in available:
            return DEFAULT_LANGUAGE
        raise TemplateNotFoundError(f"{template}.{channel}.{DEFAULT_LANGUAGE}")
