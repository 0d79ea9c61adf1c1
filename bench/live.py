"""The web service's figures that need signed-in desk sessions: "Live desk" (many open
`/desk/events` streams on one web worker, a delay fanned out to all of them) and the sign-in
they share with "Desk pages at scale" (bench/desk.py).

Desk accounts are made with the web CLI (`python -m services.web users add`), as tests/web
does; sessions come from the real sign-in form (`GET /login` for the CSRF token and its
cookie, `POST /login`), so each stream carries a real session cookie.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import world

ROOT = Path(__file__).resolve().parents[1]
SESSION_COOKIE = "lcs_session"
LOGIN_COOKIE = "lcs_login"


def _cookie(response: httpx.Response, name: str) -> str | None:
    """A cookie's value from Set-Cookie (the bench's stack runs with secure cookies, which an
    http client would not send back by itself)."""
    for header in response.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            return rest.split(";", 1)[0]
    return None


async def add_desk_user(env: dict[str, str], username: str, role: str = "staff") -> str:
    """A desk account through the web CLI; returns its password."""
    password = secrets.token_urlsafe(18)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.web", "users", "add", "--username", username, "--role", role,
        "--display-name", "压测", "--password-stdin", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate((password + "\n").encode()), 120)
    if proc.returncode != 0:
        raise RuntimeError(f"users add {username}: {out.decode()} {err.decode()[-1000:]}")
    return password


async def sign_in(http: httpx.AsyncClient, web: str, username: str, password: str) -> str:
    """One session through the sign-in form; returns the signed session cookie's value."""
    page = await http.get(f"{web}/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    nonce = _cookie(page, LOGIN_COOKIE)
    if page.status_code != 200 or not token or not nonce:
        raise RuntimeError(f"GET /login: {page.status_code} {page.text[:300]}")
    r = await http.post(f"{web}/login", data={"username": username, "password": password,
                                              "csrf": token.group(1), "next": "/desk/"},
                        headers={"Cookie": f"{LOGIN_COOKIE}={nonce}"})
    session = _cookie(r, SESSION_COOKIE)
    if r.status_code != 303 or not session:
        raise RuntimeError(f"POST /login: {r.status_code} {r.text[:300]}")
    return session


async def sessions(env: dict[str, str], web: str, n: int, users: int, concurrency: int = 4) -> list[str]:
    """`n` sessions spread over `users` staff accounts."""
    tag = uuid.uuid4().hex[:6]
    names = [f"bench{tag}{i}" for i in range(users)]
    passwords = [await add_desk_user(env, name) for name in names]
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as http:
        async def one(i: int) -> str:
            async with sem:
                return await sign_in(http, web, names[i % users], passwords[i % users])
        return list(await asyncio.gather(*(one(i) for i in range(n))))


def pct(values: list[float], p: float) -> float | None:
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))] if values else None


async def late_shipments(http: httpx.AsyncClient, admin: dict[str, str], n: int, tag: str) -> list[tuple[str, str]]:
    """`n` vehicles, each with one shipment in transit promised in 3 hours (a position in
    Shanghai makes it late, as in figure 4); (vehicle id, waybill) pairs."""
    setup = world.Setup(http, admin)
    now = datetime.now(UTC)
    out = [(f"LDV{tag}{i:03d}", f"LDW{tag}{i:03d}") for i in range(n)]
    digits = secrets.randbelow(10_000)
    await asyncio.gather(*(setup.vehicle_with_shipment(
        v, f"LDD{tag}{i:03d}", w, promised_at=now + timedelta(hours=3), departed_at=now - timedelta(minutes=10),
        phone=f"136{i:04d}{digits:04d}", email=f"live{tag}{i}@example.com") for i, (v, w) in enumerate(out)))
    return out


