"""The desk's words: how a complaint reached us, what it is about, how urgent it is, and the
language the customer is answered in."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """How the complaint reached the desk."""

    PHONE = "phone"
    WEB = "web"
    PARTNER = "partner"  # a partner branch system (网点) filed it through the API
    CHAT = "chat"


class Category(StrEnum):
    """What the complaint is about; drives the SLA and the suggested reply."""

    DELAY = "delay"
    DAMAGE = "damage"
    LOSS = "loss"
    ATTITUDE = "attitude"
    BILLING = "billing"
    QUOTE = "quote"
    OTHER = "other"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


def parse_language(value: str | None) -> Language:
    """Customer language tag → reply language; Chinese unless the tag is English.

    Tolerant on purpose: recipient preferences come from other systems
    (``en-US``, ``EN``, ``zh``, ``zh-Hans``...), and Chinese is the desk's default.
    """
    if value and value.strip().lower().split("-")[0].split("_")[0] == "en":
        return Language.EN
    return Language.ZH_CN
