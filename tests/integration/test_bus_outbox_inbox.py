"""The reliable bus against the real PostgreSQL and RabbitMQ: outbox, relay, inbox,
retries through delay queues, the DLQ, concurrent migrations and relays, the consumer's
groups (one transaction for what is waiting), and a broker restart."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import pytest
from prometheus_client import REGISTRY, Counter

from shared import consumer as consumer_module
from shared.bus import ERROR_HEADER, Bus, GroupHandler, Handler
from shared.consumer import Consumer
from shared.db import Migration, create_pool, load_migrations, migrate
from shared.events import Envelope, ShipmentDelayed, ShipmentRecovered, make_envelope
from shared.metrics import count
from shared.outbox import OutboxRelay, publish
from tests.conftest import Infra, queue_depth
from tests.support.wait import eventually

SHARED = load_migrations(Path(__file__).resolve().parents[2] / "shared" / "migrations", "shared/")
APP_TABLE = Migration("0001_effects", "CREATE TABLE effects (id serial PRIMARY KEY, event_id uuid, note text);")


def delayed(no: str) -> ShipmentDelayed:
    return ShipmentDelayed(waybill_no=no, eta=datetime(2026, 12, 1, tzinfo=UTC),
                           promised_at=datetime(2026, 11, 30, tzinfo=UTC), delay_minutes=60, reason="slow_progress")


class Harness:
    """One fake service ("svc_<hex>") with its own schema, queue, relay and consumer."""

    def __init__(self, infra: Infra, handler: Callable[[asyncpg.Connection, Any, Envelope], Awaitable[None]],
                 retry_delays_ms: list[int] | None = None, prefetch: int = 16, batch_max: int = 100,
                 handlers: dict[str, Handler] | None = None,
                 group_handlers: dict[str, GroupHandler] | None = None, linger_ms: float = 0.0) -> None:
        self.infra = infra
        self.name = f"svc_{uuid.uuid4().hex[:8]}"
        self.handler = handler
        self.handlers = {"tracking.shipment.delayed.v1": handler, **(handlers or {})}
        self.group_handlers = group_handlers or {}
        self.retry_delays_ms = retry_delays_ms or [100, 200]
        self.prefetch = prefetch
        self.batch_max = batch_max
        self.linger_ms = linger_ms
        self.tasks: list[asyncio.Task[Any]] = []

    async def start(self, *, relays: int = 1, consumers: int = 1) -> None:
        await migrate(self.infra.database_url, self.name, [*SHARED, APP_TABLE])
        self.pool = await create_pool(self.infra.database_url, self.name, min_size=1, max_size=8)
        self.buses: list[Bus] = []
        self.relays: list[OutboxRelay] = []
        self.consumers: list[Consumer] = []
        for _ in range(max(relays, consumers)):
            bus = Bus(self.infra.amqp_url, service=self.name)
            self.buses.append(bus)
            self.tasks.append(asyncio.create_task(bus.run()))
        for i in range(consumers):
            c = Consumer(service=self.name, bus=self.buses[i], pool=self.pool, handlers=self.handlers,
                         group_handlers=self.group_handlers, prefetch=self.prefetch, batch_max=self.batch_max,
                         linger_ms=self.linger_ms, retry_delays_ms=self.retry_delays_ms)
            self.buses[i].on_connect(c.start)
            self.consumers.append(c)
        for i in range(relays):
            r = OutboxRelay(service=self.name, pool=self.pool, bus=self.buses[i], dsn=self.infra.database_url,
                            batch=50, poll_seconds=0.3)
            self.relays.append(r)
            self.tasks.append(asyncio.create_task(r.run()))
        for bus in self.buses:
            await asyncio.wait_for(bus.connected.wait(), 20)

    async def stop(self) -> None:
        for c in self.consumers:
            await c.stop(timeout=5)
        for r in self.relays:
            await r.stop()
        for b in self.buses:
            await b.stop()
        for t in self.tasks:
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
        await self.pool.close()

    async def effects(self) -> list[asyncpg.Record]:
        return await self.pool.fetch("SELECT event_id, note FROM effects ORDER BY id")


@contextlib.asynccontextmanager
async def harness(infra: Infra, handler: Any = None, **kw: Any) -> AsyncIterator[Harness]:
    async def record(conn: asyncpg.Connection, event: Any, env: Envelope) -> None:
        await conn.execute("INSERT INTO effects (event_id, note) VALUES ($1, $2)", env.id, event.waybill_no)

    h = Harness(infra, handler or record, kw.pop("retry_delays_ms", None), **{
        k: kw.pop(k) for k in ("prefetch", "batch_max", "handlers", "group_handlers", "linger_ms") if k in kw})
    await h.start(**kw)
    try:
        yield h
    finally:
        await h.stop()


async def raw_publish(infra: Infra, body: bytes, routing_key: str = "tracking.shipment.delayed.v1") -> None:
    await raw_publish_many(infra, [body], routing_key)


async def raw_publish_many(infra: Infra, bodies: list[bytes],
                           routing_key: str = "tracking.shipment.delayed.v1") -> None:
    """Publish in this order on one connection, each confirmed."""
    await publish_messages(infra, [(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                    routing_key) for body in bodies])


async def publish_messages(infra: Infra, messages: list[tuple[aio_pika.Message, str]]) -> None:
    """Publish `(message, routing key)` pairs to `lcs.events` in this order on one connection, each confirmed."""
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        ex = await ch.declare_exchange("lcs.events", aio_pika.ExchangeType.TOPIC, durable=True)
        for message, routing_key in messages:
            await ex.publish(message, routing_key)


async def dlq_messages(infra: Infra, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    conn = await aio_pika.connect(infra.amqp_url)
    got = []
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(queue, durable=True, arguments={"x-queue-type": "quorum"})
        while (m := await q.get(fail=False, no_ack=True)) is not None:
            got.append(m)
    return got


async def test_migrations_are_recorded_and_safe_from_two_processes_at_once(infra: Infra) -> None:
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    results = await asyncio.gather(*(migrate(infra.database_url, schema, [*SHARED, APP_TABLE]) for _ in range(3)))
    assert sorted(len(r) for r in results) == [0, 0, len(SHARED) + 1]
    assert await migrate(infra.database_url, schema, [*SHARED, APP_TABLE]) == []
    changed = Migration("0001_effects", APP_TABLE.sql + "-- edited")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        await migrate(infra.database_url, schema, [*SHARED, changed])


async def test_a_no_transaction_migration_builds_an_index_concurrently_and_reruns_clean(infra: Infra) -> None:
    """`-- lcs:no-transaction`: statement by statement outside a transaction (CREATE INDEX
    CONCURRENTLY refuses to run in one); recorded only when all succeeded, so a failed run is
    simply run again from the top."""
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    await migrate(infra.database_url, schema, [*SHARED, APP_TABLE])
    head = "-- lcs:no-transaction\n-- the effects' index\nDROP INDEX CONCURRENTLY IF EXISTS effects_idx;\n"
    broken = Migration("0002_index", head + "CREATE INDEX CONCURRENTLY effects_idx ON effects (nope);\n")
    with pytest.raises(asyncpg.UndefinedColumnError):
        await migrate(infra.database_url, schema, [*SHARED, APP_TABLE, broken])
    fixed = Migration("0002_index", head + "CREATE INDEX CONCURRENTLY effects_idx\n  ON effects (event_id);\n")
    assert fixed.statements() == ["DROP INDEX CONCURRENTLY IF EXISTS effects_idx;",
                                  "CREATE INDEX CONCURRENTLY effects_idx\n  ON effects (event_id);"]
    assert await migrate(infra.database_url, schema, [*SHARED, APP_TABLE, fixed]) == ["0002_index"]
    conn = await asyncpg.connect(infra.database_url)
    try:
        valid = await conn.fetchval(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relname = 'effects_idx' AND n.nspname = $1",
            schema)
        assert valid is True
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.schema_migrations WHERE version = '0002_index'") == 1
        assert await migrate(infra.database_url, schema, [*SHARED, APP_TABLE, fixed]) == []
    finally:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        await conn.close()


async def test_outbox_row_exists_only_if_the_business_change_commits(infra: Infra) -> None:
    async with harness(infra, relays=0, consumers=0) as h:
        with contextlib.suppress(RuntimeError):
            async with h.pool.acquire() as conn, conn.transaction():
                await publish(conn, delayed("ROLLED-BACK"), source="/test")
                raise RuntimeError("business rule failed")
        assert await h.pool.fetchval("SELECT count(*) FROM outbox") == 0
        async with h.pool.acquire() as conn, conn.transaction():
            await publish(conn, delayed("COMMITTED"), source="/test")
        assert await h.pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 1


async def test_relay_publishes_and_consumer_applies_once(infra: Infra) -> None:
    async with harness(infra) as h:
        async with h.pool.acquire() as conn, conn.transaction():
            env = await publish(conn, delayed("SH-ONE"), source="/test")

        async def applied() -> bool:
            return len(await h.effects()) == 1
        await eventually(applied)

        async def marked_sent() -> bool:  # the relay commits sent_at after the broker's confirm,
            # which may be after the consumer has already committed the effect
            return bool(await h.pool.fetchval("SELECT sent_at IS NOT NULL FROM outbox WHERE id = $1", env.id))
        await eventually(marked_sent)
        # The same event delivered again (a redelivery) has no second effect: once the consumer
        # has judged both copies duplicates and settled them, the effects are still the one.
        await raw_publish(infra, env.to_json())
        await raw_publish(infra, env.to_json())
        await until(lambda: consumed(h, "duplicate") == 2 and in_flight(h) == 0)
        effects = await h.effects()
        assert [e["event_id"] for e in effects] == [env.id]
        assert consumed(h, "processed") == 1


async def test_failing_handler_is_retried_then_dead_lettered_not_looped(infra: Infra) -> None:
    calls: list[uuid.UUID] = []

    async def always_fails(conn: asyncpg.Connection, event: Any, env: Envelope) -> None:
        calls.append(env.id)
        raise RuntimeError("downstream rule exploded")

    async with harness(infra, always_fails, retry_delays_ms=[100, 300]) as h:
        env = make_envelope(delayed("POISON"), "/test")
        await raw_publish(infra, env.to_json())

        # Would a 4th attempt come? Not once the message is dead-lettered and settled, and no
        # copy waits in a delay queue: that is the marker, then count the attempts.
        await until(lambda: consumed(h, "dead_lettered") == 1 and in_flight(h) == 0)
        await retry_queues_empty(h)
        assert len(calls) == 3  # first try + 2 retries
        assert consumed(h, "retried") == 2
        msgs = await dlq_messages(infra, f"{h.name}.dlq")
        assert len(msgs) == 1
        assert "downstream rule exploded" in str(msgs[0].headers[ERROR_HEADER])
        assert await h.pool.fetchval("SELECT count(*) FROM inbox") == 0  # nothing half-applied


async def test_malformed_and_unknown_events_are_dead_lettered_with_a_reason(infra: Infra) -> None:
    async with harness(infra) as h:
        await raw_publish(infra, b"\x00garbage{")
        wrong = make_envelope(delayed("X"), "/test").model_dump(mode="json")
        wrong["data"] = {"waybill_no": "X"}
        await raw_publish(infra, Envelope.model_validate(wrong).to_json())
        await raw_publish(infra, b'{"huge": "' + b"x" * 2_000_000 + b'"}')
        good = make_envelope(delayed("AFTER-POISON"), "/test")
        await raw_publish(infra, good.to_json())

        async def done() -> bool:
            return len(await h.effects()) == 1
        await eventually(done)
        msgs = await dlq_messages(infra, f"{h.name}.dlq")
        assert len(msgs) == 3
        assert all(str(m.headers[ERROR_HEADER]).startswith("malformed") for m in msgs)


async def test_two_relays_and_two_consumers_deliver_each_event_exactly_once(infra: Infra) -> None:
    async with harness(infra, relays=2, consumers=2) as h:
        ids = []
        for chunk in range(10):
            async with h.pool.acquire() as conn, conn.transaction():
                for i in range(30):
                    ids.append((await publish(conn, delayed(f"W{chunk}-{i}"), source="/test")).id)

        await until_effects(h, len(ids), 60)
        await quiescent(h)  # nothing unsent, nothing queued, nothing in flight: no copy on its way
        effects = await h.effects()
        assert sorted(e["event_id"] for e in effects) == sorted(ids)
        assert consumed(h, "processed") == len(ids)


# --- the consumer's groups: what is waiting is handled in one transaction ----------------------


GATE_COUNTED = Counter("lcs_test_gate_counted_total", "events a test gate handled, counted with metrics.count",
                       ["run", "waybill"])


class Gate:
    """A handler that records every call and holds the event of waybill "GATE" until `opened`:
    whatever is delivered meanwhile waits in the consumer, and the next group takes it all."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
        self.opened = asyncio.Event()
        self.calls: list[str] = []
        self.fail = fail
        self.run = uuid.uuid4().hex  # this gate's label of GATE_COUNTED

    async def __call__(self, conn: asyncpg.Connection, event: Any, env: Envelope) -> None:
        self.calls.append(event.waybill_no)
        count(GATE_COUNTED.labels(self.run, event.waybill_no))  # as a service counts what it did
        if event.waybill_no == "GATE":
            await self.opened.wait()
        if event.waybill_no in self.fail:
            raise RuntimeError(f"rule exploded on {event.waybill_no}")
        await conn.execute("INSERT INTO effects (event_id, note) VALUES ($1, $2)", env.id, event.waybill_no)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def in_flight(h: Harness) -> float:
    return sample("lcs_consumer_in_flight", service=h.name)