class LiveDesk:
    """Figure "Live desk": `streams` open `/desk/events` streams on one web worker; positions
    that make in-transit shipments late are posted to tracking one at a time, and each one's
    `live` frame must reach every stream before the next is posted."""

    def __init__(self, *, web_url: str, web_port: int, web_pid: int, tracking_url: str, carrier: dict[str, str],
                 admin: dict[str, str], web_env: dict[str, str], tmp: Path, streams: int, users: int,
                 sessions: int, samples: int, sampler: Any = None) -> None:
        self.web_url, self.web_port, self.web_pid = web_url, web_port, web_pid
        self.tracking_url, self.carrier, self.admin = tracking_url, carrier, admin
        self.web_env, self.tmp = web_env, tmp
        self.streams, self.users, self.samples = streams, users, samples
        self.sessions = max(1, min(sessions, streams))
        self.sampler = sampler  # bench.main.RssSampler: its phase "live" while the streams are open
        self.warm = max(1, streams // 10)  # streams opened first: the one-time costs of the route

    async def run(self, rss_kib: Any, cpu_of: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"streams": self.streams, "users": self.users, "samples": self.samples,
                               "sessions": self.sessions, "warm": self.warm}
        async with httpx.AsyncClient(base_url=self.tracking_url, timeout=30) as http:
            tag = uuid.uuid4().hex[:4].upper()
            targets = await late_shipments(http, self.admin, self.samples, tag)
            t0 = time.perf_counter()
            cookies = await sessions(self.web_env, self.web_url, self.sessions, self.users)
            out["sign_in_s"] = time.perf_counter() - t0
            await asyncio.sleep(1.0)
            out["rss_idle_kib"] = rss_kib(self.web_pid)
            spec = {"host": "127.0.0.1", "port": self.web_port, "streams": self.streams, "cookies": cookies,
                    "first": self.warm, "ready_timeout": 120, "event_timeout": 30}
            path = self.tmp / f"live-{tag}.json"
            path.write_text(json.dumps(spec))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.live_client", str(path), cwd=ROOT, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                limit=64 * 1024 * 1024)  # the last line holds every arrival time
            assert proc.stdin is not None and proc.stdout is not None
            try:
                if self.sampler is not None:
                    self.sampler.phase = "live"
                line = (await asyncio.wait_for(proc.stdout.readline(), 180)).decode().strip()
                if line != f"ready {self.warm}":
                    raise RuntimeError(f"the stream holder did not start: {line[:500]}")
                await asyncio.sleep(1.0)
                out["rss_warm_kib"] = rss_kib(self.web_pid)
                proc.stdin.write(b"open\n")
                await proc.stdin.drain()
                t0 = time.perf_counter()
                line = (await asyncio.wait_for(proc.stdout.readline(), 180)).decode().strip()
                if line != f"ready {self.streams}":
                    raise RuntimeError(f"the stream holder did not open every stream: {line[:500]}")
                out["open_s"] = time.perf_counter() - t0
                await asyncio.sleep(1.0)  # the streams' first frames are flushed and their buffers settled
                out["rss_open_kib"] = max(rss_kib(self.web_pid) or 0 for _ in range(3))
                web_cpu0 = cpu_of(self.web_pid)
                sent: dict[str, float] = {}
                timeouts: list[str] = []
                for vehicle, waybill in targets:
                    proc.stdin.write(f"wait {waybill}\n".encode())
                    await proc.stdin.drain()
                    body = {"positions": [{"vehicle_id": vehicle, "at": datetime.now(UTC).isoformat(),
                                           "lat": 31.25, "lon": 121.40, "speed_kmh": 60.0, "heading": 280.0}]}
                    r = await http.post("/v1/positions", json=body, headers=self.carrier)
                    sent[waybill] = time.time()
                    if r.status_code != 200 or r.json().get("events", 0) < 1:
                        timeouts.append(f"{waybill}: the late position gave {r.status_code} {r.text[:200]}")
                    reply = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode().strip()
                    if not reply.startswith("got "):
                        timeouts.append(f"{waybill}: {reply}")
                    await asyncio.sleep(0.5)
                out["web_cpu_s"] = cpu_of(self.web_pid) - web_cpu0
                proc.stdin.write(b"done\n")
                await proc.stdin.drain()
                result = json.loads((await asyncio.wait_for(proc.stdout.readline(), 60)).decode())
            finally:
                if proc.returncode is None:
                    try:
                        await asyncio.wait_for(proc.wait(), 30)
                    except TimeoutError:
                        proc.kill()
                        await proc.wait()
        lat = [(t - sent[w]) * 1000 for w, times in result["arrivals"].items() if w in sent for t in times]
        per_sample = [len(result["arrivals"].get(w, [])) for w in sent]
        out.update(p50_ms=pct(lat, 0.5), p99_ms=pct(lat, 0.99), max_ms=max(lat) if lat else None,
                   deliveries=len(lat), expected=self.streams * len(targets),
                   complete_samples=sum(1 for n in per_sample if n == self.streams), problems=timeouts,
                   holder_cpu_s=result["cpu_s"], holder_wall_s=result["wall_s"],
                   closed_early=result["closed_early"], holder_errors=result["errors"])
        idle, opened = out.get("rss_idle_kib"), out.get("rss_open_kib")
        out["kib_per_stream"] = (opened - idle) / self.streams if idle and opened else None
        warm = out.get("rss_warm_kib")
        out["kib_per_stream_marginal"] = (opened - warm) / (self.streams - self.warm) \
            if warm and opened and self.streams > self.warm else None
        if lat:
            out["mean_ms"] = statistics.fmean(lat)
        return out
