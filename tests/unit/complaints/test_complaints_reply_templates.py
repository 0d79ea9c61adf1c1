"""The suggested-reply templates: one per category and language, all rendering with the
vocabulary the code passes, and the quote promise following the ticket's own target."""

from __future__ import annotations

import pytest

from services.complaints.domain.replies import TEMPLATES, suggested_reply
from services.complaints.domain.sla import QUOTE_MINUTES
from services.complaints.domain.vocabulary import Category, Language


def test_every_category_has_a_template_in_every_language_and_nothing_else_lies_there() -> None:
    expected = {f"{c.value}.{lang.value}.j2" for c in Category for lang in Language}
    expected |= {f"_common.{lang.value}.j2" for lang in Language}
    assert {p.name for p in TEMPLATES.glob("*.j2")} == expected


@pytest.mark.parametrize(("minutes", "zh", "en"), [
    (QUOTE_MINUTES, "在8小时内", "within 8 hours"), (60, "在1小时内", "within 1 hour"),
    (90, "在1小时30分钟内", "within 1 hour 30 minutes"), (45, "在45分钟内", "within 45 minutes"),
])
def test_a_quote_is_promised_within_the_tickets_target(minutes: int, zh: str, en: str) -> None:
    assert zh in suggested_reply(category=Category.QUOTE, quote_minutes=minutes)
    assert en in suggested_reply(category=Category.QUOTE, language=Language.EN, quote_minutes=minutes)


def test_a_line_break_in_a_name_stays_inside_its_sentence() -> None:
    reply = suggested_reply(category=Category.OTHER, caller_name="王\n先生")
    assert reply.startswith("王 先生您好！") and "\n" not in reply