def groups_up_to(h: Harness, size: int) -> float:
    """How many groups of at most `size` events the harness's consumer has handled."""
    return sample("lcs_consumer_batch_size_bucket", service=h.name, le=f"{float(size)}")


def consumed(h: Harness, outcome: str, type_: str = "tracking.shipment.delayed.v1") -> float:
    """The harness's consumer's count of deliveries of `type_` that ended in `outcome`."""
    return sample("lcs_events_consumed_total", service=h.name, type=type_, outcome=outcome)


async def until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    await eventually(condition, timeout=timeout, what=getattr(condition, "__qualname__", None))


async def until_effects(h: Harness, n: int, timeout: float = 20.0) -> None:
    """Wait until the harness's handler has recorded at least `n` effects."""
    async def check() -> bool:
        return len(await h.effects()) >= n
    await eventually(check, timeout=timeout)


async def retry_queues_empty(h: Harness) -> None:
    """No message waits in the harness's delay queues (quorum counters settle a moment late)."""
    async def empty() -> bool:
        depths = [await queue_depth(h.infra, f"{h.name}.retry.{n}") for n in range(1, len(h.retry_delays_ms) + 1)]
        return not any(depths)
    await eventually(empty)


async def quiescent(h: Harness, timeout: float = 30.0) -> None:
    """The positive marker that nothing more is on its way to the harness's consumers: every
    outbox row is confirmed by the broker (the relays publish nothing more), the service queue
    and its delay queues hold nothing ready, and no delivery is in flight in a consumer."""
    async def quiet() -> bool:
        if await h.pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL"):
            return False
        queues = [h.name, *(f"{h.name}.retry.{n}" for n in range(1, len(h.retry_delays_ms) + 1))]
        if any([await queue_depth(h.infra, q) for q in queues]):
            return False
        return in_flight(h) == 0
    await eventually(quiet, timeout=timeout)


