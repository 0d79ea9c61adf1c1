"""The fault suite's machinery: its own stack, a realistic stream with a known set of
late shipments, the faults, and the checker that counts lost / duplicated / unexpected.

The stream: stations around the Yangtze delta plus Beijing and Guangzhou; vehicles
leaving Shanghai; shipments on them whose promised time is hours away from the ETA the
tracking service must compute (great circle through the remaining transfer stations ×
road factor 1.3 / max(recent speed, 30 km/h) + 45 min per remaining transfer; late when
ETA > promised + 15 min) — so each one is *clearly* late or *clearly* on time and the
expected notices are known before anything runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx

from shared.devtools import stack as stackmod
from tests.conftest import ADMIN_AMQP_URL, ADMIN_DB_URL, Infra, run_sync
from tests.support.quiet import queue_depths, quiesce
from tests.support.wait import NotYet, eventually, eventually_sync

T = TypeVar("T")

# --- scale ---------------------------------------------------------------------------------

LARGE = os.environ.get("LCS_CHAOS_SCALE", "").lower() == "large"


@dataclass(frozen=True)
class Scale:
    vehicles_per_phase: int
    shipments_per_vehicle: int
    converge_timeout: float
    concurrency: int


SCALE = Scale(vehicles_per_phase=8, shipments_per_vehicle=12, converge_timeout=180, concurrency=24) if LARGE \
    else Scale(vehicles_per_phase=2, shipments_per_vehicle=4, converge_timeout=60, concurrency=12)

RETRY_LEVELS = 2
TRACE = os.environ.get("LCS_CHAOS_TRACE") == "1"  # print what convergence is waiting for
# The plan's random choices (routes, which shipments are late, receipts) are drawn from this seed:
# every run of a scenario streams the same shape of traffic (LCS_CHAOS_SEED picks another).
SEED = int(os.environ.get("LCS_CHAOS_SEED", "0"))
CHAOS_ENV = {
    "LCS_RETRY_DELAYS_MS": "[200,500]",
    "LCS_OUTBOX_POLL_SECONDS": "0.3",
    "LCS_SHUTDOWN_GRACE_SECONDS": "10",
    "LCS_RATE_LIMIT_PER_MINUTE": "0",
    "LCS_POOL_MIN_SIZE": "1",
    "LCS_POOL_MAX_SIZE": "6",
    # notifier: fast delivery retries, enough of them to outlast a gateway outage
    "LCS_RETRY_BASE_SECONDS": "0.5",
    "LCS_RETRY_CAP_SECONDS": "3",
    "LCS_MAX_ATTEMPTS": "30",
    "LCS_DISPATCH_POLL_SECONDS": "0.3",
    "LCS_THROTTLE_PER_HOUR": "1000",
    "LCS_LOG_LEVEL": "INFO",
}
SERVICES = tuple(s for s in os.environ.get("LCS_CHAOS_SERVICES", "tracking,receipts,notifier").split(",") if s)
CONSUMERS = tuple(s for s in SERVICES if s != "tracking") + ("tracking",)
GRACE_SECONDS = float(CHAOS_ENV["LCS_SHUTDOWN_GRACE_SECONDS"])

# --- geography and the ETA rule (the contract's numbers) ----------------------------------

STATIONS = {  # key: (city, region, lat, lon)
    "SH": ("上海", "华东", 31.2304, 121.4737),
    "NJ": ("南京", "华东", 32.0603, 118.7969),
    "WX": ("无锡", "华东", 31.4912, 120.3119),
    "HZ": ("杭州", "华东", 30.2741, 120.1551),
    "BJ": ("北京", "华北", 39.9042, 116.4074),
    "GZ": ("广州", "华南", 23.1291, 113.2644),
}
START = (31.25, 121.40)  # every vehicle reports from the Shanghai ring road
SPEED_KMH = 60.0
ROUTES = [  # (destination, via)
    ("BJ", ("NJ",)), ("GZ", ()), ("NJ", ("WX",)), ("BJ", ()), ("GZ", ("HZ",)), ("NJ", ()),
]
LATE_MARGIN = timedelta(hours=3)
ON_TIME_MARGIN = timedelta(hours=6)


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def expected_eta(at: datetime, position: tuple[float, float], via: Iterable[str], destination: str) -> datetime:
    points = [position, *((STATIONS[k][2], STATIONS[k][3]) for k in (*via, destination))]
    km = sum(haversine_km(a, b) for a, b in zip(points, points[1:], strict=False)) * 1.3
    hours = km / max(SPEED_KMH, 30.0)
    return at + timedelta(hours=hours, minutes=45 * len(tuple(via)))


# --- the plan -------------------------------------------------------------------------------

@dataclass
class ShipmentPlan:
    waybill: str
    vehicle: str
    destination: str
    via: tuple[str, ...]
    promised_at: datetime
    late: bool
    receipt_required: bool
    arrive: bool  # scanned `arrived` at its destination (direct, on time): receipts gets a due_at
    shipper_phone: str
    shipper_email: str
    consignee_phone: str
    consignee_email: str

    def expected_notices(self) -> set[tuple[str, str]]:
        if not self.late:
            return set()
        return {("email", self.shipper_email), ("email", self.consignee_email),
                ("sms", self.shipper_phone), ("sms", self.consignee_phone)}


@dataclass
class Plan:
    tag: str
    codes: dict[str, str]
    carrier: str
    phases: list[list[str]]  # vehicle ids per phase
    shipments: list[ShipmentPlan]

    def on(self, vehicle: str) -> list[ShipmentPlan]:
        return [s for s in self.shipments if s.vehicle == vehicle]

    @property
    def late(self) -> list[ShipmentPlan]:
        return [s for s in self.shipments if s.late]


def make_plan(phases: int, *, seed: int | None = SEED) -> Plan:
    rng = random.Random(seed)
    tag = uuid.uuid4().hex[:6].upper()
    codes = {k: f"{k}{tag}" for k in STATIONS}
    now = datetime.now(UTC)
    vehicles = [[f"V{tag}{p}{i:02d}" for i in range(SCALE.vehicles_per_phase)] for p in range(phases)]
    shipments: list[ShipmentPlan] = []
    n = 0
    for group in vehicles:
        for vehicle in group:
            for j in range(SCALE.shipments_per_vehicle):
                n += 1
                no = f"CH{tag}{n:05d}"
                arrive = j == 0  # one direct, arrived shipment per vehicle
                if arrive:
                    destination, via, late = "HZ", (), False
                else:
                    destination, via = rng.choice(ROUTES)
                    late = rng.random() < 0.4
                eta = expected_eta(now, START, via, destination)
                promised = eta - LATE_MARGIN if late else eta + ON_TIME_MARGIN
                digits = f"{abs(hash((tag, n))) % 10**8:08d}"
                shipments.append(ShipmentPlan(
                    waybill=no, vehicle=vehicle, destination=destination, via=via, promised_at=promised,
                    late=late, receipt_required=arrive or rng.random() < 0.7, arrive=arrive,
                    shipper_phone=f"138{digits}", shipper_email=f"s{no.lower()}@shipper.example.com",
                    consignee_phone=f"139{digits}", consignee_email=f"c{no.lower()}@consignee.example.com"))
    # phones must be unique per shipment for the per-recipient count; re-draw on a clash
    seen: set[str] = set()
    for i, s in enumerate(shipments):
        while s.shipper_phone in seen:
            d = f"{rng.randrange(10**8):08d}"
            s.shipper_phone, s.consignee_phone = f"138{d}", f"139{d}"
        seen.add(s.shipper_phone)
        shipments[i] = s
    return Plan(tag=tag, codes=codes, carrier=f"CARR{tag}", phases=vehicles, shipments=shipments)


# --- the driver: HTTP writes that survive 503 and restarts ---------------------------------

class WriteFailed(AssertionError):
    pass


@dataclass
class Driver:
    stack: stackmod.Stack
    infra: Infra
    plan: Plan
    tracking_urls: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    unavailable_without_retry_after: int = 0
    connect_errors: int = 0
    writes: int = 0

    def __post_init__(self) -> None:
        if not self.tracking_urls:
            self.tracking_urls = [self.stack.url("tracking")]
        self.admin = self.infra.headers("admin")
        self.carrier = self.infra.headers("carrier", carrier=self.plan.carrier)
        self.branch = self.infra.headers("branch", branch=self.plan.codes["SH"])
        self.client = httpx.AsyncClient(timeout=15)
        self.sem = asyncio.Semaphore(SCALE.concurrency)
        self._rr = 0

    async def aclose(self) -> None:
        await self.client.aclose()

    def _tracking(self) -> str:
        self._rr += 1
        return self.tracking_urls[self._rr % len(self.tracking_urls)]

    async def write(self, method: str, path: str, body: Any, headers: dict[str, str], *,
                    ok: tuple[int, ...] = (200, 201, 202), ok_on_retry: tuple[int, ...] = (409,),
                    deadline_s: float = 90.0) -> httpx.Response:
        """One logical write: retried on 503 (honouring Retry-After, capped), on a refused
        connection (a restarting service) and on 500 (counted: a 500 is a bug)."""
        deadline = time.monotonic() + deadline_s
        attempt = 0
        async with self.sem:
            while True:
                attempt += 1
                url = self._tracking() + path
                try:
                    r = await self.client.request(method, url, json=body, headers=headers)
                except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.ReadTimeout,
                        httpx.WriteError, httpx.PoolTimeout, httpx.ConnectTimeout) as exc:
                    self.connect_errors += 1
                    if time.monotonic() > deadline:
                        raise WriteFailed(f"{method} {path}: {exc!r}") from exc
                    # The driver is the system's client, and a client backs off before it asks
                    # again: part of the traffic the faults hit, not a wait for an outcome.
                    await asyncio.sleep(0.3)
                    continue
                self.statuses[r.status_code] += 1
                if r.status_code in ok or (attempt > 1 and r.status_code in ok_on_retry):
                    self.writes += 1
                    return r
                if r.status_code in (500, 502, 503, 504) and time.monotonic() < deadline:
                    pause = 0.3
                    if r.status_code == 503:
                        retry_after = r.headers.get("retry-after")
                        if retry_after is None:
                            self.unavailable_without_retry_after += 1
                        else:
                            with contextlib.suppress(ValueError):
                                pause = min(max(float(retry_after), 0.1), 2.0)
                    # Honouring Retry-After (capped) is the client behaviour the 503s are for:
                    # the pause is what is exercised, not a wait for an outcome.
                    await asyncio.sleep(pause)
                    continue
                raise WriteFailed(f"{method} {path} → {r.status_code}: {r.text[:500]}")

    async def setup_network(self) -> None:
        for key, (city, region, lat, lon) in STATIONS.items():
            await self.write("PUT", f"/v1/stations/{self.plan.codes[key]}", {
                "name": f"{city}站", "city": city, "region": region, "lat": lat, "lon": lon,
                "contact_phone": "02100000000", "contact_email": f"{key.lower()}@station.example.com"}, self.admin)
        await asyncio.gather(*(self.write("PUT", f"/v1/vehicles/{v}", {
            "plate": f"沪A{i:05d}", "carrier": self.plan.carrier, "driver_name": "王师傅",
            "driver_phone": "13700000000", "device_id": f"D{v}"}, self.admin)
            for group in self.plan.phases for i, v in enumerate(group)))

    def _shipment_body(self, s: ShipmentPlan) -> dict[str, Any]:
        c = self.plan.codes
        return {
            "waybill_no": s.waybill, "origin": c["SH"], "destination": c[s.destination],
            "via": [c[v] for v in s.via],
            "shipper": {"customer_id": f"C{s.waybill}", "name": "无锡精工", "phone": s.shipper_phone,
                        "email": s.shipper_email},
            "consignee": {"name": "杨民敬", "phone": s.consignee_phone, "email": s.consignee_email,
                          "company": None},
            "cargo": {"description": "轴承", "pieces": 2, "weight_kg": 20.5, "volume_m3": 0.2, "dangerous": False,
                      "fragile": False, "keep_upright": False, "moisture_sensitive": False},
            "promised_at": s.promised_at.isoformat(), "payment": "prepaid",
            "receipt": {"required": s.receipt_required, "signature": True, "stamp": False,
                        "id_number": s.receipt_required, "copies": 1},
        }

    async def load_vehicle(self, vehicle: str) -> None:
        """Register, depart (and for some, arrive) every shipment on one vehicle."""
        now = datetime.now(UTC)
        ships = self.plan.on(vehicle)
        await asyncio.gather(*(self.write("POST", "/v1/shipments", self._shipment_body(s), self.branch,
                                          ok=(201,)) for s in ships))
        c = self.plan.codes

        async def depart(s: ShipmentPlan) -> None:
            at = now - (timedelta(hours=4) if s.arrive else timedelta(minutes=10))
            await self.write("POST", f"/v1/shipments/{s.waybill}/scans", {
                "type": "departed", "station": c["SH"], "at": at.isoformat(), "vehicle_id": vehicle,
                "pieces": 2}, self.admin)
            if s.arrive:
                await self.write("POST", f"/v1/shipments/{s.waybill}/scans", {
                    "type": "arrived", "station": c[s.destination], "at": (now - timedelta(minutes=5)).isoformat(),
                    "vehicle_id": vehicle, "pieces": 2}, self.admin)
        await asyncio.gather(*(depart(s) for s in ships))

    async def push_positions(self, vehicles: Iterable[str]) -> None:
        now = datetime.now(UTC)
        positions = []
        for v in vehicles:
            for back_s in (60, 0):
                positions.append({"vehicle_id": v, "at": (now - timedelta(seconds=back_s)).isoformat(),
                                  "lat": START[0], "lon": START[1], "speed_kmh": SPEED_KMH, "heading": 280.0})
        for i in range(0, len(positions), 1000):
            await self.write("POST", "/v1/positions", {"positions": positions[i:i + 1000]}, self.carrier)

    async def run_phase(self, phase: int) -> None:
        vehicles = self.plan.phases[phase]
        await asyncio.gather(*(self.load_vehicle(v) for v in vehicles))
        await self.push_positions(vehicles)


# --- the faults -----------------------------------------------------------------------------

def rabbitmqctl(*args: str, timeout: float = 90) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=timeout)


@contextlib.asynccontextmanager
async def broker_stopped() -> Any:
    """`rabbitmqctl stop_app` … `start_app`; the broker is started again whatever happens."""
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        yield
    finally:
        await asyncio.to_thread(ensure_broker_running)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def ensure_broker_running() -> None:
    if port_open(5672):
        return

    def started() -> bool:  # start_app, then wait until the broker says it has started
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup", timeout=120)
        return True
    try:
        eventually_sync(started, timeout=240, retry_on=(subprocess.SubprocessError,), what="RabbitMQ started")
    except NotYet:
        rabbitmqctl("start_app")  # a last try, which raises what went wrong


def pg_cluster() -> tuple[str, str]:
    versions = sorted((p.name for p in Path("/etc/postgresql").iterdir() if p.name.isdigit()), key=int)
    version = versions[-1]
    clusters = sorted(p.name for p in (Path("/etc/postgresql") / version).iterdir() if p.is_dir())
    return version, ("main" if "main" in clusters else clusters[0])


def pg_ctlcluster(action: str, *extra: str) -> None:
    version, cluster = pg_cluster()
    exe = shutil.which("pg_ctlcluster") or "/usr/bin/pg_ctlcluster"
    subprocess.run([exe, "--skip-systemctl-redirect", version, cluster, action, *extra], check=True,
                   capture_output=True, timeout=90)


def pg_running() -> bool:
    version, cluster = pg_cluster()
    r = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30, check=False)
    for line in r.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[0] == version and cols[1] == cluster:
            return cols[3] == "online"
    return False


def ensure_pg_running() -> None:
    def up() -> bool:
        if port_open(5432) or pg_running():
            return True
        with contextlib.suppress(subprocess.SubprocessError):
            pg_ctlcluster("start")
        return port_open(5432) or pg_running()
    with contextlib.suppress(NotYet):  # as before: whoever needs it next reports it down
        eventually_sync(up, timeout=30, what="PostgreSQL up")


@contextlib.asynccontextmanager
async def database_stopped() -> Any:
    """Stop the PostgreSQL cluster (fast mode) and start it again whatever happens."""
    await asyncio.to_thread(pg_ctlcluster, "stop", "-m", "fast")
    try:
        yield
    finally:
        await asyncio.to_thread(ensure_pg_running)


async def set_sinks(stack: stackmod.Stack, **modes: str) -> None:
    async with httpx.AsyncClient(timeout=10) as c:
        r = await c.put(f"{stack.url('sinks')}/control", json=modes)
        r.raise_for_status()


# --- observation ----------------------------------------------------------------------------

def _is_delay_text(text: str) -> bool:
    return "延误" in text or "delayed" in text.lower()


@dataclass
class Observation:
    notices: dict[tuple[str, str, str], list[str]]  # (waybill, channel, to) -> idempotency keys received
    lost: list[tuple[str, str, str]]
    duplicated: int  # extra notices under a *different* idempotency key: two logical sends
    resent: int  # the same notice (same idempotency key) delivered again: the provider-boundary window
    unexpected: list[tuple[str, str, str]]
    receipts_missing: list[str]
    receipts_wrong: list[str]
    audit_problems: list[str]
    outbox_unsent: dict[str, int]
    queues_nonempty: dict[str, int]

    @property
    def converged(self) -> bool:
        return not (self.lost or self.receipts_missing or self.receipts_wrong or self.audit_problems
                    or any(self.outbox_unsent.values()) or any(self.queues_nonempty.values()))

    def summary(self) -> str:
        resent = [k for k, keys in self.notices.items() if len(keys) > 1]
        return (f"lost={self.lost[:10]} (n={len(self.lost)}) duplicated={self.duplicated} "
                f"resent={self.resent} {resent[:5]} "
                f"unexpected={self.unexpected[:10]} receipts_missing={self.receipts_missing[:10]} "
                f"receipts_wrong={self.receipts_wrong[:5]} audit={self.audit_problems[:5]} "
                f"outbox_unsent={self.outbox_unsent} queues={self.queues_nonempty}")


@dataclass
class Checker:
    stack: stackmod.Stack
    infra: Infra
    plan: Plan
    services: tuple[str, ...] = SERVICES
    check_audit: bool = True

    async def sink_notices(self, client: httpx.AsyncClient) -> dict[tuple[str, str, str], list[str]]:
        """(waybill, channel, to) -> the idempotency key of every delay message received."""
        ours = {s.waybill for s in self.plan.shipments}
        got: dict[tuple[str, str, str], list[str]] = {}
        sinks = self.stack.url("sinks")
        for e in (await client.get(f"{sinks}/emails")).json():
            subject = e.get("subject") or ""
            subject_text = f"{subject}\n{e.get('text') or ''}"
            for no in ours:
                if no in subject_text and _is_delay_text(subject or subject_text):
                    for to in e.get("to") or []:
                        key = e.get("idempotency_key") or f"no-key-{e.get('id')}"
                        got.setdefault((no, "email", str(to).lower()), []).append(key)
        for path in ("/sms", "/fallback/sms"):
            for m in (await client.get(f"{sinks}{path}")).json():
                text = m.get("text") or ""
                if not _is_delay_text(text):
                    continue
                for no in ours:
                    if no in text:
                        key = m.get("idempotency_key") or f"no-key-{path}-{m.get('id')}"
                        got.setdefault((no, "sms", str(m.get("to"))), []).append(key)
        return got

    async def receipts(self, client: httpx.AsyncClient) -> tuple[list[str], list[str]]:
        missing: list[str] = []
        wrong: list[str] = []
        admin = self.infra.headers("admin")
        sem = asyncio.Semaphore(16)

        async def one(s: ShipmentPlan) -> None:
            async with sem:
                r = await client.get(f"{self.stack.url('receipts')}/v1/receipts/{s.waybill}", headers=admin)
            if r.status_code == 404:
                missing.append(s.waybill)
                return
            if r.status_code != 200:
                wrong.append(f"{s.waybill}: HTTP {r.status_code}")
                return
            body = r.json()
            if body.get("required") is not True:
                wrong.append(f"{s.waybill}: required={body.get('required')}")
            if s.arrive:
                due, arrived = body.get("due_at"), body.get("arrived_at")
                if not due or not arrived:
                    missing.append(f"{s.waybill} (no due_at yet)")
                    return
                delta = datetime.fromisoformat(due) - datetime.fromisoformat(arrived)
                if not timedelta(days=10) <= delta < timedelta(days=11):
                    wrong.append(f"{s.waybill}: due_at {due} is not arrived_at {arrived} + 10 days")
        await asyncio.gather(*(one(s) for s in self.plan.shipments if s.receipt_required))
        return missing, wrong

    async def audit(self, client: httpx.AsyncClient) -> list[str]:
        problems: list[str] = []
        admin = self.infra.headers("admin")
        sem = asyncio.Semaphore(16)
        sample = self.plan.late + [s for s in self.plan.shipments if not s.late][:5]

        async def one(s: ShipmentPlan) -> None:
            async with sem:
                r = await client.get(f"{self.stack.url('notifier')}/v1/notifications",
                                     params={"waybill_no": s.waybill, "limit": 100}, headers=admin)
            if r.status_code != 200:
                problems.append(f"{s.waybill}: audit HTTP {r.status_code}")
                return
            rows = [n for n in r.json().get("items", []) if str(n.get("template", "")).startswith("delayed")]
            want = 4 if s.late else 0
            sent = [n for n in rows if n.get("status") == "sent"]
            if len(rows) != want or len(sent) != want:
                problems.append(f"{s.waybill}: {len(rows)} delay audit rows ({len(sent)} sent), want {want}")
        await asyncio.gather(*(one(s) for s in sample))
        return problems

    async def outbox(self) -> dict[str, int]:
        conn = await asyncpg.connect(self.infra.database_url, timeout=10)
        try:
            out = {}
            for schema in self.services:
                exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.outbox")
                if exists:
                    out[schema] = int(await conn.fetchval(
                        f'SELECT count(*) FROM "{schema}".outbox WHERE sent_at IS NULL'))
            return out
        finally:
            await conn.close()

    async def queue_depths(self, *, include_dlq: bool = False) -> dict[str, int]:
        names = []
        for svc in self.services:
            names += [svc, *(f"{svc}.retry.{n}" for n in range(1, RETRY_LEVELS + 1))]
            if include_dlq:
                names.append(f"{svc}.dlq")
        return {k: v for k, v in (await queue_depths(self.infra.amqp_url, names)).items() if v}

    async def observe(self) -> Observation:
        async with httpx.AsyncClient(timeout=15) as client:
            notices = await self.sink_notices(client)
            missing, wrong = await self.receipts(client)
            audit = await self.audit(client) if self.check_audit else []
        expected = {(s.waybill, ch, to.lower() if ch == "email" else to)
                    for s in self.plan.shipments for ch, to in s.expected_notices()}
        lost = sorted(k for k in expected if not notices.get(k))
        duplicated = sum(len(set(keys)) - 1 for k, keys in notices.items() if k in expected and keys)
        resent = sum(len(keys) - len(set(keys)) for k, keys in notices.items() if k in expected)
        unexpected = sorted(k for k in notices if k not in expected)
        return Observation(notices=notices, lost=lost, duplicated=duplicated, resent=resent, unexpected=unexpected,
                           receipts_missing=missing, receipts_wrong=wrong, audit_problems=audit,
                           outbox_unsent=await self.outbox(), queues_nonempty=await self.queue_depths())

    async def wait_converged(self, timeout: float = SCALE.converge_timeout) -> tuple[Observation, float]:
        """Poll until every expected effect is there and everything is drained (returns the
        observation and how long that took, for the report). A late duplicate would show up
        after that: so then wait for the stack to go quiet (everything on its way handled and
        sent, see tests.support.quiet) and observe once more."""
        started = time.monotonic()
        last = [await self.observe()]

        async def converged() -> Observation | None:
            if TRACE:
                print(f"[{time.monotonic() - started:5.1f}s] waiting: {last[0].summary()}", flush=True)
            with contextlib.suppress(httpx.HTTPError, OSError, asyncpg.PostgresError):
                last[0] = await self.observe()
            return last[0] if last[0].converged else None
        with contextlib.suppress(NotYet):
            await eventually(converged, timeout=timeout, what="the stream converged")
        took = time.monotonic() - started
        obs = last[0]
        if obs.converged:
            await quiesce(self.infra, self.services)
            obs = await self.observe()
        return obs, took

    async def inbox_count(self, schema: str) -> int:
        """Events `schema`'s consumer has handled (its inbox rows)."""
        conn = await asyncpg.connect(self.infra.database_url, timeout=10)
        try:
            return int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".inbox'))
        finally:
            await conn.close()


