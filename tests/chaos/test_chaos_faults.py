"""Faults injected into the running system while a realistic stream flows through it.

Every scenario: a fresh plan (stations, vehicles, shipments with a known late subset),
phase 0 runs normally, the fault hits while phase 1 runs, the system heals (by itself,
or by the restart an orchestrator would do), phase 2 runs, every vehicle reports again
(a second, equally late position must not notify twice), and the checker demands:
every expected delay notice exactly once per recipient and channel (sinks and the
notifier's audit), no unexpected notice, every required receipt present (with its
`due_at` for the arrived ones), outboxes drained and retry queues empty.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import aio_pika
import httpx
import pytest

from shared import dlq
from shared.devtools.stack import Stack
from tests.chaos import harness
from tests.chaos.harness import Checker, Driver, assert_clean, make_plan, record
from tests.conftest import Infra
from tests.support.quiet import AWAY
from tests.support.wait import eventually

PHASES = 3


@asynccontextmanager
async def stream(stack: Stack, infra: Infra, **driver_kw: object) -> AsyncIterator[tuple[Driver, Checker]]:
    plan = make_plan(PHASES)
    driver = Driver(stack, infra, plan, **driver_kw)  # type: ignore[arg-type]
    try:
        await driver.setup_network()
        yield driver, Checker(stack, infra, plan)
    finally:
        await driver.aclose()


async def finish(scenario: str, driver: Driver, checker: Checker, cleared_at: float, note: str = "",
                 *, max_resent: int = 0) -> None:
    """Phase 2, the repeated positions, then converge and check."""
    await driver.run_phase(2)
    await driver.push_positions(v for group in driver.plan.phases for v in group)
    waiting_from = time.monotonic()
    obs, took = await checker.wait_converged()
    record(scenario, driver.plan, obs, waiting_from + took - cleared_at, note)  # reported, never asserted
    assert_clean(obs, driver, max_resent=max_resent)


async def wait_exit(stack: Stack, key: str, timeout: float) -> tuple[int | None, float]:
    started = time.monotonic()
    code = await asyncio.to_thread(stack.procs[key].wait, timeout)
    return code, time.monotonic() - started


async def restart(stack: Stack, key: str) -> None:
    proc = stack.procs[key]
    await asyncio.to_thread(proc.stop, 5)  # closes the log handle of the dead process
    await asyncio.to_thread(stack.start_proc, key)


# 1 ------------------------------------------------------------------------------------------

async def test_chaos_broker_stopped_mid_stream(healed: Stack, chaos_infra: Infra) -> None:
    async with stream(healed, chaos_infra) as (driver, checker):
        await driver.run_phase(0)
        stopped = time.monotonic()
        async with harness.broker_stopped():
            await driver.run_phase(1)  # HTTP writes go on: into the outboxes
            # the fault: the broker stays away ~9 s in all (a duration injected, not awaited)
            await asyncio.sleep(max(0.0, 9.0 - (time.monotonic() - stopped)))
            unsent = await checker.outbox()
            assert unsent.get("tracking", 0) > 0, "tracking's events should wait in the outbox while the broker is away"
        cleared = time.monotonic()
        await finish("RabbitMQ stop_app ~10 s, start_app", driver, checker, cleared,
                     f"broker down {cleared - stopped:.0f} s")


# 2 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("victim", ["notifier", "receipts"])
async def test_chaos_consumer_sigkilled_mid_batch(healed: Stack, chaos_infra: Infra, victim: str) -> None:
    if victim not in harness.SERVICES:
        pytest.skip(f"{victim} not in LCS_CHAOS_SERVICES")
    async with stream(healed, chaos_infra) as (driver, checker):
        handled_before = await checker.inbox_count(victim)
        await driver.run_phase(0)

        async def busy() -> bool:  # the marker: its consumer has begun on phase 0's events
            return await checker.inbox_count(victim) > handled_before
        await eventually(busy, what=f"{victim} handling phase 0", retry_on=AWAY)
        healed.procs[victim].signal(signal.SIGKILL)
        code, _ = await wait_exit(healed, victim, 10)
        assert code is not None, f"{victim} survived SIGKILL?"
        await driver.run_phase(1)
        await restart(healed, victim)
        cleared = time.monotonic()
        # A notifier killed after the gateway accepted a message but before it recorded
        # that may send it again after the restart, with the same idempotency key (which
        # a real gateway uses to drop it): at most its in-flight sends (concurrency 4).
        await finish(f"SIGKILL {victim} mid-batch, restart", driver, checker, cleared,
                     max_resent=8 if victim == "notifier" else 0)


# 3 ------------------------------------------------------------------------------------------

async def test_chaos_database_restarted_mid_stream(healed: Stack, chaos_infra: Infra) -> None:
    async with stream(healed, chaos_infra) as (driver, checker):
        await driver.run_phase(0)
        ready_while_down: list[int] = []
        writes_while_down: list[httpx.Response] = []
        stopped = time.monotonic()
        async with harness.database_stopped():
            phase1 = asyncio.create_task(driver.run_phase(1))  # blocked on 503s, retried
            async with httpx.AsyncClient(timeout=5) as c:
                for _ in range(10):
                    await asyncio.sleep(0.4)  # paces ten probes over the outage: sampling the fault
                    try:
                        ready_while_down.append((await c.get(f"{healed.url('tracking')}/readyz")).status_code)
                        writes_while_down.append(await c.put(
                            f"{healed.url('tracking')}/v1/stations/X{driver.plan.tag}", headers=driver.admin,
                            json={"name": "临时站", "city": "上海", "region": "华东", "lat": 31.0, "lon": 121.0,
                                  "contact_phone": "02100000000", "contact_email": "x@station.example.com"}))
                    except httpx.HTTPError:
                        pass
            await asyncio.sleep(max(0.0, 5.0 - (time.monotonic() - stopped)))  # the fault: ~5 s down
        cleared = time.monotonic()
        try:
            await asyncio.wait_for(phase1, 120)
        finally:
            if not phase1.done():
                phase1.cancel()
        assert ready_while_down and all(code != 200 for code in ready_while_down), ready_while_down
        statuses = [r.status_code for r in writes_while_down]
        assert statuses and all(s == 503 for s in statuses), statuses
        assert all(r.headers.get("retry-after") for r in writes_while_down), "503 without Retry-After"
        await finish("PostgreSQL stopped ~5 s and started", driver, checker, cleared,
                     f"{driver.statuses.get(503, 0)} writes answered 503, retried; 0 × 500")


# 4 ------------------------------------------------------------------------------------------

async def test_chaos_two_replicas_of_each_service(healed: Stack, chaos_infra: Infra) -> None:
    extra = [f"{name}-2" for name in harness.SERVICES]
    try:
        for name in harness.SERVICES:
            healed.add_service(name, instance=f"{name}-2").start()
        for key in extra:
            await asyncio.to_thread(healed.wait_http, key, "/readyz")
        urls = [healed.url("tracking"), healed.url("tracking-2")]
        async with stream(healed, chaos_infra, tracking_urls=urls) as (driver, checker):
            await driver.run_phase(0)
            await driver.run_phase(1)
            cleared = time.monotonic()
            await finish("two replicas of every service (relays + consumers)", driver, checker, cleared)
    finally:
        for key in extra:
            proc = healed.procs.pop(key, None)
            if proc is not None:
                await asyncio.to_thread(proc.stop, 15)


# 5 ------------------------------------------------------------------------------------------

async def publish_poison(infra: Infra) -> dict[str, str]:
    """Garbage and a schema-breaking envelope on the keys the consumers bind."""
    poison: dict[str, str] = {}
    bad_schema = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/chaos", "type":
                  "tracking.shipment.delayed.v1", "time": "2026-11-28T00:00:00Z",
                  "datacontenttype": "application/json", "data": {"waybill_no": 42}}
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        ex = await ch.declare_exchange("lcs.events", aio_pika.ExchangeType.TOPIC, durable=True)
        for key, body in [("tracking.shipment.delayed.v1", b"\x00not json{"),
                          ("tracking.shipment.delayed.v1", json.dumps(bad_schema).encode()),
                          ("tracking.shipment.registered.v1", b"{\"half\": ")]:
            mid = str(uuid.uuid4())
            poison[mid] = key
            await ex.publish(aio_pika.Message(body, message_id=mid,
                                              delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key=key)
    return poison


async def test_chaos_poison_messages_mid_stream(healed: Stack, chaos_infra: Infra) -> None:
    async with stream(healed, chaos_infra) as (driver, checker):
        await driver.run_phase(0)
        poison = await publish_poison(chaos_infra)
        await driver.run_phase(1)
        cleared = time.monotonic()
        try:
            await finish("poison messages mid-stream (dead-lettered)", driver, checker, cleared,
                         f"{len(poison)} poison messages, all dead-lettered")
            dead: dict[str, list[str]] = {}
            for svc in harness.SERVICES:
                try:
                    summary = await dlq.list_dlq(chaos_infra.amqp_url, svc, peek=100)
                except dlq.DlqError:
                    continue
                dead[svc] = [str(m["message_id"]) for m in summary.peek]
                assert all(reason.startswith("malformed") for reason in summary.by_reason), summary.by_reason
            everything = [m for ms in dead.values() for m in ms]
            assert set(everything) <= set(poison), dead  # nothing good was dead-lettered
            if "notifier" in dead:  # the notifier binds the delayed key: both of those are in its DLQ
                delayed_poison = {m for m, k in poison.items() if k == "tracking.shipment.delayed.v1"}
                assert delayed_poison <= set(dead["notifier"]), dead
            assert everything, "no poison message reached any DLQ"
        finally:
            for svc in harness.SERVICES:
                with suppress(dlq.DlqError):
                    await dlq.purge(chaos_infra.amqp_url, svc)


# 6 ------------------------------------------------------------------------------------------

async def test_chaos_smtp_and_sms_gateways_down(healed: Stack, chaos_infra: Infra) -> None:
    async with stream(healed, chaos_infra) as (driver, checker):
        await driver.run_phase(0)
        async with httpx.AsyncClient(timeout=10) as c:
            before = (await c.get(f"{healed.url('sinks')}/attempts")).json()
        await harness.set_sinks(healed, sms="fail", fallback="fail", smtp="tempfail")
        try:
            down = time.monotonic()
            await driver.run_phase(1)
            await asyncio.sleep(max(0.0, 8.0 - (time.monotonic() - down)))  # the fault: ~8 s of failing gateways
        finally:
            await harness.set_sinks(healed, sms="ok", fallback="ok", smtp="ok")
        cleared = time.monotonic()
        async with httpx.AsyncClient(timeout=10) as c:
            during = (await c.get(f"{healed.url('sinks')}/attempts")).json()
        failed_attempts = sum(during[k] - before[k] for k in during)
        assert failed_attempts > 0, "nothing tried to send while the gateways were down"
        await finish("SMTP tempfail + SMS gateways failing ~8 s", driver, checker, cleared,
                     f"{failed_attempts} refused delivery attempts, retried")


# 7 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("victim", ["notifier", "tracking"])
async def test_chaos_graceful_sigterm_under_load(healed: Stack, chaos_infra: Infra, victim: str) -> None:
    """SIGTERM mid-phase: the process shuts down by itself, gracefully (exit code 0, its final
    `stopped` line, no in-flight events abandoned at the end of the grace period), and after a
    restart nothing that was accepted (HTTP 2xx, or an event in a queue or an outbox) is lost.
    (That the shutdown fits the grace period is the runtime's construction: its consumer, HTTP
    server and pool each get a share of it; how long it took is reported, not asserted.)"""
    if victim not in harness.SERVICES:
        pytest.skip(f"{victim} not in LCS_CHAOS_SERVICES")
    async with stream(healed, chaos_infra) as (driver, checker):
        writes_before = driver.writes
        log_path = healed.procs[victim].log_path
        load: asyncio.Task[None] = asyncio.create_task(driver.run_phase(0))
        try:
            # mid-phase: some of phase 0's writes answered, so requests and events are in flight
            await eventually(lambda: driver.writes > writes_before or load.done(), what="phase 0 under way")
            size_before = log_path.stat().st_size
            healed.procs[victim].signal(signal.SIGTERM)
            code, took = await wait_exit(healed, victim, harness.GRACE_SECONDS + 10)  # bounds a hang only
            tail = log_path.read_bytes()[size_before:].decode(errors="replace")
            assert code == 0, f"{victim} exited with {code} after SIGTERM"
            assert '"msg":"stopped"' in tail, f"{victim}: ServiceHost.stop() never ran (no `stopped` log line)"
            assert "did not finish before the grace period" not in tail, f"{victim} abandoned in-flight events"
            await restart(healed, victim)
            await asyncio.wait_for(asyncio.shield(load), 120)  # writes refused meanwhile were retried
        finally:
            if not load.done():
                load.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await load
        await driver.run_phase(1)
        cleared = time.monotonic()
        await finish(f"SIGTERM {victim} under load, restart", driver, checker, cleared,
                     f"gone in {took:.1f} s (grace {harness.GRACE_SECONDS:.0f} s), exit code {code}")


async def test_chaos_sigterm_runs_the_graceful_shutdown(healed: Stack) -> None:
    """The shutdown sequence itself: exit code 0 and the runtime's final `stopped` log line."""
    victim = "notifier"
    log_path = healed.procs[victim].log_path
    size_before = log_path.stat().st_size
    healed.procs[victim].signal(signal.SIGTERM)
    code, _ = await wait_exit(healed, victim, harness.GRACE_SECONDS + 10)  # bounds a hang only
    tail = log_path.read_bytes()[size_before:].decode(errors="replace")
    await restart(healed, victim)
    assert '"msg":"stopped"' in tail, "ServiceHost.stop() never ran (no `stopped` log line)"
    assert "did not finish before the grace period" not in tail, f"{victim} abandoned in-flight events"
    assert code == 0, f"exit code {code} after SIGTERM"