async def hold_the_gate(h: Harness, gate: Gate) -> Envelope:
    """Publish the GATE event and wait until its handler holds the consumer's worker."""
    env = make_envelope(delayed("GATE"), "/test")
    await raw_publish(h.infra, env.to_json())
    await until(lambda: gate.calls == ["GATE"])
    return env


class WatchedEvent(asyncio.Event):
    """An asyncio.Event that notes that someone awaited it."""

    awaited = False

    async def wait(self) -> Any:
        self.awaited = True
        return await super().wait()


class Passes:
    n = 0


def count_passes(relay: OutboxRelay) -> Passes:
    """Count the relay's passes over the outbox (calls of `flush_once`, finished)."""
    passes = Passes()
    original = relay.flush_once

    async def counting() -> int:
        try:
            return await original()
        finally:
            passes.n += 1

    relay.flush_once = counting  # type: ignore[method-assign]
    return passes


def consumer_workers(h: Harness) -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == f"{h.name}-consumer" and not t.done()]


async def test_events_published_quickly_are_handled_in_groups_exactly_once(infra: Infra) -> None:
    gate = Gate()
    async with harness(infra, gate, prefetch=64, batch_max=25) as h:
        await hold_the_gate(h, gate)
        ids = []
        async with h.pool.acquire() as conn, conn.transaction():
            for i in range(150):
                ids.append((await publish(conn, delayed(f"Q-{i}"), source="/test")).id)
        await until(lambda: in_flight(h) == 64)  # the prefetch window is full behind the gate
        gate.opened.set()

        await until_effects(h, 151, 60)
        await until(lambda: consumed(h, "processed") == 151 and in_flight(h) == 0)  # all settled
        effects = await h.effects()
        assert sorted(e["event_id"] for e in effects if e["note"] != "GATE") == sorted(ids)
        assert len(effects) == 151
        assert sorted(gate.calls) == sorted(["GATE", *(f"Q-{i}" for i in range(150))])  # each handler once
        assert await h.pool.fetchval("SELECT count(*) FROM inbox") == 151
        groups = sample("lcs_consumer_batch_size_count", service=h.name)
        assert sample("lcs_consumer_batch_size_sum", service=h.name) == 151
        assert groups < 151 / 2  # far fewer transactions than events
        assert groups_up_to(h, 25) == groups  # never more than batch_max in one group
        assert groups - groups_up_to(h, 10) >= 1  # at least one group of 11..25 events
        assert sample("lcs_events_consumed_total", service=h.name, type="tracking.shipment.delayed.v1",
                      outcome="processed") == 151
        assert in_flight(h) == 0


