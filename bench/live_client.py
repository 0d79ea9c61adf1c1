"""The "Live desk" figure's stream holder: many `/desk/events` streams in one process.

`python -m bench.live_client SPEC.json` opens `streams` Server-Sent-Events connections to web
(raw asyncio protocols on uvloop: no HTTP library, no task per stream; each arrival is stamped
with `time.time()` in `data_received`, before any parsing), prints `ready` once every stream
has its first frame, then for each line `wait <waybill>` on stdin prints `got <waybill>` when
every stream has received the `live` frame naming that waybill (or `timeout <waybill> <n>`).
On `done` (or end of input) it prints one JSON line: each waybill's arrival times, and this
process's CPU seconds while it waited, so the report can show the holder was not the
bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any


class StreamProtocol(asyncio.Protocol):
    def __init__(self, holder: Holder, index: int) -> None:
        self.holder = holder
        self.index = index
        self.request = holder.request_for(index)
        self.buf = b""
        self.started = False
        self.transport: asyncio.BaseTransport | None = None
        self.lost = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport subclasses
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.started:
            head, sep, rest = self.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            if not head.startswith(b"HTTP/1.1 200"):
                self.holder.failed(self.index, head[:200].decode(errors="replace"))
                return
            self.started = True
            self.buf = rest
        while b"\n\n" in self.buf:
            frame, _, self.buf = self.buf.partition(b"\n\n")
            self.holder.frame(self.index, frame, now)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self.holder.closed(self.index)


class Holder:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.n = int(spec["streams"])
        self.cookies: list[str] = spec["cookies"]
        self.ready = 0
        self.seen_hello = [False] * self.n
        self.all_ready = asyncio.Event()
        self.target = self.n
        self.arrivals: dict[str, list[float]] = {}
        self.waiting: dict[str, asyncio.Event] = {}
        self.errors: list[str] = []
        self.closed_streams = 0
        self.frames = 0

    def request_for(self, index: int) -> bytes:
        cookie = self.cookies[index % len(self.cookies)]
        return (f"GET /desk/events HTTP/1.1\r\nHost: {self.spec['host']}:{self.spec['port']}\r\n"
                f"Accept: text/event-stream\r\nCookie: lcs_session={cookie}\r\n\r\n").encode()

    def frame(self, index: int, frame: bytes, now: float) -> None:
        self.frames += 1
        if not self.seen_hello[index]:
            self.seen_hello[index] = True
            self.ready += 1
            if self.ready >= self.target:
                self.all_ready.set()
        # the body is chunked: a frame may begin with the chunk framing (CRLF, size, CRLF)
        at = frame.find(b"event: live\n")
        if at < 0:
            return
        data = frame[at:].partition(b"data: ")[2].split(b"\n", 1)[0]
        try:
            waybill = json.loads(data).get("waybill")
        except ValueError:
            return
        if waybill in self.waiting:
            got = self.arrivals.setdefault(waybill, [])
            got.append(now)
            if len(got) == self.n:
                self.waiting[waybill].set()

    def failed(self, index: int, head: str) -> None:
        self.errors.append(f"stream {index}: {head}")

    def closed(self, index: int) -> None:
        self.closed_streams += 1


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


async def run(spec: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    holder = Holder(spec)
    protocols: list[StreamProtocol] = []
    sem = asyncio.Semaphore(64)  # connects in waves: the listen backlog is not the figure

    async def open_one(i: int) -> None:
        async with sem:
            _, proto = await loop.create_connection(lambda: StreamProtocol(holder, i), spec["host"], spec["port"])
            protocols.append(proto)

    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    # in two steps: the first few streams (they pay the route's one-time costs in web), then,
    # on `open`, the rest; `ready <n>` after each
    first = min(holder.n, int(spec.get("first", holder.n)))
    for stage, (lo, hi) in enumerate(((0, first), (first, holder.n))):
        if stage == 1 and hi > lo and (await reader.readline()).decode().strip() != "open":
            return
        holder.target = hi
        holder.all_ready.clear()
        if holder.ready >= hi:
            holder.all_ready.set()
        await asyncio.gather(*(open_one(i) for i in range(lo, hi)))
        try:
            await asyncio.wait_for(holder.all_ready.wait(), float(spec.get("ready_timeout", 120)))
        except TimeoutError:
            print(json.dumps({"error": f"only {holder.ready} of {hi} streams started",
                              "errors": holder.errors[:5]}), flush=True)
            return
        print(f"ready {hi}", flush=True)
        if hi == holder.n:
            break
    cpu0, t0 = _cpu(), time.monotonic()
    while True:
        line = (await reader.readline()).decode().strip()
        if not line or line == "done":
            break
        cmd, _, waybill = line.partition(" ")
        if cmd != "wait":
            continue
        ev = holder.waiting.setdefault(waybill, asyncio.Event())
        if len(holder.arrivals.get(waybill, [])) == holder.n:
            ev.set()
        try:
            await asyncio.wait_for(ev.wait(), float(spec.get("event_timeout", 30)))
            print(f"got {waybill}", flush=True)
        except TimeoutError:
            print(f"timeout {waybill} {len(holder.arrivals.get(waybill, []))}", flush=True)
    cpu, wall = _cpu() - cpu0, time.monotonic() - t0
    closed_early = holder.closed_streams
    for p in protocols:
        if p.transport is not None:
            p.transport.close()
    print(json.dumps({"arrivals": holder.arrivals, "cpu_s": cpu, "wall_s": wall, "frames": holder.frames,
                      "closed_early": closed_early, "errors": holder.errors[:5]}), flush=True)


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        import uvloop
        uvloop.run(run(spec))
    except ImportError:  # pragma: no cover
        asyncio.run(run(spec))


if __name__ == "__main__":
    main()
