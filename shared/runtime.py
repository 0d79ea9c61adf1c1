"""The composition root every service uses: settings → pool → migrations → bus →
outbox relay → consumer → periodic jobs → HTTP, and the reverse on SIGTERM.

A service describes itself with a `ServiceSpec`; `run(spec)` is its `main`.
Shutdown order on SIGTERM: uvicorn stops accepting and finishes in-flight requests,
the consumer stops taking messages and waits for the in-flight handlers, periodic
jobs stop, the relay makes a last flush, then the broker connection and the pool close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import APIRouter, FastAPI
from pydantic import ValidationError

from shared.bus import Bus, GroupHandler, Handler
from shared.consumer import Consumer
from shared.context import Runtime
from shared.db import create_pool, migrate, migrations_for
from shared.fastpath import gc as gc_settings
from shared.fastpath.http import DirectRoute
from shared.fastpath.routes import FastRoute
from shared.logs import configure_logging
from shared.outbox import OutboxRelay
from shared.queue_metrics import QueueDepthSampler
from shared.scheduler import Job, Periodic
from shared.serving import server_config
from shared.settings import Settings
from shared.web import create_app

log = logging.getLogger("lcs.runtime")


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    # Reads the interval from the service's own settings class (typed by the service).
    interval_seconds: Callable[[Any], float]
    job: Callable[[Runtime], Job]


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    title: str
    description: str
    package_dir: Path
    routers: Sequence[APIRouter]
    settings_cls: type[Settings] = Settings
    # The event types the service consumes, declared for the catalogue and checked at start
    # against the handler table, so documentation and bindings cannot drift apart.
    consumes: Sequence[str] = ()
    handlers: Callable[[Runtime], Mapping[str, Handler]] = lambda rt: {}
    # Optional set-based handlers for some of those types (see `shared.consumer.Consumer`).
    group_handlers: Callable[[Runtime], Mapping[str, GroupHandler]] = lambda rt: {}
    periodic: Sequence[PeriodicSpec] = ()
    body_limits: Mapping[str, int] = field(default_factory=dict)
    # Exact paths answered in front of FastAPI (shared.fastpath.routes), e.g. a device feed.
    fast_routes: Mapping[str, FastRoute] = field(default_factory=dict)
    guarded_fast_routes: Mapping[str, FastRoute] = field(default_factory=dict)  # see shared.fastpath.routes
    # ... and those answered by the HTTP protocol itself, without an ASGI cycle (shared.fastpath.http)
    direct_routes: Mapping[str, DirectRoute] = field(default_factory=dict)
    # Long-running extra workers (e.g. the notifier's dispatcher): started with the service.
    workers: Sequence[Callable[[Runtime[Any, Any]], Coroutine[Any, Any, None]]] = ()
    # Builds the service's typed context (`Runtime.context`) once, before anything else runs.
    context: Callable[[Runtime[Any, Any]], Awaitable[Any]] | None = None
    # A description per OpenAPI tag its routes use; a tag without one gets one made from its name.
    tags: Mapping[str, str] = field(default_factory=dict)
    # Hook for what the HTTP app needs beyond routers (static files, extra middleware).
    configure_app: Callable[[FastAPI, Runtime[Any, Any]], None] | None = None


class _Server(uvicorn.Server):
    """uvicorn, minus its habit of re-raising the captured SIGTERM when `serve()` returns:
    that killed the process before `ServiceHost.stop()` could drain the consumer, flush the
    outbox and close the pool. Here a signal only asks the server to exit."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)