class SleepLog:
    """shared.consumer's view of asyncio, with a note of every `asyncio.sleep` the module awaits."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        self.delays.append(delay)
        return await asyncio.sleep(delay, result)


async def test_the_consumer_lingers_only_under_load(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    """LCS_CONSUMER_LINGER_MS: a lone event on a quiet queue is handled at once; after a group of
    several (the queue is busy) the worker waits the linger for more before its next group.
    Whether it lingered is what it awaited (an `asyncio.sleep` of the linger), never a duration."""
    linger = 0.317  # a value nothing else in shared.consumer sleeps
    sleeps = SleepLog()
    monkeypatch.setattr(consumer_module, "asyncio", sleeps)

    def lingered() -> int:
        return sleeps.delays.count(linger)

    gate = Gate()
    async with harness(infra, gate, prefetch=64, batch_max=50, linger_ms=linger * 1000) as h:
        async with h.pool.acquire() as conn, conn.transaction():
            await publish(conn, delayed("QUIET-1"), source="/test")
        await until_effects(h, 1, 10)
        assert lingered() == 0  # no linger on a quiet queue

        # A burst, held back while the worker is busy with the gate's event: its next group is the
        # whole burst (a burst let through as it arrives could end in a group of one straggler,
        # which is a quiet queue again).
        gate.calls.clear()
        await hold_the_gate(h, gate)
        async with h.pool.acquire() as conn, conn.transaction():
            for i in range(30):
                await publish(conn, delayed(f"BURST-{i}"), source="/test")
        await until(lambda: in_flight(h) == 31)
        gate.opened.set()
        await until_effects(h, 32, 20)
        assert groups_up_to(h, 1) == 2  # QUIET-1 and GATE alone; the burst in one group
        assert lingered() == 0  # the group after a lone event (GATE) does not linger either
        async with h.pool.acquire() as conn, conn.transaction():
            await publish(conn, delayed("AFTER-BURST"), source="/test")
        await until_effects(h, 33, 20)
        assert lingered() == 1  # busy: the worker lingered for more
        async with h.pool.acquire() as conn, conn.transaction():
            await publish(conn, delayed("QUIET-2"), source="/test")
        await until_effects(h, 34, 10)
        assert lingered() == 1  # that lone event made the queue quiet again
        assert groups_up_to(h, 1) == 4  # AFTER-BURST and QUIET-2 each a group of one


async def test_a_failing_handler_in_a_group_retries_only_its_event(infra: Infra) -> None:
    gate = Gate(fail=frozenset({"POISON"}))
    async with harness(infra, gate, prefetch=64, batch_max=50, retry_delays_ms=[100, 200]) as h:
        await hold_the_gate(h, gate)
        good, poison = [], None
        async with h.pool.acquire() as conn, conn.transaction():
            for i in range(20):
                if i == 10:
                    poison = (await publish(conn, delayed("POISON"), source="/test")).id
                good.append((await publish(conn, delayed(f"G-{i}"), source="/test")).id)
        await until(lambda: in_flight(h) == 22)  # GATE + one group of 21 waiting
        gate.opened.set()

        # the marker: POISON dead-lettered and every delivery settled; then nothing more can run
        await until(lambda: consumed(h, "dead_lettered") == 1 and in_flight(h) == 0, 30)
        await retry_queues_empty(h)
        effects = await h.effects()
        assert sorted(e["event_id"] for e in effects if e["note"] != "GATE") == sorted(good)  # each once
        assert len(effects) == 21
        inbox = {r["event_id"] for r in await h.pool.fetch("SELECT event_id FROM inbox")}
        assert poison not in inbox and len(inbox) == 21
        # The group of 21 ran up to POISON and rolled back; then one by one: the ten before it ran
        # twice (committed once), the ten after it once; POISON failed in the group, alone, and in
        # its two retries.
        assert [gate.calls.count(f"G-{i}") for i in range(20)] == [2] * 10 + [1] * 10
        assert gate.calls.count("POISON") == 4
        # what the handler counted (metrics.count) is what committed: each good event once, POISON never
        counted = [sample("lcs_test_gate_counted_total", run=gate.run, waybill=f"G-{i}") for i in range(20)]
        assert counted == [1.0] * 20
        assert sample("lcs_test_gate_counted_total", run=gate.run, waybill="POISON") == 0
        msgs = await dlq_messages(infra, f"{h.name}.dlq")
        assert [Envelope.model_validate_json(m.body).id for m in msgs] == [poison]
        assert "rule exploded on POISON" in str(msgs[0].headers[ERROR_HEADER])
        by_outcome = {o: sample("lcs_events_consumed_total", service=h.name, type="tracking.shipment.delayed.v1",
                                outcome=o) for o in ("processed", "retried", "dead_lettered", "duplicate")}
        assert by_outcome == {"processed": 21, "retried": 2, "dead_lettered": 1, "duplicate": 0}


async def test_duplicates_in_a_group_and_against_the_inbox_have_one_effect(infra: Infra) -> None:
    gate = Gate()
    async with harness(infra, gate, prefetch=64, batch_max=50) as h:
        a = make_envelope(delayed("A"), "/test")
        await raw_publish(infra, a.to_json())
        await until(lambda: gate.calls == ["A"])
        gate.calls.clear()
        await hold_the_gate(h, gate)
        b, c = make_envelope(delayed("B"), "/test"), make_envelope(delayed("C"), "/test")
        # B twice in one group, A already in the inbox, C new, B a third time
        await raw_publish_many(infra, [b.to_json(), b.to_json(), a.to_json(), c.to_json(), b.to_json()])
        await until(lambda: in_flight(h) == 6)
        gate.opened.set()

        await until_effects(h, 4)
        await until(lambda: consumed(h, "duplicate") == 3 and in_flight(h) == 0)  # all six settled
        effects = await h.effects()
        assert sorted((e["note"], e["event_id"]) for e in effects if e["note"] != "GATE") == sorted(
            [("A", a.id), ("B", b.id), ("C", c.id)])
        assert len(effects) == 4
        assert gate.calls == ["GATE", "B", "C"]  # in delivery order, duplicates skipped
        assert await h.pool.fetchval("SELECT count(*) FROM inbox") == 4
        assert sample("lcs_events_consumed_total", service=h.name, type="tracking.shipment.delayed.v1",
                      outcome="duplicate") == 3
        assert groups_up_to(h, 5) - groups_up_to(h, 2) == 1  # the five came as one group


async def test_stop_finishes_what_was_received_and_leaves_the_rest_in_the_queue(infra: Infra) -> None:
    gate = Gate()
    async with harness(infra, gate, prefetch=32, batch_max=10) as h:
        consumer = h.consumers[0]
        await hold_the_gate(h, gate)
        await raw_publish_many(infra, [make_envelope(delayed(f"S-{i}"), "/test").to_json() for i in range(60)])
        await until(lambda: in_flight(h) == 32)  # GATE + 31 received; 29 still in the queue
        # The consumer's "nothing in flight" event, watched: the marker that stop() has cancelled
        # the subscription and now waits for the received ones is that it awaits this event.
        idle = WatchedEvent()  # cleared, as it is while deliveries are in flight
        consumer._idle = idle
        stopping = asyncio.create_task(consumer.stop(timeout=10))
        await until(lambda: idle.awaited)
        assert not stopping.done()  # it waits for the received ones (the gate holds one)
        gate.opened.set()
        await asyncio.wait_for(stopping, 15)
        effects = await h.effects()
        assert len(effects) == 32 and len({e["event_id"] for e in effects}) == 32
        assert in_flight(h) == 0
        assert consumer_workers(h) == []  # the worker ended with the consumer

        async def ready_again() -> bool:  # quorum queue counters settle a moment after the acks
            return await queue_depth(infra, h.name) == 29
        await eventually(ready_again, what="29 messages ready in the queue")


async def test_a_lost_channel_drops_its_deliveries_and_leaves_one_worker(infra: Infra) -> None:
    """`start()` runs again on every reconnection: the dead channel's worker is cancelled and
    its deliveries are dropped unacked; the broker redelivers them to the new channel."""
    gate = Gate()
    async with harness(infra, gate, prefetch=32, batch_max=10) as h:
        consumer = h.consumers[0]
        await hold_the_gate(h, gate)
        envs = [make_envelope(delayed(f"L-{i}"), "/test") for i in range(20)]
        await raw_publish_many(infra, [e.to_json() for e in envs])
        await until(lambda: in_flight(h) == 21)
        old = consumer._feed
        assert old is not None and old.worker is not None
        await old.channel.close()  # as a broker-side channel error would
        gate.opened.set()

        await until_effects(h, 21, 30)
        await until(lambda: consumed(h, "processed") == 21)
        await quiescent(h)  # the redeliveries all settled, nothing left in the queue
        effects = await h.effects()
        assert sorted(e["event_id"] for e in effects if e["note"] != "GATE") == sorted(e.id for e in envs)
        assert len(effects) == 21
        assert old.worker.done() and consumer._feed is not old
        assert len(consumer_workers(h)) == 1
        assert in_flight(h) == 0
        assert h.buses[0].is_connected


# --- set-based group handlers, and acking a group at once ----------------------------------


DELAYED, RECOVERED = "tracking.shipment.delayed.v1", "tracking.shipment.recovered.v1"


def recovered(no: str) -> ShipmentRecovered:
    return ShipmentRecovered(waybill_no=no, eta=datetime(2026, 12, 1, tzinfo=UTC),
                             promised_at=datetime(2026, 11, 30, tzinfo=UTC))


async def publish_typed(infra: Infra, envelopes: list[Envelope]) -> None:
    """Publish in this order on one connection, each confirmed, routed by its type."""
    await publish_messages(infra, [(aio_pika.Message(env.to_json(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                    env.type) for env in envelopes])


class GroupRecorder:
    """A group handler that records each call's waybills and writes the effects of all in one
    statement; it raises when a run names `fail`."""

    def __init__(self, fail: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail = fail

    async def __call__(self, conn: asyncpg.Connection, events: Any) -> None:
        nos = [event.waybill_no for event, _ in events]
        self.calls.append(nos)
        if self.fail in nos:
            raise RuntimeError(f"set-based rule exploded on {self.fail}")
        await conn.execute("INSERT INTO effects (event_id, note) SELECT * FROM unnest($1::uuid[], $2::text[])",
                           [env.id for _, env in events], [f"group:{n}" for n in nos])


@pytest.fixture
def acks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int | None, bool]]:
    """Every ack the consumers send: (delivery tag, multiple)."""
    sent: list[tuple[int | None, bool]] = []
    original = consumer_module._Incoming.ack

    async def recording(self: Any, multiple: bool = False) -> None:
        sent.append((self.delivery_tag, multiple))
        await original(self, multiple)

    monkeypatch.setattr(consumer_module._Incoming, "ack", recording)
    return sent


async def drained(h: Harness) -> None:
    """Stop the consumer and check that nothing was left unacked (it would be ready again)."""
    await h.consumers[0].stop(timeout=10)

    async def empty() -> bool:  # quorum queue counters settle a moment after the acks
        return await queue_depth(h.infra, h.name) == 0
    await eventually(empty, what="the queue empty after stop()")


async def test_runs_of_a_type_with_a_group_handler_go_to_it_in_one_call(
        infra: Infra, acks: list[tuple[int | None, bool]]) -> None:
    gate, group = Gate(), GroupRecorder()
    one_recovered: list[str] = []

    async def on_recovered(conn: asyncpg.Connection, event: Any, env: Envelope) -> None:
        one_recovered.append(event.waybill_no)
        await conn.execute("INSERT INTO effects (event_id, note) VALUES ($1, $2)", env.id, event.waybill_no)

    async with harness(infra, gate, prefetch=64, batch_max=50, handlers={RECOVERED: on_recovered},
                       group_handlers={DELAYED: group}) as h:
        await hold_the_gate(h, gate)
        d = {n: make_envelope(delayed(n), "/test") for n in ("D1", "D2", "D3", "D4", "D5", "D6")}
        r = {n: make_envelope(recovered(n), "/test") for n in ("R1", "R2")}
        # D2 again (a redelivery) between D3 and D4: not fresh, so D3, D4, D5 are one run
        await publish_typed(infra, [d["D1"], d["D2"], r["R1"], d["D3"], d["D2"], d["D4"], d["D5"], r["R2"],
                                    d["D6"]])
        await until(lambda: in_flight(h) == 10)
        gate.opened.set()

        await until_effects(h, 9)
        # all ten settled: the nine fresh ones processed, the repeated D2 a duplicate
        await until(lambda: consumed(h, "processed") + consumed(h, "processed", RECOVERED) == 9
                    and consumed(h, "duplicate") == 1 and in_flight(h) == 0)
        assert group.calls == [["D1", "D2"], ["D3", "D4", "D5"]]
        assert one_recovered == ["R1", "R2"]
        assert gate.calls == ["GATE", "D6"]  # a run of one takes the one-event handler
        effects = await h.effects()
        assert [e["note"] for e in effects] == ["GATE", "group:D1", "group:D2", "R1", "group:D3", "group:D4",
                                                "group:D5", "R2", "D6"]
        assert await h.pool.fetchval("SELECT count(*) FROM inbox") == 9
        # the lone GATE acked alone, then the group of nine with one ack
        assert [m for _, m in acks] == [False, True]
        assert acks[1][0] == max(tag for tag, _ in acks)
        await drained(h)
        assert in_flight(h) == 0


async def test_a_failing_group_handler_sends_the_group_one_by_one_through_the_event_handler(infra: Infra) -> None:
    gate, group = Gate(), GroupRecorder(fail="BOOM")
    async with harness(infra, gate, prefetch=64, batch_max=50, group_handlers={DELAYED: group}) as h:
        await hold_the_gate(h, gate)
        envs = [make_envelope(delayed(n), "/test") for n in ("B1", "BOOM", "B2")]
        await publish_typed(infra, envs)
        await until(lambda: in_flight(h) == 4)
        gate.opened.set()

        await until_effects(h, 4)
        await until(lambda: consumed(h, "processed") == 4 and in_flight(h) == 0)  # all four settled
        assert group.calls == [["B1", "BOOM", "B2"]]  # rolled back...
        assert gate.calls == ["GATE", "B1", "BOOM", "B2"]  # ...and each handled on its own, once
        assert sorted(e["note"] for e in await h.effects()) == ["B1", "B2", "BOOM", "GATE"]
        assert sample("lcs_events_consumed_total", service=h.name, type=DELAYED, outcome="retried") == 0
        await drained(h)


async def test_a_group_is_acked_one_by_one_while_an_earlier_delivery_is_unsettled(
        infra: Infra, acks: list[tuple[int | None, bool]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed delivery is still being dead-lettered (its DLQ publish hangs) when the valid
    ones after it commit as a group: one `multiple=True` ack would settle it too, before its
    copy is safe in the DLQ. So each is acked on its own; the channel stays healthy."""
    gate = Gate()
    dlq_open = asyncio.Event()
    original = Bus.send_to_queue

    async def slow_dlq(self: Bus, queue: str, *args: Any, **kw: Any) -> None:
        if queue.endswith(".dlq"):
            await dlq_open.wait()
        await original(self, queue, *args, **kw)

    monkeypatch.setattr(Bus, "send_to_queue", slow_dlq)
    async with harness(infra, gate, prefetch=64, batch_max=50) as h:
        await hold_the_gate(h, gate)
        good = [make_envelope(delayed(f"G-{i}"), "/test") for i in range(5)]
        await raw_publish_many(infra, [b"{not json", *(e.to_json() for e in good)])
        await until(lambda: in_flight(h) == 7)  # GATE, the malformed one, five good
        gate.opened.set()

        await until_effects(h, 6)
        await until(lambda: len(acks) >= 6)
        assert not any(multiple for _, multiple in acks)  # GATE, then G-0..G-4 each on its own
        dlq_open.set()
        await until(lambda: in_flight(h) == 0)
        later = [make_envelope(delayed(f"L-{i}"), "/test") for i in range(3)]
        await raw_publish_many(infra, [e.to_json() for e in later])

        await until_effects(h, 9)
        assert len(await dlq_messages(infra, f"{h.name}.dlq")) == 1
        await drained(h)
        assert h.buses[0].is_connected


