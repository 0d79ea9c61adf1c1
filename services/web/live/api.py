"""`GET /desk/events`: the Server-Sent Events stream of the open desk pages.

Frames: `event: live` with a JSON message (topic, waybill, complaint id, the text in the
page's language), `event: reload` (re-read every list), a `: heartbeat` comment every
~15 s (keeps proxies from closing an idle stream, and re-checks the session: a disabled
account's stream ends). The page itself re-reads its lists whenever the stream
(re)connects, so nothing that happened while it was away is missed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from services.web.context import RuntimeDep
from services.web.domain.cookies import unsign
from services.web.live.hub import CLOSE, RELOAD, Audience
from services.web.people import service as people
from services.web.people.api import PersonDep
from services.web.templating import language_of

router = APIRouter(include_in_schema=False)


@router.get("/desk/events")
async def events(request: Request, rt: RuntimeDep, person: PersonDep) -> StreamingResponse:
    hub = rt.context.hub
    lang = language_of(request)
    heartbeat = rt.settings.sse_heartbeat_seconds
    stream = hub.open(Audience(person.role, person.branch))
    session_cookie = request.cookies.get("lcs_session", "")

    async def frames() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n: hello\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(stream.queue.get(), heartbeat)
                except TimeoutError:
                    session_id = unsign(rt.settings.session_key(), session_cookie)
                    if not session_id or await people.person_of(rt, session_id=session_id) is None:
                        yield "event: signed-out\ndata: {}\n\n"
                        return
                    yield ": heartbeat\n\n"
                    continue
                if message is CLOSE:
                    return
                if message is RELOAD or message.topic == "_reload":
                    yield "event: reload\ndata: {}\n\n"
                    continue
                data = {"topic": message.topic, "waybill": message.waybill,
                        "complaint_id": message.complaint_id,
                        "text": message.text_zh if lang == "zh-CN" else message.text_en}
                yield f"event: live\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
        finally:
            hub.close(stream)

    return StreamingResponse(frames(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"})
