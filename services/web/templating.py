"""Jinja2 with autoescape on for every template, the page's language and the desk's helpers.

Everything a user or a backend typed is escaped when shown (autoescape); no template marks
anything `|safe`. Pages carry no inline script and no `on*` attribute (the CSP forbids them):
behaviour lives in static/desk.js.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

from services.web.domain.desk import notification_retryable, parse_time, receipt_actions
from services.web.domain.messages import message
from services.web.domain.words import Lang, pick_language, word
from shared.clock import BUSINESS_TZ

TEMPLATES = Path(__file__).parent / "templates"
LANG_COOKIE = "lcs_lang"


def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    at = parse_time(value)
    if at is None:
        return ""
    return at.astimezone(BUSINESS_TZ).strftime(fmt)


def rfc3339(value: Any) -> str:
    at = parse_time(value)
    return at.isoformat() if at is not None else ""


def language_of(request: Request) -> Lang:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


class Templates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = Environment(loader=FileSystemLoader(str(directory)), autoescape=select_autoescape(default=True),
                               undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True,
                               auto_reload=False)  # templates ship with the image: no stat() per page
        self.env.filters["local"] = local_time
        self.env.filters["rfc3339"] = rfc3339
        self.env.globals["receipt_actions"] = receipt_actions
        self.env.globals["retryable"] = notification_retryable

    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = language_of(request)

        def t(key: str, **kw: Any) -> str:
            return message(key, lang, **kw)

        def w(group: str, code: str | None) -> str:
            return word(group, code, lang)

        base: dict[str, Any] = {"request": request, "lang": lang, "t": t, "w": w, "person": None,
                                "q": "", "now": datetime.now(BUSINESS_TZ), "path": request.url.path}
        html = self.env.get_template(template).render({**base, **ctx})
        return HTMLResponse(html, status_code=status)
