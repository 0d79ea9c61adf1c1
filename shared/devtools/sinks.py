"""Stand-ins for the outside world, for the demo and the tests: an SMTP sink, an SMS gateway
and WeChat Work group robots, with an HTTP API to read what arrived and to make them misbehave.

    python -m shared.devtools.sinks --smtp-port 1025 --http-port 8025

HTTP:
- `POST /sms` — the gateway (`{"to", "text"}`, optional bearer token) → `{"id"}`;
  `POST /fallback/sms` — a second gateway with its own mode.
- `POST /wecom/cgi-bin/webhook/send?key=...` — group robots (base URL `<sinks>/wecom`):
  `{"msgtype": "markdown", "markdown": {"content"}}` → `{"errcode": 0, "errmsg": "ok"}`, as the real
  one answers (errcode 40008 for another msgtype, 45002 for content over 4096 bytes).
- `GET /sms`, `GET /fallback/sms`, `GET /emails` (attachments base64-encoded), `GET /wecom` — what was
  received.
- `PUT /control` — `{"sms": "ok|fail|timeout|reject", "fallback": ..., "smtp": "ok|tempfail|reject",
  "wecom": "ok|ratelimit|invalid|fail"}` (ratelimit: errcode 45009; invalid: errcode 93000, a
  removed robot; fail: HTTP 503).
- `DELETE /messages` — forget everything received.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import email
import email.policy
import itertools
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

SmsMode = Literal["ok", "fail", "timeout", "reject"]
SmtpMode = Literal["ok", "tempfail", "reject"]
WecomMode = Literal["ok", "ratelimit", "invalid", "fail"]
WECOM_MAX_BYTES = 4096


@dataclass
class SinkState:
    sms: list[dict[str, Any]] = field(default_factory=list)
    fallback_sms: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    wecom: list[dict[str, Any]] = field(default_factory=list)
    modes: dict[str, str] = field(default_factory=lambda: {"sms": "ok", "fallback": "ok", "smtp": "ok",
                                                           "wecom": "ok"})
    ids: itertools.count[int] = field(default_factory=itertools.count)
    attempts: dict[str, int] = field(default_factory=lambda: {"sms": 0, "fallback": 0, "smtp": 0, "wecom": 0})


class SmtpHandler:
    def __init__(self, state: SinkState) -> None:
        self.state = state

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.state.attempts["smtp"] += 1
        mode = self.state.modes["smtp"]
        if mode == "tempfail":
            return "451 4.3.0 try again later"
        if mode == "reject":
            return "550 5.1.1 mailbox unavailable"
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        text = html = None
        attachments: list[dict[str, Any]] = []
        for part in msg.walk():
            if part.is_attachment():
                payload = part.get_payload(decode=True)
                payload = payload if isinstance(payload, bytes) else b""
                attachments.append({"filename": part.get_filename(), "content_type": part.get_content_type(),
                                    "content_b64": base64.b64encode(payload).decode("ascii")})
            elif part.get_content_type() == "text/plain" and text is None:
                text = part.get_content()
            elif part.get_content_type() == "text/html" and html is None:
                html = part.get_content()
        self.state.emails.append({
            "id": next(self.state.ids), "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
            "subject": str(msg["subject"] or ""), "text": text, "html": html,
            "message_id": str(msg["message-id"] or ""), "idempotency_key": str(msg["x-lcs-idempotency-key"] or ""),
            "attachments": attachments,
        })
        return "250 OK"


class Control(BaseModel):
    sms: SmsMode | None = None
    fallback: SmsMode | None = None
    smtp: SmtpMode | None = None
    wecom: WecomMode | None = None


def build_app(state: SinkState) -> FastAPI:
    app = FastAPI(title="lcs sinks (SMTP + SMS gateway stand-ins)")

    async def gateway(request: Request, which: str, store: list[dict[str, Any]]) -> JSONResponse:
        state.attempts[which] += 1
        mode = state.modes[which]
        if mode == "timeout":
            await asyncio.sleep(30)
        if mode == "fail":
            return JSONResponse({"error": "gateway unavailable"}, status_code=503)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "invalid json"}, status_code=400)
        if mode == "reject" or not isinstance(body, dict) or not body.get("to") or not body.get("text"):
            return JSONResponse({"error": "invalid recipient or text"}, status_code=400)
        entry = {"id": next(state.ids), "to": body["to"], "text": body["text"],
                 "authorization": request.headers.get("authorization"),
                 "idempotency_key": request.headers.get("idempotency-key")}
        store.append(entry)
        return JSONResponse({"id": str(entry["id"]), "status": "accepted"})

    @app.post("/sms")
    async def sms(request: Request) -> JSONResponse:
        return await gateway(request, "sms", state.sms)

    @app.post("/fallback/sms")
    async def fallback_sms(request: Request) -> JSONResponse:
        return await gateway(request, "fallback", state.fallback_sms)

    @app.post("/wecom/cgi-bin/webhook/send")
    async def wecom_robot(request: Request, key: str = "") -> JSONResponse:
        state.attempts["wecom"] += 1
        mode = state.modes["wecom"]
        if mode == "fail":
            return JSONResponse({"error": "robot unavailable"}, status_code=503)
        if mode == "ratelimit":
            return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
        if mode == "invalid" or not key:
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"errcode": 40058, "errmsg": "invalid json"})
        markdown = body.get("markdown") if isinstance(body, dict) else None
        if not isinstance(body, dict) or body.get("msgtype") != "markdown" or not isinstance(markdown, dict):
            return JSONResponse({"errcode": 40008, "errmsg": "invalid message type"})
        content = str(markdown.get("content") or "")
        if not content:
            return JSONResponse({"errcode": 44004, "errmsg": "empty content"})
        if len(content.encode("utf-8")) > WECOM_MAX_BYTES:
            return JSONResponse({"errcode": 45002, "errmsg": "content size out of limit"})
        state.wecom.append({"id": next(state.ids), "key": key, "msgtype": "markdown", "content": content})
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    @app.get("/wecom")
    async def list_wecom() -> list[dict[str, Any]]:
        return state.wecom

    @app.get("/sms")
    async def list_sms() -> list[dict[str, Any]]:
        return state.sms

    @app.get("/fallback/sms")
    async def list_fallback_sms() -> list[dict[str, Any]]:
        return state.fallback_sms

    @app.get("/emails")
    async def list_emails() -> list[dict[str, Any]]:
        return state.emails

    @app.get("/attempts")
    async def attempts() -> dict[str, int]:
        return state.attempts

    @app.put("/control")
    async def control(body: Control) -> dict[str, str]:
        for key, value in body.model_dump(exclude_none=True).items():
            state.modes[key] = value
        return state.modes

    @app.delete("/messages")
    async def clear() -> dict[str, str]:
        state.sms.clear()
        state.fallback_sms.clear()
        state.emails.clear()
        state.wecom.clear()
        return {"status": "cleared"}

    @app.get("/livez")
    async def livez() -> dict[str, str]:
        return {"status": "alive"}

    return app


async def serve(host: str, smtp_port: int, http_port: int) -> None:
    state = SinkState()
    smtp_server = None
    if smtp_port:  # 0 = SMS gateway only (aiosmtpd is a development dependency)
        from aiosmtpd.smtp import SMTP

        handler = SmtpHandler(state)
        smtp_server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(handler, hostname="lcs-sink"), host, smtp_port)
    config = uvicorn.Config(build_app(state), host=host, port=http_port, log_level="warning", lifespan="off")
    try:
        await uvicorn.Server(config).serve()
    finally:
        if smtp_server is not None:
            smtp_server.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.devtools.sinks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025, help="0 = no SMTP sink")
    parser.add_argument("--http-port", type=int, default=8025)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.smtp_port, args.http_port))


if __name__ == "__main__":
    main()