# --- the stack of the fault suite -------------------------------------------------------------

def new_infra() -> Infra:
    run_id = f"lcs_test_{int(time.time())}_{uuid.uuid4().hex[:8]}"
    run_sync(stackmod.create_database(ADMIN_DB_URL, run_id))
    stackmod.create_vhost(run_id)
    return Infra(run_id=run_id, database_url=stackmod.with_database(ADMIN_DB_URL, run_id),
                 amqp_url=stackmod.with_vhost(ADMIN_AMQP_URL, run_id),
                 auth_secret=secrets.token_urlsafe(48), id_hash_key=secrets.token_urlsafe(48))


def drop_infra(infra: Infra) -> None:
    ensure_pg_running()
    with contextlib.suppress(Exception):
        run_sync(stackmod.drop_database(ADMIN_DB_URL, infra.run_id))
    stackmod.delete_vhost(infra.run_id)


def start_stack(infra: Infra, log_dir: Path) -> stackmod.Stack:
    s = stackmod.Stack.with_free_ports(infra.env(**CHAOS_ENV), log_dir)
    s.start(SERVICES)
    return s


def heal(stack: stackmod.Stack) -> None:
    """Whatever a scenario did: broker and database up, sinks healthy, every process running."""
    ensure_broker_running()
    ensure_pg_running()
    with contextlib.suppress(httpx.HTTPError):
        httpx.put(f"{stack.url('sinks')}/control", json={"sms": "ok", "fallback": "ok", "smtp": "ok"}, timeout=10)
    for key, proc in list(stack.procs.items()):
        if not proc.running:
            proc.stop(5)
            stack.start_proc(key)


