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
from jinja2.utils import concat

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


_DICT_ATTRIBUTES = frozenset(dir(dict))
_MAIN = "\x00main\x00"  # where a shell's `main` block goes: no template writes a NUL


class PageEnvironment(Environment):
    """Jinja's environment, with `x.name` on a plain dict read as its key at once.

    Why: the pages show the backends' JSON answers, plain dicts, as `view.stage`, `e.at`. Jinja's
    `getattr` tries the attribute first, and for a dict that fails with an AttributeError raised and
    caught each time: about 60 a public tracking page, a quarter of its render (docs/BENCHMARKS.md,
    figure 9). A name that is not an attribute of `dict` can only be a key, so the answer is
    Jinja's own in every case: the key's value, or the same undefined when there is none; `d.items`
    and the rest of dict's attributes go Jinja's way (tests/unit/web/test_templating.py)."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


_LANG_KEY = "lcs.lang"  # where a request's language is kept in its scope, once worked out
_COOKIE_NAME = LANG_COOKIE.encode()


def language_of(request: Request) -> Lang:
    """The page's language: the one chosen (the `LANG_COOKIE` cookie), else the best of
    Accept-Language (`pick_language`), as `request.cookies` and `request.headers.get` read them.

    Worked out once a request and kept in its scope (a page asks two or three times), from the
    raw headers: Starlette's cookie parser runs only when a Cookie header names the cookie, and
    no `Headers` is built. Building them and parsing every cookie was 2% of web's CPU on the public
    tracking page (figure 9's profile)."""
    scope = request.scope
    lang: Lang | None = scope.get(_LANG_KEY)
    if lang is None:
        named = False  # a Cookie header names the cookie (`request.cookies` reads them all)
        accept = None  # the first Accept-Language, as `headers.get`
        for name, value in scope["headers"]:
            if name == b"cookie":
                named = named or _COOKIE_NAME in value
            elif name == b"accept-language" and accept is None:
                accept = value.decode("latin-1")
        lang = scope[_LANG_KEY] = pick_language(request.cookies.get(LANG_COOKIE) if named else None, accept)
    return lang


class Templates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        self.env = PageEnvironment(loader=FileSystemLoader(str(directory)),
                                   autoescape=select_autoescape(default=True), undefined=ChainableUndefined,
                                   trim_blocks=True, lstrip_blocks=True,
                                   auto_reload=False)  # templates ship with the image: no stat() per page
        self.env.filters["local"] = local_time
        self.env.filters["rfc3339"] = rfc3339
        self.env.globals["receipt_actions"] = receipt_actions
        self.env.globals["retryable"] = notification_retryable

        self._shells: dict[tuple[str, Lang, str], tuple[str, str]] = {}

    def _variables(self, request: Request, ctx: dict[str, Any]) -> dict[str, Any]:
        lang = language_of(request)

        def t(key: str, **kw: Any) -> str:
            return message(key, lang, **kw)

        def w(group: str, code: str | None) -> str:
            return word(group, code, lang)

        base: dict[str, Any] = {"request": request, "lang": lang, "t": t, "w": w, "person": None,
                                "q": "", "now": datetime.now(BUSINESS_TZ),
                                "path": request.scope["path"]}
        return {**base, **ctx}

    def render(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        html = self.env.get_template(template).render(self._variables(request, ctx))
        return HTMLResponse(html, status_code=status)

    def render_in_shell(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        """`render`'s page, its `main` block rendered alone inside the rest of the page (its shell:
        the head, the header, the other blocks) as rendered once for the template, the language and
        the path. Only for a page whose shell reads nothing else, and no signed-in person: the
        public tracking page at `/track`, where the shell was about a fifth of the page's render
        (tests/unit/web/test_templating.py renders both ways)."""
        variables = self._variables(request, ctx)
        page = self.env.get_template(template)
        key = (template, variables["lang"], variables["path"])
        shell = self._shells.get(key)
        if shell is None:
            context = page.new_context(variables)
            context.blocks["main"] = [lambda _context: iter((_MAIN,))]
            head, tail = concat(page.root_render_func(context)).split(_MAIN)
            shell = self._shells[key] = (head, tail)
        main = concat(page.blocks["main"](page.new_context(variables)))
        return HTMLResponse(shell[0] + main + shell[1], status_code=status)
