"""Use cases of the templates: list them, and render one for a preview."""

from __future__ import annotations

from typing import Any

from services.notifier.context import NotifierRuntime
from services.notifier.domain.sms import sms_info
from services.notifier.domain.vocabulary import Channel
from services.notifier.templates.renderer import TemplateInfo, TemplateNotFoundError
from services.notifier.templates.samples import SAMPLE_DATA
from shared.errors import Invalid, NotFound


def list_templates(rt: NotifierRuntime) -> list[TemplateInfo]:
    return rt.context.renderer.list_templates()


def preview(rt: NotifierRuntime, *, name: str, channel: str, language: str,
            data: dict[str, Any] | None) -> dict[str, Any]:
    """`name` rendered with `data`, or with its sample data; 404 for an unknown template,
    422 `template_data_invalid` for data the template cannot render."""
    if data is None:
        data = dict(SAMPLE_DATA.get(name) or {})
    try:
        rendered = rt.context.renderer.render(name, channel, language, data)
    except TemplateNotFoundError as exc:
        raise NotFound.of("template", f"{name} ({channel})") from exc
    except Exception as exc:  # bad preview data: say what is wrong
        raise Invalid("template_data_invalid", f"{type(exc).__name__}: {exc}"[:500]) from exc
    segments = sms_info(rendered.text).segments if channel == Channel.SMS else None
    return {"name": name, "channel": channel, "language": str(rendered.language), "subject": rendered.subject,
            "text": rendered.text, "html": rendered.html, "sms_segments": segments}