# --- results ----------------------------------------------------------------------------------

@dataclass
class Result:
    scenario: str
    events: int
    lost: int
    duplicated: int
    resent: int
    unexpected: int
    recovery_s: float
    note: str = ""


RESULTS: list[Result] = []


def record(scenario: str, plan: Plan, obs: Observation, recovery_s: float, note: str = "") -> Result:
    events = sum(len(s.expected_notices()) for s in plan.shipments) + \
        sum(1 for s in plan.shipments if s.receipt_required)
    lost = len(obs.lost) + len(obs.receipts_missing)
    result = Result(scenario, events, lost, obs.duplicated, obs.resent, len(obs.unexpected), round(recovery_s, 1),
                    note)
    RESULTS.append(result)
    return result


def assert_clean(obs: Observation, driver: Driver | None = None, *, max_resent: int = 0) -> None:
    """`max_resent` > 0 only where a sender dies between the provider's acceptance and
    recording it (SIGKILL of the notifier): the same message, same idempotency key, again."""
    assert obs.converged, obs.summary()
    assert obs.duplicated == 0, obs.summary()
    assert obs.resent <= max_resent, obs.summary()
    assert not obs.unexpected, obs.summary()
    if driver is not None:
        assert driver.statuses.get(500, 0) == 0, f"HTTP 500 answered {driver.statuses[500]} times: {driver.statuses}"
        assert driver.unavailable_without_retry_after == 0, "503 without Retry-After"

