"""Figure 2b: the HTTP layer of a device fix, on its own. One uvicorn worker with the services'
protocol (`shared.fastpath.http.CoalescingHttpToolsProtocol`) answers `GET /d?<an /osmand query>`
with tracking's answer, its work a future completed on the next turn of the event loop (as the
group commit completes it, without the database): as a fast route of the ASGI path
(`shared.fastpath.routes.FastRoutes`, how `/osmand` was answered) or as a direct route answered
by the protocol itself (`DirectRoute`, how it is answered now). The difference is what the
direct route saves per request.

    python -m bench.direct_app PORT asgi|direct
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson
import uvicorn

from shared.context import Runtime
from shared.fastpath.http import CoalescingHttpToolsProtocol, DirectRoute, DirectRoutes
from shared.fastpath.routes import FastRoutes, clean_query, query_params, send_json

STORED = orjson.dumps({"status": "stored"})


def _work(query: bytes) -> asyncio.Future[None]:
    """The route's work: the query parsed as `/osmand`'s is, its outcome a future done next turn."""
    query_params(clean_query(query) or "")
    loop = asyncio.get_running_loop()
    future: asyncio.Future[None] = loop.create_future()
    loop.call_soon(future.set_result, None)
    return future


def _body(future: asyncio.Future[None]) -> bytes:
    future.result()
    return STORED


async def _fast_route(rt: Any, scope: Any, receive: Any, send: Any) -> int | None:
    await _work(scope["query_string"])
    return await send_json(send, 200, STORED)


async def _nothing(scope: Any, receive: Any, send: Any) -> None:
    raise RuntimeError(f"not a bench path: {scope.get('path')}")


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    rt: Runtime[Any, Any] = Runtime(service="bench", settings=None, pool=None)
    app = FastRoutes(_nothing, rt=rt, routes={"/d": _fast_route})

    class Direct(CoalescingHttpToolsProtocol):
        direct = DirectRoutes(rt, {"/d": DirectRoute(lambda rt, method, query: _work(query), _body)})

    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off",
                server_header=False, http=Direct if mode == "direct" else CoalescingHttpToolsProtocol)


if __name__ == "__main__":
    main()
