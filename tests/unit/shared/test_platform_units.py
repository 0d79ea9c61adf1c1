"""The shared library's pure parts: envelope, settings, tokens, masking, error shape, guards."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.formparsers import FormParser

from shared.auth import Principal, decode_token, issue_token, require_roles
from shared.context import Runtime
from shared.errors import BadRequest, Conflict, DomainError
from shared.events import (
    EVENT_TYPES,
    Envelope,
    ShipmentDelayed,
    UnknownEventType,
    make_envelope,
    parse_event,
)
from shared.fastpath.routes import form_fields, query_params
from shared.pii import keyed_hash, mask_email, mask_phone, mask_text
from shared.settings import DEV_SECRET, Settings
from shared.web import create_app

CONTRACT_TYPES = [
    "tracking.shipment.registered.v1", "tracking.shipment.departed.v1", "tracking.shipment.delayed.v1",
    "tracking.shipment.recovered.v1", "tracking.shipment.arrived.v1", "tracking.shipment.delivered.v1",
    "tracking.exception.reported.v1", "tracking.vehicle.stale.v1", "receipts.receipt.overdue.v1",
    "receipts.receipt.abnormal.v1", "complaints.complaint.opened.v1", "complaints.complaint.sla_breached.v1",
    "complaints.complaint.resolved.v1", "notifier.notification.sent.v1", "notifier.notification.failed.v1",
]


def delayed_event() -> ShipmentDelayed:
    return ShipmentDelayed(waybill_no="SH1", eta=datetime(2026, 11, 30, 12, tzinfo=UTC),
                           promised_at=datetime(2026, 11, 30, 10, tzinfo=UTC), delay_minutes=120,
                           reason="slow_progress")


def test_every_contract_event_type_has_a_model() -> None:
    for name in CONTRACT_TYPES:
        assert name in EVENT_TYPES, name
        assert name == EVENT_TYPES[name].TYPE


def test_envelope_is_cloudevents_structured_json_and_round_trips() -> None:
    env = make_envelope(delayed_event(), "/lcs/tracking")
    raw = env.to_json()
    back = Envelope.model_validate_json(raw)
    assert back.specversion == "1.0"
    assert back.type == "tracking.shipment.delayed.v1"
    assert back.subject == "SH1"
    assert back.datacontenttype == "application/json"
    assert back.source == "/lcs/tracking"
    event = parse_event(back)
    assert isinstance(event, ShipmentDelayed)
    assert event.delay_minutes == 120


def test_envelope_refuses_naive_time_and_missing_attributes() -> None:
    with pytest.raises(ValidationError):
        Envelope.model_validate({"id": str(uuid.uuid4()), "source": "/x", "type": "t",
                                 "time": "2026-11-30T10:00:00", "data": {}})
    with pytest.raises(ValidationError):
        Envelope.model_validate({"source": "/x", "type": "t", "time": "2026-11-30T10:00:00Z", "data": {}})


def test_parse_event_rejects_unknown_type_and_wrong_schema() -> None:
    env = make_envelope(delayed_event(), "/lcs/tracking")
    with pytest.raises(UnknownEventType):
        parse_event(env.model_copy(update={"type": "tracking.shipment.delayed.v9"}))
    with pytest.raises(ValidationError):
        parse_event(env.model_copy(update={"data": {"waybill_no": "SH1"}}))


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    env = make_envelope(delayed_event(), "/lcs/tracking")
    data = {**env.data, "new_optional_field": 1}
    assert isinstance(parse_event(env.model_copy(update={"data": data})), ShipmentDelayed)


def test_settings_refuse_default_or_short_secrets_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LCS_AUTH_SECRET", raising=False)
    monkeypatch.delenv("LCS_ID_HASH_KEY", raising=False)
    monkeypatch.setenv("LCS_ENV", "prod")
    with pytest.raises(ValidationError, match="LCS_AUTH_SECRET"):
        Settings()
    monkeypatch.setenv("LCS_AUTH_SECRET", "short")
    with pytest.raises(ValidationError):
        Settings()
    monkeypatch.setenv("LCS_AUTH_SECRET", "x" * 32)
    monkeypatch.setenv("LCS_ID_HASH_KEY", "y" * 32)
    assert Settings().auth_secret == "x" * 32
    monkeypatch.setenv("LCS_ENV", "dev")
    monkeypatch.delenv("LCS_AUTH_SECRET")
    assert Settings().auth_secret == DEV_SECRET


def test_settings_read_lcs_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LCS_ENV", "dev")
    monkeypatch.setenv("LCS_RETRY_DELAYS_MS", "[10,20,30]")
    monkeypatch.setenv("LCS_PREFETCH", "7")
    s = Settings()
    assert s.retry_delays_ms == [10, 20, 30]
    assert s.prefetch == 7
    assert s.port_for("receipts") == 8002


def test_tokens_round_trip_and_reject_tampering() -> None:
    secret = "s" * 40
    token = issue_token(secret, sub="u1", role="branch", branch="SH01")
    p = decode_token(token, secret)
    assert p == Principal(sub="u1", role="branch", branch="SH01")
    assert p.sees_station("SH01", "WX02") and not p.sees_station("NJ01")
    with pytest.raises(DomainError) as err:
        decode_token(token, "t" * 40)
    assert err.value.status == 401
    expired = issue_token(secret, sub="u1", role="staff", ttl_seconds=-10)
    with pytest.raises(DomainError):
        decode_token(expired, secret)
    none_alg = jwt.encode({"sub": "x", "role": "admin", "exp": 9999999999}, key="", algorithm="none")
    with pytest.raises(DomainError):
        decode_token(none_alg, secret)
    with pytest.raises(ValueError, match="branch"):
        issue_token(secret, sub="u", role="branch")


def test_a_token_that_passed_is_remembered_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a clock of the test's own (shared.auth's, and PyJWT's expiry check on the same clock):
    moved to the expiry instead of waiting for it."""
    import shared.auth as auth

    secret = "s" * 40
    clock = [time.time()]
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: clock[0]))
    token = issue_token(secret, sub="u2", role="carrier", carrier="C1", ttl_seconds=60)
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]
    calls = []
    real = jwt.decode

    def decode(*a: Any, **k: Any) -> Any:
        calls.append(1)
        if clock[0] >= expires:  # what PyJWT decides at that time
            raise jwt.ExpiredSignatureError("Signature has expired")
        return real(*a, **k)

    monkeypatch.setattr(jwt, "decode", decode)
    first = decode_token(token, secret)
    assert decode_token(token, secret) is first and len(calls) == 1  # checked once
    with pytest.raises(DomainError):  # another secret checks afresh, and refuses
        decode_token(token, "t" * 40)
    assert len(calls) == 2
    clock[0] = expires - 0.001
    assert decode_token(token, secret) is first and len(calls) == 2  # remembered up to its expiry
    clock[0] = expires
    calls.clear()
    with pytest.raises(DomainError) as err:  # expired: forgotten, checked again, refused
        decode_token(token, secret)
    assert err.value.status == 401 and len(calls) == 1
    with pytest.raises(DomainError):  # and not remembered as refused either: checked every time
        decode_token(token, secret)
    assert len(calls) == 2


