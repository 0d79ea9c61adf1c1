"""Templates: golden renderings in both languages, escaping, fallback, filters and SMS length.

Golden files live in ``golden/``. After changing a template on purpose, regenerate them with
``LCS_UPDATE_GOLDEN=1 pytest tests/unit/notifier -k golden``, read the diff by eye, and commit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.notifier.domain.routing import route_templates
from services.notifier.domain.sms import sms_info
from services.notifier.domain.vocabulary import Channel, DelayReason, Language
from services.notifier.templates.renderer import TEMPLATES_DIR, TemplateNotFoundError, TemplateRenderer
from services.notifier.templates.samples import SAMPLE_DATA

GOLDEN_DIR = Path(__file__).parent / "golden"
UPDATE = os.environ.get("LCS_UPDATE_GOLDEN") == "1"

renderer = TemplateRenderer()
CASES = [(t.name, t.channel, lang) for t in renderer.list_templates() for lang in t.languages]


def _as_golden(name: str, channel: Channel, language: Language) -> str:
    rendered = renderer.render(name, channel, language, SAMPLE_DATA[name])
    parts = [f"--- subject ---\n{rendered.subject}\n"] if rendered.subject is not None else []
    parts.append(f"--- text ---\n{rendered.text.rstrip()}\n")
    if rendered.html is not None:
        parts.append(f"--- html ---\n{rendered.html.rstrip()}\n")
    return "".join(parts)


@pytest.mark.parametrize(("name", "channel", "language"), CASES, ids=[f"{n}.{c}.{lang}" for n, c, lang in CASES])
def test_golden(name: str, channel: Channel, language: Language) -> None:
    path = GOLDEN_DIR / f"{name}.{channel}.{language}.txt"
    actual = _as_golden(name, channel, language)
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path.name}; run with LCS_UPDATE_GOLDEN=1 and review"
    assert actual == path.read_text(encoding="utf-8")


def test_every_routed_template_exists_in_both_languages_on_every_channel_it_is_routed_to() -> None:
    available = {(t.name, t.channel): set(t.languages) for t in renderer.list_templates()}
    for name, channels in route_templates().items():
        assert name in SAMPLE_DATA, name
        for channel in channels:
            assert available.get((name, channel)) == {Language.ZH_CN, Language.EN}, (name, channel)


def test_every_golden_file_belongs_to_a_template() -> None:
    expected = {f"{n}.{c}.{lang}.txt" for n, c, lang in CASES}
    assert {p.name for p in GOLDEN_DIR.glob("*.txt")} == expected


def test_list_templates_shape() -> None:
    infos = {(t.name, t.channel): t for t in renderer.list_templates()}
    assert infos[("delayed", Channel.SMS)].languages == (Language.EN, Language.ZH_CN)
    assert ("complaint_sla_breached", Channel.SMS) not in infos
    assert not any(t.name.startswith("_") for t in renderer.list_templates())


# ---------------------------------------------------------------- escaping


def test_html_part_escapes_and_text_part_does_not() -> None:
    data = {**SAMPLE_DATA["delivered"], "signer_name": "<script>alert(1)</script>", "recipient_name": "A&B <b>"}
    rendered = renderer.render("delivered", Channel.EMAIL, Language.ZH_CN, data)
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "A&amp;B &lt;b&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text
    assert "A&B <b>" in rendered.text


def test_sms_is_not_escaped() -> None:
    data = {**SAMPLE_DATA["delivered"], "signer_name": "<script>"}
    assert "<script>" in renderer.render("delivered", Channel.SMS, Language.ZH_CN, data).text


def test_subject_is_one_line_whatever_the_data() -> None:
    data = {**SAMPLE_DATA["departed"], "waybill_no": "W1\r\nBcc: evil@example.com"}
    subject = renderer.render("departed", Channel.EMAIL, Language.ZH_CN, data).subject
    assert subject is not None and "\n" not in subject and "\r" not in subject


# ---------------------------------------------------------------- strictness and fallback


def test_missing_field_fails_loudly() -> None:
    data = {k: v for k, v in SAMPLE_DATA["delayed"].items() if k != "revised_eta"}
    with pytest.raises(Exception, match="revised_eta"):
        renderer.render("delayed", Channel.SMS, Language.ZH_CN, data)


def test_recipient_name_is_optional() -> None:
    data = {k: v for k, v in SAMPLE_DATA["departed"].items() if k != "recipient_name"}
    assert renderer.render("departed", Channel.EMAIL, Language.ZH_CN, data).text.startswith("您好！")
    assert renderer.render("departed", Channel.EMAIL, Language.EN, data).text.startswith("Hello,")


def test_naive_times_are_refused() -> None:
    data = {**SAMPLE_DATA["departed"], "eta": "2026-11-30T16:00:00"}
    with pytest.raises(ValueError, match="aware"):
        renderer.render("departed", Channel.SMS, Language.ZH_CN, data)


def test_language_falls_back_to_zh_cn_when_the_en_file_is_missing(tmp_path: Path) -> None:
    for f in TEMPLATES_DIR.glob("departed.*zh-CN*.j2"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    for f in TEMPLATES_DIR.glob("_layout.*"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    only_chinese = TemplateRenderer(tmp_path)
    sms = only_chinese.render("departed", "sms", "en", SAMPLE_DATA["departed"])
    assert sms.language is Language.ZH_CN
    # Rendered by the zh-CN filters too: a Chinese sentence gets a Chinese date.
    assert "11月30日 16:00" in sms.text
    email = only_chinese.render("departed", "email", "en", SAMPLE_DATA["departed"])
    assert email.language is Language.ZH_CN and email.html is not None


def test_unknown_language_falls_back_to_zh_cn() -> None:
    assert renderer.render("departed", "sms", "fr", SAMPLE_DATA["departed"]).language is Language.ZH_CN


def test_unknown_template_or_channel() -> None:
    with pytest.raises(TemplateNotFoundError):
        renderer.render("nope", "sms", "zh-CN", {})
    with pytest.raises(TemplateNotFoundError):
        renderer.render("complaint_sla_breached", "sms", "zh-CN", SAMPLE_DATA["complaint_sla_breached"])
    with pytest.raises(TemplateNotFoundError):
        renderer.preview("nope", "sms", "zh-CN")


def test_preview_uses_sample_data() -> None:
    assert renderer.preview("delayed", "sms", "en") == renderer.render("delayed", "sms", "en", SAMPLE_DATA["delayed"])


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        ("2026-11-30T20:30:00+08:00", Language.ZH_CN, "11月30日 20:30"),
        ("2026-11-30T12:30:00Z", Language.ZH_CN, "11月30日 20:30"),  # shown in Beijing time
        ("2026-11-30T12:30:00Z", Language.EN, "30 Nov 20:30"),
        ("2026-12-31T16:05:00+00:00", Language.ZH_CN, "1月1日 00:05"),
        ("2026-12-31T16:05:00+00:00", Language.EN, "1 Jan 00:05"),
    ],
)
def test_local_time(value: str, language: Language, expected: str) -> None:
    data = {**SAMPLE_DATA["recovered"], "eta": value}
    assert expected in renderer.render("recovered", "sms", language, data).text


@pytest.mark.parametrize("language", list(Language))
def test_every_delay_reason_has_its_own_plain_words(language: Language) -> None:
    texts = {
        renderer.render("delayed", "sms", language, {**SAMPLE_DATA["delayed"], "reason": r.value}).text
        for r in DelayReason
    }
    assert len(texts) == len(DelayReason)  # none falls through to the "other" wording
    assert not any("_" in text for text in texts)  # no raw code such as traffic_jam


def test_delay_reason_words() -> None:
    data = {**SAMPLE_DATA["delayed"], "reason": "customs_inspection"}
    assert "因海关查验延误" in renderer.render("delayed", "sms", "zh-CN", data).text
    assert "delayed by a customs inspection" in renderer.render("delayed", "sms", "en", data).text


@pytest.mark.parametrize(
    ("minutes", "zh", "en"), [(45, "45分钟", "45 min"), (120, "2小时", "2 h"), (150, "2小时30分钟", "2 h 30 min")]
)
def test_duration(minutes: int, zh: str, en: str) -> None:
    data = {**SAMPLE_DATA["delayed"], "delay_minutes": minutes}
    assert f"预计延误约{zh}。" in renderer.render("delayed", "email", "zh-CN", data).text
    assert f"(a delay of about {en})" in renderer.render("delayed", "email", "en", data).text


# ---------------------------------------------------------------- SMS length


@pytest.mark.parametrize("name", ["delayed", "departed", "arrived", "delivered"])
def test_chinese_sms_fits_one_or_two_segments_with_typical_data(name: str) -> None:
    text = renderer.render(name, "sms", "zh-CN", SAMPLE_DATA[name]).text
    assert text.startswith("您好")
    assert text.endswith("【LCS物流】")
    assert 1 <= sms_info(text).segments <= 2


@pytest.mark.parametrize("reason", list(DelayReason))
def test_delay_sms_stays_within_two_segments_for_every_reason(reason: DelayReason) -> None:
    data = {**SAMPLE_DATA["delayed"], "reason": reason.value}
    assert sms_info(renderer.render("delayed", "sms", "zh-CN", data).text).segments <= 2


def test_english_sms_stay_in_gsm7_with_sample_data() -> None:
    # A Chinese name in the data legitimately switches to UCS-2; our own wording must not.
    for info in renderer.list_templates():
        if info.channel is Channel.SMS:
            text = renderer.render(
                info.name,
                "sms",
                "en",
                {**SAMPLE_DATA[info.name], "signer_name": "Yang", "message": "Arriving today.", "resolution": "Refund"},
            ).text
            assert sms_info(text).encoding == "gsm7", (info.name, text)
