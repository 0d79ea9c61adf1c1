"""The load generator: a separate process (so it never shares the server's event loop) that
keeps N HTTP/1.1 keep-alive connections busy and prints one JSON result line.

A raw asyncio client rather than httpx: httpx spends more CPU per request than a small
uvicorn endpoint does, so it would measure itself. Each connection sends a request, reads
the whole response (Content-Length or chunked) and sends the next one; requests finished
during the warm-up are not counted.

    python -m bench.load SPEC.json    # prints {"requests": ..., "seconds": ..., ...}

Spec: {"host", "port", "mode": "get"|"osmand"|"batches", "connections", "duration", "warmup",
       "rate": total requests/s or 0 (as fast as possible), "headers": {...}, mode-specific keys};
       optional "ports": several replicas of one service, connection i going to ports[i % len(ports)].
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

try:
    import orjson

    def dumps(obj: Any) -> bytes:
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover
    def dumps(obj: Any) -> bytes:
        return json.dumps(obj).encode()


def _request(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts)
    return status, (await reader.readexactly(length) if length else b"")


def feed_step(spec: dict[str, Any], conn_index: int) -> int:
    """Seconds of feed time between a connection's consecutive requests: 1 for a device (one fix
    a second), for a batch the most fixes a vehicle gets in one (1 s apart: with more vehicles than
    divide the batch evenly, the first ones get one fix more); 0 without a feed."""
    if spec["mode"] == "osmand":
        return 1
    if spec["mode"] == "batches":
        return max(1, -(-int(spec["per_batch"]) // len(_batch_vehicles(spec, conn_index))))
    return 0


def _batch_vehicles(spec: dict[str, Any], conn_index: int) -> list[str]:
    """The vehicles a connection's batches carry fixes of: its own group ("fleet": "own", the
    default), or every group's ("whole": as a GPS aggregator or a Traccar forwarder posts)."""
    groups = spec["vehicle_groups"]
    if spec.get("fleet") == "whole":
        return [v for group in groups for v in group]
    return list(groups[conn_index % len(groups)])


def feed_extent(spec: dict[str, Any], conn_index: int, n: int) -> int:
    """Seconds of feed time a connection's first `n` requests reach (the next run starts after)."""
    step = feed_step(spec, conn_index)
    if spec["mode"] == "batches" and spec.get("fleet") == "whole":
        return (n + 1) * int(spec["connections"]) * step
    return n * step