def test_masking() -> None:
    assert mask_phone("13800000000") == "138****0000"
    assert mask_email("ops@example.com") == "o***@example.com"
    text = mask_text("call 13812345678, mail ops@example.com, id 11010519491231002X")
    assert "13812345678" not in text and "ops@example.com" not in text and "11010519491231002X" not in text
    assert "138****5678" in text and "002X" in text
    assert keyed_hash("11010519491231002x", "k") == keyed_hash("11010519491231002X", "k")
    assert keyed_hash("11010519491231002X", "k") != keyed_hash("11010519491231002X", "other")


class Body(BaseModel):
    name: str


def make_app() -> httpx.AsyncClient:
    router = APIRouter()

    @router.post("/v1/things")
    async def create(body: Body, _: Principal = Depends(require_roles("admin"))) -> dict[str, str]:
        return {"name": body.name}

    @router.get("/v1/boom")
    async def boom() -> None:
        raise Conflict("invalid_transition", "cannot do that from signed", {"current": "signed"})

    settings = Settings(env="dev", rate_limit_per_minute=0, max_body_bytes=2048)
    rt = Runtime(service="test", settings=settings, pool=None)  # type: ignore[arg-type]
    app = create_app(rt=rt, routers=[router], title="t", description="t")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def admin() -> dict[str, str]:
    return {"Authorization": "Bearer " + issue_token(DEV_SECRET, sub="a", role="admin")}