def rabbit(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=120)


async def test_event_committed_while_broker_is_down_is_delivered_after_restart(infra: Infra) -> None:
    """The broker stops, a business change commits, the broker restarts: the relay and
    the consumer come back by themselves and the event is applied once."""
    async with harness(infra) as h:
        await asyncio.to_thread(rabbit, "stop_app")
        try:
            # The marker: the relay has run its loop twice since the commit (one full pass saw
            # the row), with the bus disconnected all along.
            await until(lambda: not h.buses[0].is_connected)
            passes = count_passes(h.relays[0])
            async with h.pool.acquire() as conn, conn.transaction():
                env = await publish(conn, delayed("WHILE-DOWN"), source="/test")
            after_commit = passes.n
            await until(lambda: passes.n >= after_commit + 2)
            assert not h.buses[0].is_connected
            assert await h.pool.fetchval("SELECT sent_at FROM outbox WHERE id = $1", env.id) is None
        finally:
            await asyncio.to_thread(rabbit, "start_app")
            await asyncio.to_thread(rabbit, "await_startup")

        async def applied() -> bool:
            return [e["event_id"] for e in await h.effects()] == [env.id]
        await eventually(applied, timeout=60)
        # and the consumer keeps consuming after the restart
        async with h.pool.acquire() as conn, conn.transaction():
            env2 = await publish(conn, delayed("AFTER-RESTART"), source="/test")

        async def applied2() -> bool:
            return env2.id in [e["event_id"] for e in await h.effects()]
        await eventually(applied2, timeout=30)