class ServiceHost:
    def __init__(self, spec: ServiceSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.rt: Runtime | None = None
        self.app: FastAPI | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._relay: OutboxRelay | None = None
        self._consumer: Consumer | None = None
        self._periodic: list[Periodic] = []

    async def _connect_pool(self) -> Any:
        backoff = 0.5
        while True:
            try:
                return await create_pool(self.settings.database_url, self.spec.name,
                                         min_size=self.settings.pool_min_size,
                                         max_size=self.settings.pool_max_size,
                                         application=f"lcs-{self.spec.name}")
            except Exception as exc:  # noqa: BLE001 - wait for the database to come up
                log.warning("database unavailable at start", extra={"error": repr(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5)

    async def start(self) -> FastAPI:
        s, spec = self.settings, self.spec
        if s.migrate_on_start:
            await migrate(s.database_url, spec.name, migrations_for(spec.package_dir))
        pool = await self._connect_pool()
        bus = Bus(s.amqp_url, service=spec.name, exchange=s.exchange)
        rt: Runtime[Any, Any] = Runtime(service=spec.name, settings=s, pool=pool, bus=bus)
        self.rt = rt
        if spec.context is not None:
            rt.context = await spec.context(rt)
        handlers = spec.handlers(rt)
        if set(handlers) != set(spec.consumes):
            raise RuntimeError(f"{spec.name}: handlers {sorted(handlers)} differ from consumes {sorted(spec.consumes)}")
        if handlers:
            self._consumer = Consumer(service=spec.name, bus=bus, pool=pool, handlers=handlers,
                                      group_handlers=spec.group_handlers(rt), prefetch=s.prefetch,
                                      batch_max=s.consumer_batch_max, linger_ms=s.consumer_linger_ms,
                                      retry_delays_ms=s.retry_delays_ms)
            bus.on_connect(self._consumer.start)
            depth = QueueDepthSampler(bus, service=spec.name, retry_levels=len(s.retry_delays_ms))
            self._tasks.append(asyncio.create_task(depth.run(), name="queue-depth"))
        self._relay = OutboxRelay(service=spec.name, pool=pool, bus=bus, dsn=s.database_url,
                                  batch=s.outbox_batch, poll_seconds=s.outbox_poll_seconds,
                                  retention_hours=s.outbox_retention_hours)
        self._tasks.append(asyncio.create_task(bus.run(), name="bus"))
        self._tasks.append(asyncio.create_task(self._relay.run(), name="outbox-relay"))
        for p in spec.periodic:
            periodic = Periodic(name=f"{spec.name}.{p.name}", dsn=s.database_url,
                                interval_seconds=p.interval_seconds(s), job=p.job(rt))
            self._periodic.append(periodic)
            self._tasks.append(asyncio.create_task(periodic.run(), name=p.name))
        for worker in spec.workers:
            self._tasks.append(asyncio.create_task(worker(rt), name=getattr(worker, "__name__", "worker")))
        try:
            await asyncio.wait_for(bus.connected.wait(), 10)
        except TimeoutError:
            log.warning("broker not reachable yet; HTTP starts anyway and /readyz says so")
        self.app = create_app(rt=rt, routers=spec.routers, title=spec.title, description=spec.description,
                              body_limits=spec.body_limits, fast_routes=spec.fast_routes,
                              guarded_fast_routes=spec.guarded_fast_routes, direct_routes=spec.direct_routes,
                              tags=spec.tags)
        if spec.configure_app is not None:
            spec.configure_app(self.app, rt)
        gc_settings.settle()
        return self.app

    async def stop(self) -> None:
        grace = self.settings.shutdown_grace_seconds
        if self._consumer is not None:
            await self._consumer.stop(timeout=grace * 0.6)
        for p in self._periodic:
            p.stop()
        if self._relay is not None:
            await self._relay.stop()
        rt = self.rt
        if rt is not None and rt.bus is not None:
            await rt.bus.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if rt is not None:
            await asyncio.wait_for(rt.pool.close(), 10)
        log.info("stopped")

    async def serve(self) -> None:
        app = await self.start()
        s = self.settings
        if s.metrics_port:
            from prometheus_client import start_http_server
            start_http_server(s.metrics_port, addr=s.host)
        config = server_config(app, s, port=s.port_for(self.spec.name), grace_seconds=s.shutdown_grace_seconds * 0.4)
        server = _Server(config)
        log.info("listening", extra={"port": config.port})
        try:
            await server.serve()
        finally:
            await self.stop()


def run(spec: ServiceSpec) -> None:
    try:
        settings = spec.settings_cls()
    except ValidationError as exc:  # a refused secret or a malformed LCS_* value: say which, exit
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        print(f"{spec.name}: invalid configuration: {problems}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(spec.name, settings.log_level)
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is optional
        pass
    asyncio.run(ServiceHost(spec, settings).serve())