async def test_error_shape_for_auth_validation_and_domain_errors() -> None:
    async with make_app() as client:
        r = await client.post("/v1/things", json={"name": "x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        staff = {"Authorization": "Bearer " + issue_token(DEV_SECRET, sub="s", role="staff")}
        r = await client.post("/v1/things", json={"name": "x"}, headers=staff)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = await client.post("/v1/things", json={"nom": "x"}, headers=admin())
        assert r.status_code == 422
        body = r.json()["error"]
        assert body["code"] == "validation_error" and body["details"][0]["loc"] == ["body", "name"]
        r = await client.get("/v1/boom")
        assert r.status_code == 409 and r.json()["error"]["details"] == {"current": "signed"}
        r = await client.get("/v1/nowhere")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


async def test_guard_refuses_nul_invalid_utf8_and_oversized_bodies() -> None:
    async with make_app() as client:
        r = await client.post("/v1/things", content=b'{"name": "a\\u0000b"}', headers={
            **admin(), "content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"
        r = await client.post("/v1/things", content=b'{"name": "\xff\xfe"}', headers={
            **admin(), "content-type": "application/json"})
        assert r.status_code == 422
        r = await client.post("/v1/things", json={"name": "x" * 5000}, headers=admin())
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
        r = await client.get("/v1/boom?q=%00")
        assert r.status_code == 422


def make_fast_app() -> httpx.AsyncClient:
    """An app whose /fast is a fast route: echoes `q`, declines `decline=1`, raises on `fail=...`."""
    from urllib.parse import parse_qsl

    from shared.fastpath.routes import clean_query_string, send_json

    router = APIRouter()

    @router.get("/fast")
    async def slow() -> dict[str, str]:
        return {"via": "fastapi"}

    async def fast(rt: Runtime, scope, receive, send) -> int | None:  # type: ignore[no-untyped-def]
        query = clean_query_string(scope)
        if query is None:
            return None
        params = dict(parse_qsl(query))
        if params.get("decline") == "1":
            return None
        if params.get("fail") == "api":
            raise BadRequest("unknown_device", "device D1 is not registered", {"device_id": "D1"})
        if params.get("fail") == "db":
            raise ConnectionRefusedError("database went away")
        if params.get("fail") == "bug":
            raise RuntimeError("a bug")
        return await send_json(send, 200, b'{"via":"fast","q":"%s"}' % params.get("q", "").encode())

    settings = Settings(env="dev", rate_limit_per_minute=0, max_body_bytes=2048)
    rt = Runtime(service="fasttest", settings=settings, pool=None)  # type: ignore[arg-type]
    app = create_app(rt=rt, routers=[router], title="t", description="t", fast_routes={"/fast": fast})
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def http_count(route: str, status: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value("lcs_http_requests_total", {
        "service": "fasttest", "method": "GET", "route": route, "status": status})
    return value or 0.0


async def test_fast_route_answers_declines_and_keeps_the_error_shape_and_metrics() -> None:
    async with make_fast_app() as client:
        before = http_count("/fast", "200")
        r = await client.get("/fast?q=hello")
        assert r.status_code == 200 and r.json() == {"via": "fast", "q": "hello"}
        assert r.headers["content-type"] == "application/json"
        assert http_count("/fast", "200") == before + 1
        # declined: the full stack answers (and counts it under its own route template)
        assert (await client.get("/fast?decline=1")).json() == {"via": "fastapi"}
        # a query string the guard must judge is declined, and the guard refuses it
        r = await client.get("/fast?q=%00")
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"
        r = await client.get("/fast?q=%ff")
        assert r.status_code == 422
        # what a fast route raises is answered in the contract's shape
        r = await client.get("/fast?fail=api")
        assert r.status_code == 400 and r.json() == {"error": {
            "code": "unknown_device", "message": "device D1 is not registered", "details": {"device_id": "D1"}}}
        assert http_count("/fast", "400") >= 1
        r = await client.get("/fast?fail=db")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5"
        assert r.json()["error"]["code"] == "unavailable"
        r = await client.get("/fast?fail=bug")
        assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
        # other paths never see the fast route
        assert (await client.get("/livez")).json() == {"status": "alive"}


@given(st.text(alphabet="ab=&;%+2 0", max_size=24))
@example("id=dev-1&timestamp=1764380000000&lat=31.25&lon=121.4&speed=32.4&bearing=280&batt=80")
@example("a=1&a=2&&b&=c&d=e=f")
@example("q=a%20b+c&q=%41")
def test_query_params_reads_a_query_as_parse_qsl_does(query: str) -> None:
    assert query_params(query) == dict(parse_qsl(query, keep_blank_values=True))


async def _starlette_form(body: bytes) -> dict[str, Any]:
    """What `Request.form()` makes of an urlencoded body, as a dict (the last of a name wins)."""
    async def stream() -> Any:
        yield body
        yield b""
    form = await FormParser(Headers({"content-type": "application/x-www-form-urlencoded"}), stream()).parse()
    return dict(form)


@given(st.binary(max_size=30) | st.text(alphabet="ab=&;%+2F0 é~*.", max_size=30).map(str.encode))
@example(b"waybill=SH000000001&phone4=1234")
@example(b"a=1&a=2&&b&=c&d=e=f")
@example(b"q=a%20b+c&q=%41&r=%E4%B8%8A%ZZ%")
@example(b"a=1;b=2")
async def test_a_plain_form_reads_as_starlettes_parser_reads_it(body: bytes) -> None:
    fast = form_fields(body)
    if fast is not None:
        assert fast == await _starlette_form(body)


_FORM_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@given(st.lists(st.tuples(_FORM_TEXT.filter(bool), _FORM_TEXT), min_size=1, max_size=4))
async def test_what_a_browser_sends_takes_the_fast_path(fields: list[tuple[str, str]]) -> None:
    """A browser's form (names and values escaped as `quote_plus` escapes them) is always plain."""
    body = "&".join(f"{quote_plus(name)}={quote_plus(value)}" for name, value in fields).encode()
    fast = form_fields(body)
    assert fast is not None
    assert fast == await _starlette_form(body) == dict(fields)
