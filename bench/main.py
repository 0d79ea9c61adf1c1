"""`python -m bench`: start the real stack on its own database and vhost, measure the ceilings
and the figures of issue 9 (1-6) and issue 24 (7 live desk, 8 desk pages at scale, 9 public
tracking page: the web service) in the same run, and rewrite docs/BENCHMARKS.md.

Every figure is the median of LCS_BENCH_RUNS runs (default 3); sizes follow LCS_BENCH_SCALE
(tiny | normal | large; default large, the issue's 1,000,000 shipments, 1,000,000 receipts and
20,000,000 positions for figure 5 — about 10 minutes in all; normal is 10× smaller).
Load goes to loopback only, every loop is bounded by a deadline, and
processes, the database and the vhost are removed in `finally` blocks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import desk, live, machine, profiling, scale, world
from bench.report import render
from shared.auth import issue_token
from shared.devtools import stack as stackmod
from shared.events import (
    Cargo,
    Consignee,
    ReceiptRequirements,
    ShipmentRegistered,
    Shipper,
    StationRef,
    make_envelope,
)
from shared.outbox import NOTIFY_CHANNEL_PREFIX

ROOT = Path(__file__).resolve().parents[1]
ADMIN_DB_URL = os.environ.get("LCS_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_AMQP_URL = os.environ.get("LCS_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
BATCH = 500                 # positions per POST /v1/positions (the issue's figure 1)
# a service's second process (Stack instance name), for the rows measured with two replicas:
# figure 1's and /osmand's second tracking, the public page's second web
REPLICAS = {"tracking": "tracking-2", "web": "web-2"}
# issue 24's bars (issue 9's were 0.4 / 0.5 / 0.5): own share, whole fleet, /osmand, the event pipeline
TARGETS = {"batch": 0.6, "batch_fleet": 0.4, "batch_2r": 0.6, "batch_fleet_2r": 0.4, "osmand": 0.8, "osmand_2r": 0.8,
           "pipeline": 0.7, "track_2r": 0.3,
           "p99_ms": 250.0, "scale": 2.0,
           "live_p99_ms": 1000.0, "live_kib_per_stream": 50.0, "page_p95_ms": 300.0, "track": 0.3,
           "track_p99_ms": 50.0}
# --only: figure letters, or these names (comma-separated)
FIGURE_NAMES = {"ceilings": "123", "batch": "1", "osmand": "2", "pipeline": "3", "latency": "4", "scale": "5",
                "profiles": "p", "live": "L", "desk": "D", "track": "T"}
ALL_FIGURES = "12345pLDT"


@dataclass(frozen=True)
class Config:
    duration: float          # seconds counted per load run
    warmup: float            # seconds of each load run not counted
    conns: int               # HTTP connections for C2 and /osmand (one device each)
    batch_conns: int         # connections posting batches (C1 uses as many COPY connections)
    vehicles_per_conn: int   # a quarter of issue 24's fleet of 200 at its sizes: figure 1b posts all of them
    pipeline_n: int          # events per pipeline run (as many as C3 moves: both pay the same start and drain)
    c3_n: int                # messages per C3 run
    latency_samples: int
    latency_interval: float  # seconds between latency samples
    reps: int                # repetitions per scale query
    profile: bool
    pool_max: int            # LCS_POOL_MAX_SIZE of each service (the services' default is 10)
    live_streams: int = 500  # "Live desk": open /desk/events streams on the one web worker
    live_users: int = 10     # desk accounts the streams' sessions belong to
    live_sessions: int = 50  # sessions (sign-ins) the streams share, like tabs: argon2 makes a sign-in cost
    live_samples: int = 10   # delays fanned out, one after the other
    page_reps: int = 20      # "Desk pages at scale": timed renders of each page at each size
    desk_delayed: int = 1_000    # the desk's live part at both sizes (issue 24): delayed shipments,
    desk_complaints: int = 500   # open complaints,
    desk_at_risk: int = 2_000    # receipts due within three days
    # the desk pages whose indexes are read at the big size (bench.desk.PAGES keys; 12 s of waiting each)
    desk_attributed: tuple[str, ...] = tuple(desk.PAGES)


CONFIGS = {
    "tiny": Config(1.5, 0.5, 8, 2, 5, 200, 1000, 4, 0.2, 3, False, 4, live_streams=20, live_users=2, live_sessions=4,
                   live_samples=2, page_reps=3, desk_delayed=50, desk_complaints=10, desk_at_risk=100,
                   desk_attributed=("waybill",)),
    "normal": Config(8.0, 1.5, 32, 4, 50, 5000, 5000, 40, 0.25, 15, True, 10),
    "large": Config(8.0, 1.5, 32, 4, 50, 5000, 5000, 40, 0.25, 15, True, 10),
}


@dataclass
class Results:
    scale: str
    runs: int
    cfg: Config
    machine: dict[str, str] = field(default_factory=dict)
    values: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    rss: dict[str, dict[str, int]] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    scale_rows: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    live: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, Any] = field(default_factory=dict)
    track: dict[str, Any] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.values.setdefault(key, []).append(value)

    def median(self, key: str) -> float | None:
        v = self.values.get(key)
        return statistics.median(v) if v else None


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- memory -----------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int | str) -> float:
    """User + system CPU seconds of a process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_seconds(service_pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each service, of all PostgreSQL processes and of RabbitMQ (the
    server processes of the machine; backends that ended between two readings are missed)."""
    out = {name: _cpu_of(pid) for name, pid in service_pids.items()}
    servers = {"postgres": 0.0, "rabbitmq": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                comm = f.read().strip()
        except OSError:
            continue
        if comm == "postgres":
            servers["postgres"] += _cpu_of(entry)
        elif comm == "beam.smp":
            servers["rabbitmq"] += _cpu_of(entry)
    return {**out, **servers}


class RssSampler:
    """Peak VmRSS per service while `phase` is set (a thread: it never waits on our event loop)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.phase: str | None = None
        self.peaks: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            phase = self.phase
            if phase is None:
                continue
            for name, pid in self.pids.items():
                kib = rss_kib(pid)
                if kib is not None:
                    bucket = self.peaks.setdefault(name, {})
                    bucket[phase] = max(bucket.get(phase, 0), kib)

    def snapshot(self, phase: str) -> None:
        for name, pid in self.pids.items():
            kib = rss_kib(pid)
            if kib is not None:
                self.peaks.setdefault(name, {})[phase] = kib

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(2)


async def connect(url: str) -> asyncpg.Connection:
    """The PostgreSQL server is shared with other engineers' test runs: when it is out of
    connection slots or restarting for a moment, wait and try again (bounded)."""
    for attempt in range(20):
        try:
            return await asyncpg.connect(url)
        except (asyncpg.TooManyConnectionsError, asyncpg.CannotConnectNowError, OSError):
            if attempt == 19:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def reopen(conn: asyncpg.Connection, url: str) -> asyncpg.Connection:
    """A new connection if the old one was closed under us (the shared server gets restarted
    by other engineers' fault tests now and then)."""
    if not conn.is_closed():
        try:
            await conn.fetchval("SELECT 1")
            return conn
        except (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError):
            pass
    log("database connection lost; reconnecting")
    return await connect(url)


# --- the load generator process ---------------------------------------------------------


async def run_load(spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / f"load-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(spec))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bench.load", str(path), cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    limit = float(spec["duration"]) + float(spec.get("warmup", 1)) + 60
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def http_spec(port: int, mode: str, cfg: Config, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "mode": mode, "connections": cfg.conns, "duration": cfg.duration,
            "warmup": cfg.warmup, **extra}


# --- the bench ---------------------------------------------------------------------------


class Bench:
    def __init__(self, cfg: Config, runs: int, scale_name: str, stack: stackmod.Stack, db_url: str,
                 amqp_url: str, secret: str, tmp: Path, results: Results) -> None:
        self.cfg = cfg
        self.runs = runs
        self.scale_name = scale_name
        self.stack = stack
        self.db_url = db_url
        self.amqp_url = amqp_url
        self.tmp = tmp
        self.r = results
        self.wanted = "12345p"
        self.pids: dict[str, int] = {}
        self.admin = {"Authorization": f"Bearer {issue_token(secret, sub='bench', role='admin', ttl_seconds=86400)}"}
        self.carrier = {"Authorization": "Bearer " + issue_token(secret, sub="bench-carrier", role="carrier",
                                                                 carrier=world.CARRIER, ttl_seconds=86400)}
        self.t_ref = datetime.now(UTC)
        # Fix times: every load run's fixes follow the previous run's newest (see `next_base`). The
        # history must hold them all, after the shipments departed and before now: a batch run of
        # figure 1 takes about 1-3 hours of feed time at this machine's rates (four of them per run: two
        # shapes, one and two tracking replicas), an /osmand run under one. A batch carries
        # BATCH // vehicles_per_conn seconds of each vehicle's feed (10 at the issue's sizes, 100 at
        # the tiny one, whose few vehicles then use ten times the feed), so the history grows with it.
        self.history_hours = (16 * runs + 8) * max(1, BATCH // cfg.vehicles_per_conn // 10)
        self.feed_cursor = self.t_ref - timedelta(hours=self.history_hours)
        self.world = world.World()
        self.sampler: RssSampler | None = None
        self.web_sampler: RssSampler | None = None

    def next_base(self) -> datetime:
        """The first fix time of the next load run: after every fix an earlier run sent (`load`
        moves the cursor past them), so every fix is new and advances its vehicle, and no run
        repeats an earlier run's fixes (a repeated fix is a duplicate, which ingest stores once
        on a slower path: the figure would measure that path and skip the evaluation)."""
        if self.feed_cursor > self.t_ref - timedelta(minutes=30):
            raise RuntimeError("the bench ran out of fix history: raise Bench.history_hours")
        return self.feed_cursor

    async def load(self, spec: dict[str, Any]) -> dict[str, Any]:
        """`run_load`, then the feed cursor moved past the newest fix the run sent (the load
        generator reports how far into the feed its connections went)."""
        res = await run_load(spec, self.tmp)
        start = spec.get("start_epoch")
        if start is None and "start_epoch_ms" in spec:
            start = spec["start_epoch_ms"] / 1000
        if start is not None:
            newest = datetime.fromtimestamp(start, UTC) + timedelta(seconds=res.get("feed_seconds", 0))
            self.feed_cursor = max(self.feed_cursor, newest + timedelta(minutes=1))
        return res

    async def quiesce(self, conn: asyncpg.Connection, timeout: float = 90) -> None:
        """Until tracking's outbox is sent, the consumers' inboxes stop growing and the notifier
        has sent what is due (what a figure left behind must not be counted in the next one)."""
        deadline = time.monotonic() + timeout
        last = None
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            unsent = await conn.fetchval("SELECT count(*) FROM tracking.outbox WHERE sent_at IS NULL")
            unsent += await conn.fetchval("SELECT count(*) FROM notifier.notifications "
                                          "WHERE status = 'queued' AND next_attempt_at <= now()")
            counts = tuple([await conn.fetchval(f"SELECT count(*) FROM {s}.inbox")
                            for s in ("receipts", "complaints", "notifier")])
            if counts != last or unsent:
                last, stable_since = counts, time.monotonic()
            elif time.monotonic() - stable_since > 1.5:
                break
            await asyncio.sleep(0.25)
        else:
            self.r.errors.append("the consumers did not go quiet within the time limit")
            return
        # PostgreSQL's own after-work: the WAL a figure wrote is flushed now, not during the next
        # one, and autovacuum (started by a figure's millions of rows) is let finish
        await conn.execute("CHECKPOINT")
        while time.monotonic() < deadline:
            if not await conn.fetchval("SELECT count(*) FROM pg_stat_activity "
                                       "WHERE backend_type = 'autovacuum worker' AND datname = current_database()"):
                return
            await asyncio.sleep(0.25)
        self.r.errors.append("autovacuum did not finish within the time limit")

    async def settle(self) -> None:
        """`quiesce` on a connection of its own, before each ceiling and figure."""
        conn = await connect(self.db_url)
        try:
            await self.quiesce(conn)
        finally:
            await conn.close()

    # --- ceilings ---

    async def c1_copy(self, conn: asyncpg.Connection) -> None:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS bench_ceiling")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_ceiling.positions (LIKE tracking.positions INCLUDING ALL)")
        cols = ("vehicle_id", "at", "lat", "lon", "speed_kmh", "heading", "altitude", "accuracy", "battery")
        start = self.t_ref - timedelta(days=2)
        for run in range(self.runs):
            await conn.execute("TRUNCATE bench_ceiling.positions")
            conns = [await connect(self.db_url) for _ in range(self.cfg.batch_conns)]
            counted = [0]
            t_count = time.perf_counter() + self.cfg.warmup
            t_end = t_count + self.cfg.duration
            cpu, client = self.cpu_mark(), _cpu_of(os.getpid())
            try:
                written = await asyncio.gather(*(self._copy_worker(i, c, t_count, t_end, counted, start, cols)
                                                 for i, c in enumerate(conns)))
                # its cost per row beside the figures' (the CPU table), read while the backends live (an
                # ended backend's CPU is not counted); the client is this process
                self.cpu_add("C1 raw COPY, per row", cpu, sum(written), client=_cpu_of(os.getpid()) - client)
            finally:
                for c in conns:
                    await c.close()
            self.r.add("c1", counted[0] / self.cfg.duration)
            log(f"C1 run {run + 1}: {counted[0] / self.cfg.duration:,.0f} rows/s")
        await conn.execute("DROP SCHEMA bench_ceiling CASCADE")

    async def _copy_worker(self, i: int, c: asyncpg.Connection, t_count: float, t_end: float, counted: list[int],
                           start: datetime, cols: tuple[str, ...]) -> int:
        """COPY 500-row batches as fast as the server takes them; returns the rows written. The rows
        are cheap to build (shared time objects, a new vehicle id per batch), so this measures COPY,
        not Python."""
        n = 0
        k_vehicles = self.cfg.vehicles_per_conn
        per_vehicle = BATCH // k_vehicles
        times = [start + timedelta(seconds=j) for j in range(per_vehicle)]
        while time.perf_counter() < t_end:
            vehicles = [f"CV{i:02d}{n:06d}{v:03d}" for v in range(k_vehicles)]
            records = [(vehicles[k % k_vehicles], times[k // k_vehicles], 31.25, 121.40, 60.0, 280.0, None, None,
                        None) for k in range(per_vehicle * k_vehicles)]
            await c.copy_records_to_table("positions", schema_name="bench_ceiling", records=records, columns=cols)
            n += 1
            done = time.perf_counter()
            if t_count <= done <= t_end:
                counted[0] += len(records)
        return n * per_vehicle * k_vehicles

    async def c2_bare(self) -> None:
        port = stackmod.free_port()
        log_path = self.tmp / "bare.log"
        proc = stackmod.Proc("bare", [sys.executable, "-m", "bench.bare_app", str(port)],
                             {**os.environ, "PYTHONUNBUFFERED": "1"}, port, log_path)
        self.stack.ports["bare"] = port
        self.stack.procs["bare"] = proc
        proc.start()
        try:
            self.stack.wait_http("bare", "/ping", timeout=30)
            for run in range(self.runs):
                res = await run_load(http_spec(port, "get", self.cfg, path="/ping"), self.tmp)
                self._check(res, "C2")
                self.r.add("c2", res["rate"])
                log(f"C2 run {run + 1}: {res['rate']:,.0f} req/s")
        finally:
            proc.stop(10)
            del self.stack.procs["bare"]

    async def c3_amqp(self, body_size: int) -> None:
        for run in range(self.runs):
            for attempt in range(3):
                try:
                    await self._c3_once(run, body_size)
                    break
                except (RuntimeError, TimeoutError, json.JSONDecodeError) as exc:
                    # the shared broker is restarted by other engineers' fault tests now and then
                    log(f"C3 run {run + 1} failed ({exc!r}); retrying")
                    if attempt == 2:
                        self.r.errors.append(f"C3 run {run + 1}: {exc!r}")
                    await asyncio.sleep(5)

    async def _c3_once(self, run: int, body_size: int) -> None:
        queue = f"bench.c3.{uuid.uuid4().hex[:8]}"
        n = self.cfg.c3_n
        consumer = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.amqp_ceiling", "consume", self.amqp_url, queue, str(n), "32",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            assert consumer.stdout is not None
            ready = await asyncio.wait_for(consumer.stdout.readline(), 60)
            if ready.strip() != b"ready":
                raise RuntimeError(f"C3 consumer did not start: {ready!r}")
            publisher = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.amqp_ceiling", "publish", self.amqp_url, queue, str(n), "200",
                str(body_size), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            pub_out, pub_err = await asyncio.wait_for(publisher.communicate(), 300)
            if publisher.returncode != 0:
                raise RuntimeError(f"C3 publisher failed: {pub_err.decode()[-1000:]}")
            con_line = await asyncio.wait_for(consumer.stdout.readline(), 300)
            await asyncio.wait_for(consumer.wait(), 30)
        finally:
            if consumer.returncode is None:
                consumer.kill()
                await consumer.wait()
        first = json.loads(pub_out.decode().strip().splitlines()[-1])["first_publish"]
        last = json.loads(con_line.decode())["last_ack"]
        self.r.add("c3", n / (last - first))
        log(f"C3 run {run + 1}: {n / (last - first):,.0f} msg/s")

    # --- figures ---

    def _check(self, res: dict[str, Any], what: str) -> None:
        if res["errors"] or res.get("connection_failures"):
            self.r.errors.append(f"{what}: {res['errors']} error responses {res['status']} "
                                 f"{res['samples'][:1]} {res.get('connection_failures')}")

    async def _clean_run(self, spec_for: Any, what: str) -> dict[str, Any]:
        """A run with error responses (e.g. 503 while the shared PostgreSQL restarts under another
        engineer's fault test) measures the outage, not the service: it is reported and run
        again, at most twice more, with fresh fix times."""
        res: dict[str, Any] = {}
        for attempt in range(3):
            res = await self.load(spec_for(attempt))
            self._check(res, what + (" (run discarded and repeated)" if attempt < 2 else ""))
            if not res["errors"] and not res.get("connection_failures"):
                break
            log(f"{what}: {res['errors']} error responses {res['status']} {res['samples'][:1]} "
                f"{res.get('connection_failures') or ''}; repeating the run")
            await asyncio.sleep(3)
        return res

    def batch_spec(self, **extra: Any) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.stack.ports["tracking"], "mode": "batches",
                "connections": self.cfg.batch_conns, "duration": self.cfg.duration, "warmup": self.cfg.warmup,
                "headers": self.carrier, "vehicle_groups": self.world.batch_groups, "per_batch": BATCH,
                "start_epoch": self.next_base().timestamp(), **extra}

    def osmand_spec(self, **extra: Any) -> dict[str, Any]:
        return http_spec(self.stack.ports["tracking"], "osmand", self.cfg, devices=self.world.osmand_devices,
                         start_epoch_ms=int(self.next_base().timestamp() * 1000), **extra)

    def cpu_mark(self) -> dict[str, float]:
        t = os.times()  # the load generators are this process's children, reaped after each run
        marks = {**cpu_seconds(self.pids), "load generator": t.children_user + t.children_system}
        for service, instance in REPLICAS.items():  # a service's second process, while it runs: counted as it
            replica = self.stack.procs.get(instance)
            if replica is not None and replica.popen is not None:
                marks[service] = marks.get(service, 0.0) + _cpu_of(replica.popen.pid)
        marks["wall"] = time.perf_counter()  # not a process: the runs' wall clock (the report's "cores busy")
        return marks

    def cpu_add(self, figure: str, before: dict[str, float], units: float, client: float = 0.0) -> None:
        """Add the CPU spent since `before`, the wall clock, and the units of work done, to the figure's
        account; `client`: CPU seconds of a load generator that is not a child process (the bench's own,
        for C1), counted as the load generator's."""
        after = self.cpu_mark()
        after["load generator"] += client
        acc = self.r.cpu.setdefault(figure, {})
        acc["units"] = acc.get("units", 0.0) + units
        for key, value in after.items():
            acc[key] = acc.get(key, 0.0) + max(0.0, value - before.get(key, 0.0))

    def load_units(self, rate: float) -> float:
        return rate * (self.cfg.duration + self.cfg.warmup)  # the warm-up runs at about the same rate

    # Figure 1's two load shapes: each connection posting for its own share of the fleet, and every
    # connection posting fixes of the whole fleet (as a GPS aggregator or a Traccar forwarder does),
    # so concurrent batches carry fixes of the same vehicles. Results key, CPU table row, log label.
    BATCH_SHAPES = (("own", "batch", "1 batch ingest, per position", "own share"),
                    ("whole", "batch_fleet", "1b batch ingest, whole fleet per batch, per position", "whole fleet"))
    REPLICA_SHAPES = (("own", "batch_2r", "1r batch ingest, two tracking replicas, per position",
                       "own share, 2 replicas"),
                      ("whole", "batch_fleet_2r", "1br batch ingest, whole fleet per batch, two tracking replicas, "
                       "per position", "whole fleet, 2 replicas"))

    async def f1_batches(self, replicas: int = 1) -> None:
        """Figure 1's two shapes; with `replicas` 2, again with a second tracking process on a port
        of its own (`REPLICAS`), the connections alternating between the two as a Kubernetes Service
        spreads connections over two pods. Python serves a process's requests on one core, and the
        production overlay runs tracking with 2 to 10 replicas."""
        async with self._processes("tracking", replicas) as ports:
            for run in range(self.runs):
                for fleet, key, cpu_row, label in self.REPLICA_SHAPES if replicas == 2 else self.BATCH_SHAPES:
                    await self.settle()
                    cpu = self.cpu_mark()
                    res = await self._clean_run(
                        lambda attempt, fleet=fleet: self.batch_spec(fleet=fleet, ports=ports), f"figure 1 ({label})")
                    self.cpu_add(cpu_row, cpu, self.load_units(res["rate"] * BATCH))
                    self.r.add(key, res["rate"] * BATCH)
                    self.r.add(f"{key}_p50_ms", res["p50_ms"] or 0)
                    log(f"figure 1 ({label}) run {run + 1}: {res['rate'] * BATCH:,.0f} positions/s "
                        f"({res['rate']:.1f} batches/s, p50 {res['p50_ms'] or 0:.0f} ms)")

    @contextlib.asynccontextmanager
    async def _processes(self, service: str, count: int) -> AsyncIterator[list[int]]:
        """The ports of `count` (1 or 2) processes of the service, for the block: with 2, its second
        process (`REPLICAS`) started and ready before it and stopped after it."""
        ports = [self.stack.ports[service]]
        if count == 1:
            yield ports
            return
        instance = REPLICAS[service]

        def start() -> None:
            self.stack.add_service(service, instance=instance)
            self.stack.start_proc(instance)
        await asyncio.to_thread(start)
        try:
            yield [*ports, self.stack.ports[instance]]
        finally:
            proc = self.stack.procs.pop(instance, None)
            if proc is not None:
                await asyncio.to_thread(proc.stop)

    async def tracking_metrics(self) -> dict[str, float]:
        """The group-commit histograms of /metrics (sums and counts), of every tracking process running."""
        out: dict[str, float] = {}
        for instance in ("tracking", REPLICAS["tracking"]):
            if instance not in self.stack.procs:
                continue
            async with httpx.AsyncClient(base_url=self.stack.url(instance), timeout=10) as http:
                text = (await http.get("/metrics")).text
            for line in text.splitlines():
                name, _, value = line.partition(" ")
                if (name.startswith(("lcs_tracking_osmand_group_size_", "lcs_tracking_osmand_commit_seconds_"))
                        and name.endswith(("_sum", "_count"))) or name == "lcs_tracking_shipments_evaluated_total":
                    out[name] = out.get(name, 0.0) + float(value)
        return out

    async def f2_direct(self) -> None:
        """Not a target: figure 2b, the HTTP layer of a device fix on its own (`bench.direct_app`):
        the same route on the ASGI path and answered by the protocol, run by run in turn, with C2's
        generator; the server's CPU per request, from /proc."""
        for run in range(self.runs):
            for mode in ("asgi", "direct"):
                port = stackmod.free_port()
                proc = stackmod.Proc(f"direct-{mode}", [sys.executable, "-m", "bench.direct_app", str(port), mode],
                                     {**os.environ, "PYTHONUNBUFFERED": "1"}, port, self.tmp / f"direct-{mode}.log")
                self.stack.ports[proc.name] = port
                self.stack.procs[proc.name] = proc
                proc.start()
                query = "/d?id=D000001&timestamp=1780000000000&lat=31.230400&lon=121.473700&speed=18.5"
                try:
                    await asyncio.to_thread(self.stack.wait_http, proc.name, query, 30)
                    assert proc.popen is not None
                    before = _cpu_of(proc.popen.pid)
                    res = await run_load(http_spec(port, "get", self.cfg, path=query), self.tmp)
                    spent = _cpu_of(proc.popen.pid) - before
                finally:
                    proc.stop(10)
                    del self.stack.procs[proc.name]
                self._check(res, f"2b {mode}")
                per_request_us = 1e6 * spent / max(1.0, self.load_units(res["rate"]))
                self.r.add(f"direct_{mode}", res["rate"])
                self.r.add(f"direct_{mode}_us", per_request_us)
                log(f"2b {mode} run {run + 1}: {res['rate']:,.0f} req/s, "
                    f"{per_request_us:.1f} µs of server CPU per request")

    async def f2_livez(self) -> None:
        """Not a target: tracking's `GET /livez` (no database) through the service's whole HTTP stack
        (guard middleware, metrics, routing), with C2's generator — what the shared HTTP layer costs."""
        port = self.stack.ports["tracking"]
        for run in range(self.runs):
            cpu = self.cpu_mark()
            res = await run_load(http_spec(port, "get", self.cfg, path="/livez"), self.tmp)
            self.cpu_add("2a tracking /livez, per request", cpu, self.load_units(res["rate"]))
            self._check(res, "tracking /livez")
            self.r.add("livez", res["rate"])
            log(f"tracking /livez run {run + 1}: {res['rate']:,.0f} req/s")

    async def f2_osmand(self, replicas: int = 1) -> None:
        """Figure 2; with `replicas` 2 (row 2r), with a second tracking process, the connections
        alternating between the two as in rows 1r and 1br."""
        key, cpu_row, label = ("osmand", "2 /osmand, per request", "figure 2") if replicas == 1 else \
            ("osmand_2r", "2r /osmand, two tracking replicas, per request", "figure 2 (2 replicas)")
        async with self._processes("tracking", replicas) as ports:
            for run in range(self.runs):
                await self.settle()
                before = await self.tracking_metrics()
                cpu = self.cpu_mark()
                res = await self._clean_run(lambda attempt: self.osmand_spec(ports=ports), label)
                self.cpu_add(cpu_row, cpu, self.load_units(res["rate"]))
                after = await self.tracking_metrics()
                delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
                groups = delta.get("lcs_tracking_osmand_group_size_count", 0.0)
                if groups:
                    self.r.add(f"{key}_group", delta.get("lcs_tracking_osmand_group_size_sum", 0.0) / groups)
                    self.r.add(f"{key}_commit_ms", 1000 * delta.get("lcs_tracking_osmand_commit_seconds_sum", 0.0)
                               / max(1.0, delta.get("lcs_tracking_osmand_commit_seconds_count", 0.0)))
                requests = groups and delta.get("lcs_tracking_osmand_group_size_sum", 0.0)
                if requests:  # every device carries one shipment: evaluations per fix
                    self.r.add(f"{key}_evaluated",
                               delta.get("lcs_tracking_shipments_evaluated_total", 0.0) / requests)
                self.r.add(key, res["rate"])
                self.r.add(f"{key}_p50_ms", res["p50_ms"] or 0)
                log(f"{label} run {run + 1}: {res['rate']:,.0f} req/s (p50 {res['p50_ms']:.1f} ms; "
                    f"mean group {self.r.median(f'{key}_group') or 0:.1f} fixes, "
                    f"mean commit {self.r.median(f'{key}_commit_ms') or 0:.1f} ms)")

    @staticmethod
    def registered_envelopes(n: int, tag: str) -> list[tuple[uuid.UUID, str, str]]:
        now = datetime.now(UTC)
        station = {"BSH": ("上海站", "上海", "华东"), "BWX": ("无锡站", "无锡", "华东")}
        refs = {code: StationRef(code=code, name=v[0], city=v[1], region=v[2], contact_phone="02100000000",
                                 contact_email=f"{code.lower()}@station.example.com") for code, v in station.items()}
        out = []
        for i in range(n):
            ev = ShipmentRegistered(
                waybill_no=f"P{tag}{i:06d}", origin="BSH", destination="BWX", via=["BNJ"],
                origin_station=refs["BSH"], destination_station=refs["BWX"],
                shipper=Shipper(customer_id="C1", name="无锡精工", phone="13800000000", email="ops@example.com"),
                consignee=Consignee(name="杨民敬", phone="13900000000"),
                cargo=Cargo(description="轴承", pieces=10, weight_kg=120.5),
                promised_at=now + timedelta(days=2), payment="prepaid",
                receipt=ReceiptRequirements(required=True, signature=True, id_number=True, copies=1),
                registered_at=now)
            env = make_envelope(ev, "/lcs/tracking")
            out.append((env.id, env.type, env.to_json().decode()))
        return out

    async def f3_pipeline(self, conn: asyncpg.Connection) -> None:
        n = self.cfg.pipeline_n
        for run in range(self.runs):
            rows = self.registered_envelopes(n, f"{run}{uuid.uuid4().hex[:4].upper()}")
            ids = [r[0] for r in rows]
            cpu = self.cpu_mark()
            async with conn.transaction():
                await conn.execute(
                    "INSERT INTO tracking.outbox (id, type, body) "
                    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])",
                    ids, [r[1] for r in rows], [r[2] for r in rows])
                await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL_PREFIX + "tracking")
            t0 = time.perf_counter()
            done: dict[str, float] = {}
            deadline = t0 + 300
            # Polling must not load the machine it measures: a full count over the run's ids is
            # 1,500 index probes, so it runs only once the last event is in (they arrive about
            # in order); until then one probe per poll.
            while len(done) < 4 and time.perf_counter() < deadline:
                if "relay" not in done and await conn.fetchval(
                        "SELECT sent_at IS NOT NULL FROM tracking.outbox WHERE id = $1", ids[-1]) and not \
                        await conn.fetchval("SELECT count(*) FROM tracking.outbox WHERE id = ANY($1::uuid[]) "
                                            "AND sent_at IS NULL", ids):
                    done["relay"] = time.perf_counter() - t0
                for svc in ("receipts", "complaints", "notifier"):
                    if svc in done or not await conn.fetchval(f"SELECT 1 FROM {svc}.inbox WHERE event_id = $1",
                                                              ids[-1]):
                        continue
                    got = await conn.fetchval(f"SELECT count(*) FROM {svc}.inbox WHERE event_id = ANY($1::uuid[])",
                                              ids)
                    if got >= n:
                        done[svc] = time.perf_counter() - t0
                await asyncio.sleep(0.02)
            if len(done) == 4:
                self.cpu_add("3 event pipeline, per event (relay + three consumers)", cpu, n)
            if "receipts" not in done:
                self.r.errors.append(f"figure 3 run {run + 1}: receipts did not consume {n} events in time")
                continue
            self.r.add("pipeline", n / done["receipts"])
            if "relay" in done:
                self.r.add("pipeline_relay", n / done["relay"])
            if len(done) == 4:
                self.r.add("pipeline_all", n / max(done.values()))
            log(f"figure 3 run {run + 1}: {n / done['receipts']:,.0f} events/s into receipts' inbox; "
                f"relay and all three consumers: {', '.join(f'{k} {n / v:,.0f}/s' for k, v in done.items())}")
        await self.quiesce(conn)

    async def f4_latency(self, conn: asyncpg.Connection, http: httpx.AsyncClient) -> None:
        """Positions that make a shipment late, one every `latency_interval` s, while a paced
        batch load runs in the load generator at 10% of the figure-1 target (capped at half
        of what figure 1 measured, so the service is never saturated by the background)."""
        c1 = self.r.median("c1") or 0.0
        f1 = self.r.median("batch") or 0.0
        bg_positions = min(0.1 * TARGETS["batch"] * c1, 0.5 * f1) if f1 else 0.1 * TARGETS["batch"] * c1
        samples = self.world.latency
        span = len(samples) * self.cfg.latency_interval + 2
        spec = self.batch_spec(duration=span, warmup=0.5, rate=bg_positions / BATCH)
        self.r.latency["background_positions_per_s"] = bg_positions
        bg = asyncio.create_task(self.load(spec))
        sent: dict[str, float] = {}
        try:
            await asyncio.sleep(1.0)
            for vehicle, waybill in samples:
                now = datetime.now(UTC)
                body = {"positions": [{"vehicle_id": vehicle, "at": now.isoformat(), "lat": 31.25, "lon": 121.40,
                                       "speed_kmh": 60.0, "heading": 280.0}]}
                r = await http.post(f"{self.stack.url('tracking')}/v1/positions", json=body, headers=self.carrier)
                t200 = time.time()
                if r.status_code != 200 or r.json().get("events", 0) < 1:
                    self.r.errors.append(f"figure 4: the late position gave {r.status_code} {r.text[:200]}")
                else:
                    sent[waybill] = t200
                await asyncio.sleep(self.cfg.latency_interval)
        finally:
            bg_res = await bg
        self.r.latency["background_achieved_positions_per_s"] = bg_res["rate"] * BATCH
        waybills = list(sent)
        deadline = time.monotonic() + 60
        rows: list[asyncpg.Record] = []
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT waybill_no, count(*) AS n, count(*) FILTER (WHERE status = 'sent') AS sent, "
                "       min(sent_at) AS first, max(sent_at) AS last "
                "FROM notifier.notifications WHERE waybill_no = ANY($1) AND template LIKE 'delayed%' "
                "GROUP BY waybill_no", waybills)
            if len(rows) == len(waybills) and all(r["n"] == r["sent"] for r in rows):
                break
            await asyncio.sleep(0.2)
        stages = await conn.fetch(
            "SELECT o.body::jsonb->>'subject' AS waybill_no, i.received_at AS consumed, "
            "       (SELECT min(n.created_at) FROM notifier.notifications n WHERE n.event_id = o.id) AS decided "
            "FROM tracking.outbox o JOIN notifier.inbox i ON i.event_id = o.id "
            "WHERE o.type = 'tracking.shipment.delayed.v1' AND o.body::jsonb->>'subject' = ANY($1)", waybills)
        by_wb = {r["waybill_no"]: r for r in rows}
        to_consumed = sorted((s["consumed"].timestamp() - sent[s["waybill_no"]]) * 1000 for s in stages)
        to_sent = sorted((by_wb[s["waybill_no"]]["last"].timestamp() - s["consumed"].timestamp()) * 1000
                         for s in stages if s["waybill_no"] in by_wb and by_wb[s["waybill_no"]]["last"])
        first = sorted((r["first"].timestamp() - sent[r["waybill_no"]]) * 1000 for r in rows if r["first"])
        last = sorted((r["last"].timestamp() - sent[r["waybill_no"]]) * 1000
                      for r in rows if r["last"] and r["n"] == r["sent"])
        missing = len(samples) - len(last)
        pct = live.pct
        self.r.latency.update(samples=len(samples), complete=len(last), missing=missing,
                              p50_all=pct(last, 0.5), p99_all=pct(last, 0.99), p50_first=pct(first, 0.5),
                              p99_first=pct(first, 0.99), p50_to_consumed=pct(to_consumed, 0.5),
                              p50_consumed_to_sent=pct(to_sent, 0.5),
                              notices_per_sample=statistics.median([r["n"] for r in rows]) if rows else 0)
        log(f"figure 4: p50 {pct(last, 0.5)} ms, p99 {pct(last, 0.99)} ms over {len(last)} samples "
            f"({missing} without every notice sent)")

    async def profiles(self, conn: asyncpg.Connection) -> None:
        if not self._profiling():
            return
        seconds = max(self.cfg.duration, 4.0)
        pid = {n: p.popen.pid for n, p in self.stack.procs.items() if p.popen is not None}
        jobs = (("batch ingest (tracking)", "tracking", self.batch_spec),
                ("batch ingest, whole fleet per batch (tracking)", "tracking",
                 lambda: self.batch_spec(fleet="whole")),
                ("/osmand (tracking)", "tracking", self.osmand_spec))
        for title, svc, spec_of in jobs:
            out = self.tmp / f"profile-{svc}-{len(self.r.profiles)}.txt"
            spy = await profiling.record(pid[svc], seconds, out)
            res = await self.load({**spec_of(), "duration": seconds})  # made now: after the previous run
            if spy is not None:
                await asyncio.wait_for(spy.wait(), 60)
            self.r.profiles[title] = {**profiling.summarize(out), "rate": res["rate"]}
            profiling.keep(out)
            log(f"profiled {title}")
        # the pipeline: receipts consuming while the relay publishes
        out = self.tmp / "profile-receipts.txt"
        rows = self.registered_envelopes(self.cfg.pipeline_n, "PROF")
        async with conn.transaction():
            await conn.execute("INSERT INTO tracking.outbox (id, type, body) "
                               "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[])",
                               [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL_PREFIX + "tracking")
        relay_out = self.tmp / "profile-relay.txt"
        spy = await profiling.record(pid["receipts"], 3, out)
        relay_spy = await profiling.record(pid["tracking"], 3, relay_out)
        for proc in (spy, relay_spy):
            if proc is not None:
                await asyncio.wait_for(proc.wait(), 60)
        profiling.keep(out)
        profiling.keep(relay_out)
        self.r.profiles["event pipeline (receipts consumer)"] = profiling.summarize(out)
        self.r.profiles["event pipeline (tracking's outbox relay)"] = profiling.summarize(relay_out)
        await self.quiesce(conn)

    async def f5_scale(self, conn: asyncpg.Connection, http: httpx.AsyncClient) -> None:
        """Figure 5 and, on the same data, "Desk pages at scale" (D) and "Public tracking page" (T).
        The desk's live part is added after figure 5's queries at each size and removed before the
        next, so figure 5 measures what it always did."""
        small, big, label = scale.SIZES[self.scale_name]
        data = scale.ScaleData(conn, datetime.now(UTC), self.stack.env["LCS_ID_HASH_KEY"])
        await data.empty()
        want = self.wanted
        out: dict[str, Any] = {"label": label, "small": small, "big": big}
        pages: dict[str, Any] = {"delayed": self.cfg.desk_delayed, "at_risk": self.cfg.desk_at_risk}
        cookie = ""
        if "D" in want:
            cookie = (await live.sessions(self.stack.service_env("web"), self.stack.url("web"), 1, 1))[0]
            pages["complaints"] = await desk.open_complaints(http, self.stack.url("complaints"), self.admin,
                                                             self.cfg.desk_complaints, [])
        for name, size in (("small", small), ("big", big)):
            secs = await data.grow_to(size)
            out[f"{name}_load_s"] = secs
            out[f"{name}_counts"] = await data.counts()
            if "5" in want:
                out[name + "_results"] = await scale.measure(conn, http, self.stack.url("tracking"), self.admin,
                                                             data.now, data.positions_end, self.cfg.reps)
                log(f"figure 5 at {name} size ({secs:.0f} s to load): "
                    + ", ".join(f"{k} {v['ms']:.2f} ms" for k, v in out[name + "_results"].items()))
            if "D" in want:
                await data.desk_extras(self.cfg.desk_delayed, self.cfg.desk_at_risk)
                if self.web_sampler is not None:
                    self.web_sampler.phase = "pages"
                pages[name] = await desk.measure(conn, self.stack.url("web"), cookie, self.cfg.page_reps,
                                                 attribute=self.cfg.desk_attributed if name == "big" else ())
                if self.web_sampler is not None:
                    self.web_sampler.phase = None
                log(f"desk pages at {name} size: " + ", ".join(
                    f"{k} p95 {v['p95_ms']:.0f} ms" if "p95_ms" in v else f"{k} {v}" for k, v in pages[name].items()))
                await data.remove_desk_extras()
        if "5" in want:
            self.r.scale_rows = out
        if "D" in want:
            self.r.pages = pages
        if "T" in want:
            await self.f_track(big.shipments)

    async def f_live(self) -> None:
        cfg = self.cfg
        ld = live.LiveDesk(web_url=self.stack.url("web"), web_port=self.stack.ports["web"], web_pid=self.pids["web"],
                           tracking_url=self.stack.url("tracking"), carrier=self.carrier, admin=self.admin,
                           web_env=self.stack.service_env("web"), tmp=self.tmp, streams=cfg.live_streams,
                           users=cfg.live_users, sessions=cfg.live_sessions, samples=cfg.live_samples,
                           sampler=self.web_sampler)
        try:
            res = await ld.run(rss_kib, _cpu_of)
        finally:
            if self.web_sampler is not None:
                self.web_sampler.phase = None
        self.r.live = res
        self.r.errors += [f"Live desk: {p}" for p in res["problems"] + res["holder_errors"]]
        log(f"live desk: {res['streams']} streams, p50 {res['p50_ms']} ms, p99 {res['p99_ms']} ms, "
            f"{res['deliveries']}/{res['expected']} deliveries, {res['kib_per_stream']} KiB per stream")

    async def f_track(self, waybills: int) -> None:
        """Public tracking page: `POST /track` with the right digits, a different waybill each time,
        at full speed with C2's connection count, then paced at half that rate for its p99."""
        async with httpx.AsyncClient(base_url=self.stack.url("web"), timeout=30) as client:
            probe = await client.post("/track", data={"waybill": "S000000001", "phone4": "0001"})
        if probe.status_code in (404, 405):
            self.r.track = {"absent": True}
            log("public tracking page: not available (no /track in web)")
            return
        if self.r.median("c2") is None:
            await self.settle()
            await self.c2_bare()
        if probe.status_code != 200:
            self.r.errors.append(f"Public tracking page: the probe gave {probe.status_code} {probe.text[:200]}")
        spec = http_spec(self.stack.ports["web"], "track", self.cfg, waybills=waybills, source_addresses=True)
        if self.web_sampler is not None:
            self.web_sampler.phase = "track"
        try:
            await self._track_runs(spec, waybills)
            # row 9r: the same load with a second web process, the connections alternating between
            # the two as in rows 1r and 1br (both web processes call the one tracking)
            async with self._processes("web", 2) as ports:
                await self._track_loop({**spec, "ports": ports, "offset": 20_000_000}, "track_2r",
                                       "9r public tracking page, two web replicas, per request",
                                       "public tracking page, 2 web replicas")
        finally:
            if self.web_sampler is not None:
                self.web_sampler.phase = None

    async def _track_loop(self, spec: dict[str, Any], key: str, cpu_row: str, label: str, *,
                          profiled: bool = False) -> None:
        """The runs of a /track row: its rate as `key` (and its p50), its CPU as `cpu_row`; `profiled`:
        py-spy on the first run, when profiles are wanted."""
        for run in range(self.runs):
            await self.settle()
            cpu = self.cpu_mark()
            spies = await self._profile_track() if profiled and run == 0 else []
            res = await run_load(spec, self.tmp)
            await self._profiled_track(spies, res["rate"])
            self.cpu_add(cpu_row, cpu, self.load_units(res["rate"]))
            self._check(res, label.capitalize())
            self.r.add(key, res["rate"])
            self.r.add(f"{key}_p50_ms", res["p50_ms"] or 0)
            log(f"{label} run {run + 1}: {res['rate']:,.0f} req/s (p50 {res['p50_ms'] or 0:.1f} ms)")

    async def _track_runs(self, spec: dict[str, Any], waybills: int) -> None:
        await self._track_loop(spec, "track", "T public tracking page, per request", "public tracking page",
                               profiled=True)
        full = self.r.median("track") or 0.0
        if full:
            await self.settle()
            res = await run_load({**spec, "rate": full / 2, "offset": 10_000_000}, self.tmp)
            self._check(res, "Public tracking page at half rate")
            self.r.track = {"half_rate": full / 2, "achieved": res["rate"], "p50_ms": res["p50_ms"],
                            "p99_ms": res["p99_ms"], "waybills": waybills}
            log(f"public tracking page at half rate: {res['rate']:,.0f} req/s, p99 {res['p99_ms']} ms")

    def _profiling(self) -> bool:
        return os.environ.get("LCS_BENCH_PROFILE", "1" if self.cfg.profile else "0") == "1" \
            and profiling.py_spy() is not None

    async def _profile_track(self) -> list[tuple[str, Path, asyncio.subprocess.Process | None]]:
        """py-spy on web and tracking for the first /track run (when profiles are wanted): the page's
        two Python processes, each a third or more of its CPU."""
        if "p" not in self.wanted or not self._profiling():
            return []
        spies = []
        for svc in ("web", "tracking"):
            out = self.tmp / f"profile-track-{svc}.txt"
            spies.append((svc, out, await profiling.record(self.pids[svc], self.cfg.duration, out)))
        return spies

    async def _profiled_track(self, spies: list[tuple[str, Path, asyncio.subprocess.Process | None]],
                              rate: float) -> None:
        for svc, out, spy in spies:
            if spy is not None:
                await asyncio.wait_for(spy.wait(), 60)
            self.r.profiles[f"public tracking page ({svc})"] = {**profiling.summarize(out), "rate": rate}
            profiling.keep(out)

    async def main(self) -> None:
        cfg = self.cfg
        pids = {n: self.stack.procs[n].popen.pid for n in stackmod.SERVICES  # type: ignore[union-attr]
                if n in self.stack.procs}
        self.pids = pids
        conn = await connect(self.db_url)
        try:
            async with httpx.AsyncClient(base_url=self.stack.url("tracking"), timeout=30) as http:
                log("setting up stations, vehicles and shipments through the API")
                self.world = await world.build(http, self.admin, batch_conns=cfg.batch_conns,
                                               vehicles_per_conn=cfg.vehicles_per_conn, osmand_devices=cfg.conns,
                                               latency_samples=cfg.latency_samples,
                                               history_hours=self.history_hours)
                conn = await reopen(conn, self.db_url)
                await self.quiesce(conn)
                want = self.wanted
                with RssSampler(pids) as sampler:
                    sampler.snapshot("idle")
                    log("ceilings")
                    conn = await reopen(conn, self.db_url)
                    # each ceiling and figure starts on a quiet machine (`settle`): what the one
                    # before left behind (events on their way, WAL, autovacuum) is not counted in it
                    if "1" in want:
                        await self.settle()
                        await self.c1_copy(conn)
                    if "2" in want:
                        await self.settle()
                        await self.c2_bare()
                    if "3" in want:
                        body_size = len(self.registered_envelopes(1, "SIZE")[0][2].encode())
                        self.r.notes["event_bytes"] = body_size
                        await self.settle()
                        await self.c3_amqp(body_size)
                    sampler.phase = "load"
                    log("figures")
                    if "1" in want:
                        await self.settle()
                        await self.f1_batches()
                        await self.f1_batches(replicas=2)
                    if "2" in want:
                        await self.settle()
                        await self.f2_livez()
                        await self.f2_direct()
                        await self.f2_osmand()
                    conn = await reopen(conn, self.db_url)
                    if "3" in want:
                        await self.quiesce(conn)  # the delays figures 1 and 2 caused are still on their way
                        await self.f3_pipeline(conn)
                    conn = await reopen(conn, self.db_url)
                    if "4" in want:
                        await self.f4_latency(conn, http)
                    if "2" in want:  # after 3 and 4: its extra minute of load left out of theirs
                        await self.f2_osmand(replicas=2)
                    sampler.phase = None
                    self.r.rss = sampler.peaks
                # the web service's memory under its own figures (idle: before the first of them)
                with RssSampler({"web": pids["web"]}) as web_sampler:
                    self.web_sampler = web_sampler
                    web_sampler.snapshot("idle")
                    if "L" in want:
                        await self.settle()
                        await self.f_live()
                    conn = await reopen(conn, self.db_url)
                    if "p" in want:
                        await self.profiles(conn)
                    conn = await reopen(conn, self.db_url)
                    if set("5DT") & set(want):
                        await self.f5_scale(conn, http)
                    self.r.notes["web_rss"] = web_sampler.peaks.get("web", {})
                    self.web_sampler = None
        finally:
            await conn.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--scale", choices=sorted(CONFIGS), default=os.environ.get("LCS_BENCH_SCALE", "large"))
    p.add_argument("--runs", type=int, default=int(os.environ.get("LCS_BENCH_RUNS", "3")))
    p.add_argument("--output", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    p.add_argument("--only", default=ALL_FIGURES,
                   help="figures to measure: letters, e.g. '12' (p = profiles, L = live desk, D = desk pages, "
                        "T = public tracking page), or names, e.g. 'live,desk' (" + ", ".join(FIGURE_NAMES) + "); "
                        "a partial run is for quick iteration while optimising: give it its own --output, "
                        "docs/BENCHMARKS.md wants the full run")
    args = p.parse_args(argv)
    args.only = figures_of(args.only, p)
    return args


def figures_of(only: str, parser: argparse.ArgumentParser | None = None) -> str:
    """`--only`'s figure letters: '12L' as given, or names 'live,desk' mapped to theirs."""
    if "," in only or only in FIGURE_NAMES:
        letters = ""
        for name in (n.strip() for n in only.split(",") if n.strip()):
            if name not in FIGURE_NAMES and name not in ALL_FIGURES:
                if parser is not None:
                    parser.error(f"--only: unknown figure {name!r}")
                raise ValueError(name)
            letters += FIGURE_NAMES.get(name, name)
        return letters
    unknown = set(only) - set(ALL_FIGURES)
    if unknown and parser is not None:
        parser.error(f"--only: unknown figure letter(s) {''.join(sorted(unknown))}")
    return only


def _drop_database(name: str) -> None:
    """Retried for a while, like the vhost: PostgreSQL may be restarting at this moment."""
    for attempt in range(12):
        try:
            asyncio.run(stackmod.drop_database(ADMIN_DB_URL, name))
            return
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            if attempt == 11:
                print(f"could not drop database {name}; remove it with: DROP DATABASE \"{name}\" WITH (FORCE)",
                      file=sys.stderr)
                return
            time.sleep(5)


def _delete_vhost(name: str) -> None:
    """Retried for a while: the shared broker may be restarting at this very moment."""
    for _ in range(12):
        try:
            stackmod.rabbitmqctl("delete_vhost", name)
            return
        except subprocess.CalledProcessError as exc:
            if b"does not exist" in (exc.stderr or b"") or b"no_such_vhost" in (exc.stderr or b""):
                return
            time.sleep(5)
        except subprocess.TimeoutExpired:
            time.sleep(5)
    print(f"could not delete vhost {name}; remove it with: rabbitmqctl delete_vhost {name}", file=sys.stderr)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM like Ctrl-C: the finally blocks clean up


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    args = parse_args(argv)
    cfg = CONFIGS[args.scale]
    runs = max(1, args.runs)
    name = f"lcs_bench_{int(time.time())}_{uuid.uuid4().hex[:8]}"
    db_url = stackmod.with_database(ADMIN_DB_URL, name)
    amqp_url = stackmod.with_vhost(ADMIN_AMQP_URL, name)
    secret = secrets.token_urlsafe(48)
    results = Results(scale=args.scale, runs=runs, cfg=cfg)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lcs-bench-") as tmp_s:
        tmp = Path(tmp_s)
        stack = stackmod.Stack.with_free_ports({
            "LCS_ENV": "test", "LCS_DATABASE_URL": db_url, "LCS_AMQP_URL": amqp_url, "LCS_AUTH_SECRET": secret,
            "LCS_ID_HASH_KEY": secrets.token_urlsafe(48), "LCS_RATE_LIMIT_PER_MINUTE": "0",
            # the public tracking page's limit per client address stays on, raised to its maximum
            # (100,000 a minute), and its load comes from 32 loopback addresses (bench/load.py)
            "LCS_PUBLIC_LOOKUPS_PER_ADDRESS": "100000",
            "LCS_POOL_MAX_SIZE": str(cfg.pool_max),
            "LCS_SHUTDOWN_GRACE_SECONDS": "10", "LCS_PHOTO_DIR": str(tmp / "photos"),
        }, tmp / "logs")
        asyncio.run(stackmod.create_database(ADMIN_DB_URL, name))
        try:
            stackmod.create_vhost(name)
            results.machine = asyncio.run(machine.describe(ADMIN_DB_URL))
            log(f"scale {args.scale}, {runs} run(s) per figure; database and vhost {name}")
            stack.start()
            bench = Bench(cfg, runs, args.scale, stack, db_url, amqp_url, secret, tmp, results)
            bench.wanted = args.only
            _run(bench.main())
        finally:
            # each step on its own: a failure in one (the shared server restarting) must not skip the next
            try:
                stack.stop()
            finally:
                try:
                    _drop_database(name)
                finally:
                    _delete_vhost(name)
    results.notes["total_s"] = time.monotonic() - t0
    results.machine["Load average at end (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(results, TARGETS, BATCH))
    log(f"wrote {args.output} in {results.notes['total_s']:.0f} s")


def _run(coro: Any) -> None:
    try:
        import uvloop
        uvloop.run(coro)
    except ImportError:  # pragma: no cover
        asyncio.run(coro)