def _makers(spec: dict[str, Any], conn_index: int) -> Callable[[int], bytes]:
    """A function n -> the bytes of this connection's n-th request."""
    host = f"{spec['host']}:{spec['port']}"
    headers = dict(spec.get("headers", {}))
    mode = spec["mode"]
    if mode == "get":
        raw = _request("GET", spec["path"], host, headers)
        return lambda n: raw
    if mode == "osmand":
        # One device per connection; timestamps in epoch milliseconds, 1 s apart, from the
        # spec's start time, so every fix is new and advances the vehicle.
        device = spec["devices"][conn_index % len(spec["devices"])]
        start_ms = int(spec["start_epoch_ms"])
        step_ms = feed_step(spec, conn_index) * 1000
        lat0, lon0 = 31.25, 121.40

        def osmand(n: int) -> bytes:
            path = (f"/osmand?id={device}&timestamp={start_ms + n * step_ms}&lat={lat0 + n * 1e-5:.6f}"
                    f"&lon={lon0 - n * 1e-5:.6f}&speed=32.4&bearing=280&batt=80")
            return _request("GET", path, host, headers)
        return osmand
    if mode == "batches":
        # `per_batch` fixes spread over the connection's vehicles, 1 s apart per vehicle (k seconds:
        # `feed_step`). Its own group ("own"): each connection's vehicles are its alone, its n-th batch
        # holds their seconds [n·k, n·k + k). The whole fleet ("whole"): every connection's batches hold fixes
        # of every vehicle, the connections taking turns in feed time (connection i's n-th batch
        # holds seconds [(n·C + i)·k, ...)), so concurrent batches carry fixes of the same vehicles,
        # interleaved, and out of order whenever one connection runs ahead of another.
        vehicles = _batch_vehicles(spec, conn_index)
        per_batch = int(spec["per_batch"])
        start = datetime.fromtimestamp(spec["start_epoch"], UTC)
        per_vehicle = feed_step(spec, conn_index)
        whole = spec.get("fleet") == "whole"
        conns = int(spec["connections"])
        hdrs = {**headers, "Content-Type": "application/json"}

        heads = [f'{{"vehicle_id":"{v}",' for v in vehicles]

        @functools.lru_cache(maxsize=4096)
        def tail(step: int) -> str:  # shared by the vehicles' fixes of the same second
            return (f'"at":"{(start + timedelta(seconds=step)).isoformat()}","lat":{31.25 + step * 1e-5:.6f},'
                    f'"lon":{121.40 - step * 1e-5:.6f},"speed_kmh":60.0,"heading":280.0}}')

        def batch(n: int) -> bytes:
            # Written as text, not dicts + a JSON encoder: the generator shares the machine with
            # what it measures, so a body must cost it far less than the service's parse of it.
            parts = []
            first = (n * conns + conn_index) * per_vehicle if whole else n * per_vehicle
            for k in range(per_batch):
                step = first + k // len(vehicles)
                parts.append(heads[k % len(vehicles)] + tail(step))
            body = ('{"positions":[' + ",".join(parts) + "]}").encode()
            return _request("POST", "/v1/positions", host, hdrs, body)
        return batch
    if mode == "track":
        # The public tracking page's form with the right digits, a different waybill each time:
        # waybill k's consignee phone ends in k mod 10,000 (bench/scale.py).
        hdrs = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        pool = int(spec["waybills"])
        conns = int(spec["connections"])

        def track(n: int) -> bytes:
            k = (conn_index + n * conns) % pool
            body = f"waybill=S{k:09d}&phone4={k % 10000:04d}".encode()
            return _request("POST", "/track", host, hdrs, body)
        return track
    raise ValueError(f"unknown mode {mode}")


async def _connection(spec: dict[str, Any], index: int, t_start: float, t_count: float, t_end: float,
                      out: dict[str, Any]) -> None:
    make = _makers(spec, index)
    # `source_addresses`: each connection from its own loopback address 127.0.0.2.. (a limit per
    # client address then counts each connection on its own)
    local = (f"127.0.0.{2 + index % 250}", 0) if spec.get("source_addresses") else None
    ports = spec.get("ports") or [spec["port"]]
    reader, writer = await asyncio.open_connection(spec["host"], ports[index % len(ports)], local_addr=local)
    rate = float(spec.get("rate") or 0)
    interval = spec["connections"] / rate if rate > 0 else 0.0
    next_at = t_start + (index * interval / spec["connections"] if interval else 0.0)
    n = int(spec.get("offset", 0))
    try:
        while True:
            now = time.perf_counter()
            if now >= t_end:
                break
            if interval:
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at += interval
            data = make(n)
            n += 1
            sent = time.perf_counter()
            writer.write(data)
            status, body = await _response(reader)
            done = time.perf_counter()
            if done >= t_count and done <= t_end:
                out["requests"] += 1
                out["latencies"].append(done - sent)
                out["status"][str(status)] = out["status"].get(str(status), 0) + 1
                if status >= 300:
                    out["errors"] += 1
                    if len(out["samples"]) < 3:
                        out["samples"].append(body[:300].decode(errors="replace"))
    finally:
        writer.close()
        # how far into the feed this connection went: the next run's fixes start after it
        out["feed_seconds"] = max(out.get("feed_seconds", 0), feed_extent(spec, index, n))


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"requests": 0, "errors": 0, "status": {}, "latencies": [], "samples": []}
    t0 = time.perf_counter()
    t_count = t0 + float(spec.get("warmup", 1.0))
    t_end = t_count + float(spec["duration"])
    tasks = [asyncio.create_task(_connection(spec, i, t0, t_count, t_end, out))
             for i in range(int(spec["connections"]))]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    lat = sorted(out.pop("latencies"))

    def pct(p: float) -> float | None:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else None

    out.update(seconds=float(spec["duration"]), rate=out["requests"] / float(spec["duration"]),
               p50_ms=pct(0.5), p99_ms=pct(0.99), connection_failures=failures[:3])
    return out


def main() -> None:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    result = asyncio.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
