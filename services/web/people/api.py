"""Sign-in pages and the request guards every desk route uses.

- `GET /login`, `POST /login` (303 to the page asked for), `POST /logout`;
- `person(request)`: the signed-in person or a redirect to /login (an htmx request gets
  `HX-Redirect`); a disabled account is out at its next request;
- `csrf(request)`: every state-changing request carries the session's CSRF token, as the
  form field `csrf` or the `X-CSRF-Token` header (htmx). The sign-in form, before any
  session, carries a signed double-submit token bound to a cookie.
"""

from __future__ import annotations

import hmac
import math
import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.web.context import RuntimeDep, WebRuntime
from services.web.domain import cookies
from services.web.people import service
from services.web.people.models import Person
from shared.errors import DomainError, Forbidden, Unauthorized

router = APIRouter(include_in_schema=False)

SESSION_COOKIE = "lcs_session"
LOGIN_COOKIE = "lcs_login"  # the sign-in form's double-submit CSRF cookie


class SignInRequired(DomainError):
    """No live session: the page answers with a redirect to /login (see main.html_errors)."""

    status = 401


class CsrfRefused(DomainError):
    status = 403


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//evil.example` or `https://...`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/desk/"
    return target


def _session_id(rt: WebRuntime, request: Request) -> str | None:
    return cookies.unsign(rt.settings.session_key(), request.cookies.get(SESSION_COOKIE))


async def current_person(request: Request, rt: RuntimeDep) -> Person:
    cached = getattr(request.state, "person", None)
    if cached is not None:
        return cached
    session_id = _session_id(rt, request)
    person = await service.person_of(rt, session_id=session_id) if session_id else None
    if person is None:
        raise SignInRequired("sign_in_required", "please sign in")
    request.state.person = person
    return person


async def desk_person(person: Annotated[Person, Depends(current_person)]) -> Person:
    if not person.on_desk:
        raise Forbidden("not_on_desk", "this account has no access to the desk")
    return person


async def customer_person(person: Annotated[Person, Depends(current_person)]) -> Person:
    """The portal is a key account's own view: a desk account is refused rather than shown an
    empty portal as if it were a customer (its token would see every customer's goods)."""
    if person.role != "customer" or not person.customer:
        raise Forbidden("not_a_customer", "the portal is for key-account customer accounts")
    return person


async def _checked_csrf(request: Request, person: Person) -> Person:
    sent = request.headers.get("x-csrf-token")
    if not sent:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, person.csrf_token):
        raise CsrfRefused("csrf_refused", "the form has expired or did not come from this site; reload the page")
    return person


async def csrf(request: Request, person: Annotated[Person, Depends(desk_person)]) -> Person:
    return await _checked_csrf(request, person)


async def portal_csrf(request: Request, person: Annotated[Person, Depends(customer_person)]) -> Person:
    return await _checked_csrf(request, person)


PersonDep = Annotated[Person, Depends(desk_person)]
WriterDep = Annotated[Person, Depends(csrf)]
CustomerDep = Annotated[Person, Depends(customer_person)]
CustomerWriterDep = Annotated[Person, Depends(portal_csrf)]


def home_of(person: Person) -> str:
    """Where a person starts: a customer in the portal, everyone else on the desk."""
    return "/portal/" if person.role == "customer" else "/desk/"


def landing(person: Person, target: str) -> str:
    """The page asked for, unless it belongs to the other side: a customer never lands on the
    desk, a desk account never in the portal."""
    if person.role == "customer":
        return target if target.startswith(("/portal", "/account")) else "/portal/"
    return "/desk/" if target.startswith("/portal") else target


def _login_token(rt: WebRuntime, nonce: str) -> str:
    return cookies.sign(rt.settings.session_key(), "login-" + nonce).split(".", 1)[1]


def _cookie_args(rt: WebRuntime) -> dict[str, object]:
    return {"httponly": True, "samesite": "lax", "secure": rt.settings.secure_cookies(), "path": "/"}


def login_page(rt: WebRuntime, request: Request, *, status: int = 200, error: str | None = None,
               username: str = "", retry_after: float = 0.0) -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE)
    fresh = not nonce or not nonce.isalnum() or len(nonce) > 64
    if fresh:
        nonce = secrets.token_hex(16)
    assert nonce is not None
    response = rt.context.templates.render(
        request, "login.html", status=status, error=error, username=username,
        login_csrf=_login_token(rt, nonce), next=safe_next(request.query_params.get("next")))
    if fresh:
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, **_cookie_args(rt))  # type: ignore[arg-type]
    if retry_after:
        response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
    return response


def client_address(request: Request) -> str:
    """The address the request came from (behind the Ingress: as uvicorn's trusted proxy
    headers give it, see docs/services/web.md)."""
    return request.client.host if request.client else "unknown"


@router.get("/login")
async def get_login(request: Request, rt: RuntimeDep) -> Response:
    return login_page(rt, request)


@router.post("/login")
async def post_login(request: Request, rt: RuntimeDep, username: Annotated[str, Form(max_length=64)] = "",
                     password: Annotated[str, Form(max_length=1024)] = "",
                     csrf_token: Annotated[str, Form(alias="csrf", max_length=200)] = "",
                     next_: Annotated[str, Form(alias="next", max_length=2000)] = "/desk/") -> Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not nonce or not hmac.compare_digest(csrf_token, _login_token(rt, nonce)):
        return login_page(rt, request, status=403, error="login_csrf", username=username)
    limiter = rt.context.login_limiter
    address_key = f"login-failures:{client_address(request)}"
    if limiter is not None:
        wait = await limiter.over(address_key)
        if wait:
            return login_page(rt, request, status=429, error="rate_limited", username=username, retry_after=wait)
    try:
        signed = await service.sign_in(rt, username=username.strip(), password=password,
                                       previous_session=_session_id(rt, request))
    except Unauthorized:
        if limiter is not None:
            await limiter.take(address_key)
        return login_page(rt, request, status=401, error="sign_in_failed", username=username)
    target = landing(signed.person, safe_next(next_))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, cookies.sign(rt.settings.session_key(), signed.session_id),
                        max_age=rt.settings.session_idle_minutes * 60, **_cookie_args(rt))  # type: ignore[arg-type]
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
async def post_logout(request: Request, rt: RuntimeDep,
                      person: Annotated[Person, Depends(current_person)]) -> Response:
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, person.csrf_token):
        raise CsrfRefused("csrf_refused", "the form has expired; reload the page")
    session_id = _session_id(rt, request)
    if session_id:
        await service.sign_out(rt, session_id=session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/account")
async def account(request: Request, rt: RuntimeDep, person: Annotated[Person, Depends(current_person)]) -> Response:
    return rt.context.templates.render(request, "account.html", person=person)


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)
