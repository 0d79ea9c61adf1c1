"""The DLQ tool against the real RabbitMQ: `python -m shared.dlq list / replay / purge`
run as a real process on the test vhost, and the queue-depth sampler's passive declares."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from shared import metrics
from shared.bus import ATTEMPT_HEADER, ERROR_HEADER, ROUTING_KEY_HEADER, Bus, quorum_args
from shared.queue_metrics import QueueDepthSampler, observe_queue_depths
from tests.conftest import Infra, queue_depth
from tests.support.wait import NotYet, eventually

ROOT = Path(__file__).resolve().parents[2]


def dlq_cli(infra: Infra, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LCS_ENV": "dev", "LCS_AMQP_URL": infra.amqp_url}
    return subprocess.run([sys.executable, "-m", "shared.dlq", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


async def declare_service_queues(infra: Infra, service: str) -> None:
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        ch = await conn.channel()
        for name in (service, f"{service}.retry.1", f"{service}.dlq"):
            await ch.declare_queue(name, durable=True, arguments=quorum_args())


async def put_dead_letter(infra: Infra, service: str, *, type_: str, error: str, attempt: int = 3) -> str:
    message_id = str(uuid.uuid4())
    body = json.dumps({"id": message_id, "type": type_, "specversion": "1.0", "source": "/test",
                       "data": {"waybill_no": "DLQ-1"}}).encode()
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        await ch.default_exchange.publish(aio_pika.Message(
            body, message_id=message_id, type=type_, content_type="application/cloudevents+json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers={ERROR_HEADER: error, ATTEMPT_HEADER: attempt, ROUTING_KEY_HEADER: type_,
                     "x-lcs-dead-lettered-at": "2026-11-28T00:00:00+00:00"}), routing_key=f"{service}.dlq")
    return message_id


async def drain(infra: Infra, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    conn = await aio_pika.connect(infra.amqp_url)
    got = []
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(queue, passive=True)
        for _ in range(1000):
            m = await q.get(no_ack=True, fail=False)
            if m is None:
                break
            got.append(m)
    return got


async def wait_depth(infra: Infra, queue: str, expected: int, timeout: float = 10) -> int:
    """The queue's depth once it is `expected` (quorum queue counters settle a moment after an
    ack), or the last depth seen when it never became that."""
    seen = [-1]

    async def depth_is_expected() -> bool:
        seen[0] = await queue_depth(infra, queue)
        return seen[0] == expected
    with contextlib.suppress(NotYet):
        await eventually(depth_is_expected, timeout=timeout)
    return seen[0]


async def test_list_replay_purge_move_dead_letters_back_to_the_service_queue(infra: Infra) -> None:
    svc = f"svcx_{uuid.uuid4().hex[:8]}"
    await declare_service_queues(infra, svc)
    delayed_ids = [await put_dead_letter(infra, svc, type_="tracking.shipment.delayed.v1",
                                         error="RuntimeError: downstream exploded") for _ in range(3)]
    other_id = await put_dead_letter(infra, svc, type_="tracking.shipment.arrived.v1",
                                     error="malformed: data.arrived_at missing")

    listed = dlq_cli(infra, "list", svc, "--peek", "2", "--json")
    assert listed.returncode == 0, listed.stderr
    summary: dict[str, Any] = json.loads(listed.stdout)
    assert summary["count"] == 4
    assert summary["by_reason"] == {"RuntimeError": 3, "malformed": 1}
    assert summary["by_type"] == {"tracking.shipment.delayed.v1": 3, "tracking.shipment.arrived.v1": 1}
    assert len(summary["peek"]) == 2 and "downstream exploded" in summary["peek"][0]["error"]
    assert await wait_depth(infra, f"{svc}.dlq", 4) == 4  # looking consumed nothing
    human = dlq_cli(infra, "list", svc)
    assert human.returncode == 0 and "4 message(s)" in human.stdout and "RuntimeError" in human.stdout

    # Replay only one type, at most two of it.
    replayed = dlq_cli(infra, "replay", svc, "--type", "tracking.shipment.delayed.v1", "--limit", "2")
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 2 message(s)" in replayed.stdout
    assert await wait_depth(infra, f"{svc}.dlq", 2) == 2
    back = await drain(infra, svc)
    assert sorted(m.message_id for m in back) == sorted(delayed_ids[:2])
    for m in back:
        headers = m.headers or {}
        assert headers[ATTEMPT_HEADER] == 0  # the full retry path again
        assert ERROR_HEADER not in headers and "x-lcs-dead-lettered-at" not in headers
        assert "x-lcs-replayed-at" in headers
        assert m.type == "tracking.shipment.delayed.v1"
        assert json.loads(m.body)["id"] == m.message_id  # body untouched

    # Replay the rest.
    rest = dlq_cli(infra, "replay", svc)
    assert rest.returncode == 0, rest.stderr
    assert "replayed 2 message(s)" in rest.stdout
    assert await wait_depth(infra, f"{svc}.dlq", 0) == 0
    assert sorted(m.message_id for m in await drain(infra, svc)) == sorted([delayed_ids[2], other_id])

    # Purge needs --yes.
    await put_dead_letter(infra, svc, type_="tracking.shipment.delayed.v1", error="x")
    refused = dlq_cli(infra, "purge", svc)
    assert refused.returncode == 2 and await wait_depth(infra, f"{svc}.dlq", 1) == 1
    purged = dlq_cli(infra, "purge", svc, "--yes")
    assert purged.returncode == 0 and "purged 1 message(s)" in purged.stdout
    assert await wait_depth(infra, f"{svc}.dlq", 0) == 0


async def test_replay_of_an_unknown_service_fails_loudly_and_changes_nothing(infra: Infra) -> None:
    svc = f"svcx_{uuid.uuid4().hex[:8]}"
    r = dlq_cli(infra, "replay", svc)
    assert r.returncode == 1 and "does not exist" in r.stderr
    # DLQ exists but the service queue does not: nothing leaves the DLQ
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        ch = await conn.channel()
        await ch.declare_queue(f"{svc}.dlq", durable=True, arguments=quorum_args())
    await put_dead_letter(infra, svc, type_="tracking.shipment.delayed.v1", error="x")
    r = dlq_cli(infra, "replay", svc)
    assert r.returncode == 1
    assert await wait_depth(infra, f"{svc}.dlq", 1) == 1


@pytest.mark.parametrize("retry_levels", [2])
async def test_queue_depth_gauge_reads_service_retry_and_dead_letter_queues(infra: Infra, retry_levels: int) -> None:
    svc = f"svcx_{uuid.uuid4().hex[:8]}"
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        ch = await conn.channel(publisher_confirms=True)
        for name in (svc, f"{svc}.retry.1", f"{svc}.retry.2", f"{svc}.dlq"):
            await ch.declare_queue(name, durable=True, arguments=quorum_args())
        for _ in range(3):
            await ch.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=svc)
        await ch.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=f"{svc}.dlq")
        probe = await conn.channel()
        depths = await observe_queue_depths(probe, svc, retry_levels)
    assert depths == {svc: 3, f"{svc}.retry.1": 0, f"{svc}.retry.2": 0, f"{svc}.dlq": 1}
    assert metrics.CONSUMER_LAG.labels(svc, f"{svc}.dlq")._value.get() == 1
    assert metrics.CONSUMER_LAG.labels(svc, svc)._value.get() == 3


async def test_queue_depth_sampler_follows_the_bus_connection(infra: Infra) -> None:
    """The sampler as the runtime runs it: on the service's Bus, every `interval` seconds."""
    svc = f"svcx_{uuid.uuid4().hex[:8]}"
    bus = Bus(infra.amqp_url, service=svc)
    sampler = QueueDepthSampler(bus, service=svc, retry_levels=1, interval=0.2)
    failed: list[BaseException] = []
    sample_once = sampler.sample_once

    async def noting_failures() -> dict[str, int] | None:
        try:
            return await sample_once()
        except Exception as exc:
            failed.append(exc)
            raise

    sampler.sample_once = noting_failures  # type: ignore[method-assign]
    tasks = [asyncio.create_task(bus.run()), asyncio.create_task(sampler.run())]
    try:
        await asyncio.wait_for(bus.connected.wait(), 20)
        # queues missing: two samples have failed (quietly), and the bus stays connected
        await eventually(lambda: len(failed) >= 2)
        assert bus.is_connected
        conn = await aio_pika.connect(infra.amqp_url)
        async with conn:
            ch = await conn.channel(publisher_confirms=True)
            for name in (svc, f"{svc}.retry.1", f"{svc}.dlq"):
                await ch.declare_queue(name, durable=True, arguments=quorum_args())
            for _ in range(2):
                await ch.default_exchange.publish(aio_pika.Message(b"{}"), routing_key=f"{svc}.dlq")
        await eventually(lambda: metrics.CONSUMER_LAG.labels(svc, f"{svc}.dlq")._value.get() == 2,
                         what="the DLQ's sampled depth is 2")
        assert metrics.CONSUMER_LAG.labels(svc, svc)._value.get() == 0
    finally:
        await sampler.stop()
        await bus.stop()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
