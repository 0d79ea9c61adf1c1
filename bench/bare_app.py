"""Ceiling C2: a bare FastAPI endpoint returning a small JSON, one uvicorn worker, with the
same server settings the services use (uvloop, httptools, no access log)."""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/ping")
async def ping() -> dict[str, str]:
    return {"status": "ok"}


def main() -> None:
    port = int(sys.argv[1])
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="off",
                server_header=False, workers=1)


if __name__ == "__main__":
    main()
