"""Hostile messages on the bus are dead-lettered, not crashed on or looped (issue 7, point 7).

Onto `lcs.events`, with a routing key each consuming service is bound to, the test
publishes: bytes that are not JSON, JSON that is not an envelope, an envelope whose data
has the wrong schema, an unknown version of the type, and a body over the size limit.
Each consuming service must move every one of them to `<svc>.dlq` with an `x-lcs-error`
header, stay ready, and go on processing good events (a shipment registered through the
tracking API afterwards reaches every consumer's inbox)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import asyncpg
import httpx
import orjson

from shared.bus import ERROR_HEADER, MAX_EVENT_BYTES
from shared.devtools.stack import Stack
from shared.events import EVENT_TYPES, ShipmentRegistered
from tests.conftest import Infra, run_sync
from tests.security.conftest import Flow
from tests.security.support import running, wait_for

EXCHANGE = "lcs.events"


def _bindings(vhost: str) -> dict[str, list[str]]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_bindings", "-p", vhost, "source_name", "destination_name",
                          "routing_key"], capture_output=True, text=True, timeout=60, check=True).stdout
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0] == EXCHANGE:
            found.setdefault(parts[1], []).append(parts[2])
    return found


def _queue_consumers(vhost: str) -> dict[str, int]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "consumers"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    result = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[1].isdigit():
            result[parts[0]] = int(parts[1])
    return result


def _pick_key(keys: list[str]) -> str:
    """A bound type whose payload has required fields (so `{}` is a wrong schema)."""
    if ShipmentRegistered.TYPE in keys:
        return ShipmentRegistered.TYPE
    for key in sorted(keys):
        model = EVENT_TYPES.get(key)
        if model is not None and any(f.is_required() for f in model.model_fields.values()):
            return key
    return sorted(keys)[0]


def _envelope(type_: str, data: dict[str, Any]) -> bytes:
    return orjson.dumps({"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/lcs/security-test",
                         "type": type_, "time": datetime.now(UTC).isoformat(), "subject": "SEC",
                         "datacontenttype": "application/json", "data": data})


def hostile_bodies(key: str) -> dict[str, bytes]:
    return {
        "garbage": b"\x00\xff\xfe not json at all {{{",
        "json_not_envelope": b"[1, 2, 3]",
        "envelope_missing_fields": orjson.dumps({"type": key, "data": {}}),
        "wrong_schema": _envelope(key, {"unexpected": True, "waybill_no": {"nested": [1, 2]}}),
        "unknown_version": _envelope(key.rsplit(".v", 1)[0] + ".v99", {}),
        "huge": _envelope(key, {"padding": "x" * (MAX_EVENT_BYTES + 100_000)}),
    }


async def _collect_dlq(channel: aio_pika.abc.AbstractChannel, queue: str, wanted: set[str],
                       timeout: float) -> dict[str, dict[str, Any]]:
    """Read the DLQ without acking (the messages go back when the channel closes)."""
    found: dict[str, dict[str, Any]] = {}
    q = await channel.get_queue(queue, ensure=True)
    done = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        if message.message_id in wanted:
            found[message.message_id] = dict(message.headers or {})
            if wanted <= set(found):
                done.set()

    tag = await q.consume(on_message)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), timeout)
    await q.cancel(tag)
    return found


async def _fetchval(database_url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def _inbox_has(database_url: str, schema: str, event_id: uuid.UUID) -> bool:
    return bool(run_sync(_fetchval(database_url, f'SELECT 1 FROM "{schema}".inbox WHERE event_id = $1',
                                      event_id)))


async def _publish_and_collect(infra: Infra, consumers: dict[str, list[str]]) -> list[str]:
    problems: list[str] = []
    connection = await aio_pika.connect(infra.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(EXCHANGE)
        sent: dict[str, dict[str, str]] = {}
        for svc, keys in consumers.items():
            key = _pick_key(keys)
            sent[svc] = {}
            for kind, body in hostile_bodies(key).items():
                message_id = f"sec-{svc}-{kind}-{uuid.uuid4().hex[:8]}"
                sent[svc][message_id] = f"{kind} on {key}"
                await exchange.publish(aio_pika.Message(body, message_id=message_id, type=key,
                                                        content_type="application/cloudevents+json"),
                                       routing_key=key)
        for svc, ids in sent.items():
            dlq_channel = await connection.channel()
            found = await _collect_dlq(dlq_channel, f"{svc}.dlq", set(ids), timeout=30)
            await dlq_channel.close()
            for message_id, what in ids.items():
                headers = found.get(message_id)
                if headers is None:
                    problems.append(f"{svc}: {what} did not reach {svc}.dlq within 30 s")
                elif not str(headers.get(ERROR_HEADER) or ""):
                    problems.append(f"{svc}: {what} dead-lettered without an {ERROR_HEADER} header: {headers}")
    finally:
        await connection.close()

    return problems


def test_hostile_messages_are_dead_lettered_and_good_ones_still_processed(stack: Stack, infra: Infra,
                                                                                flow: Flow) -> None:
    up = running(stack)
    consumers = {svc: keys for svc, keys in _bindings(infra.run_id).items() if svc in up}
    assert consumers, f"no running service ({up}) consumes anything from {EXCHANGE}"
    problems = run_sync(_publish_and_collect(infra, consumers))
    for svc in consumers:
        if not stack.procs[svc].running:
            problems.append(f"{svc}: the process died")
        elif httpx.get(f"{stack.url(svc)}/readyz", timeout=5).status_code != 200:
            problems.append(f"{svc}: not ready after the hostile messages")
    # RabbitMQ refreshes the consumer counts it reports every few seconds: ask for a while
    counts = wait_for(lambda: _queue_consumers(infra.run_id),
                      lambda c: all(c.get(svc, 0) >= 1 for svc in consumers), timeout=15)
    for svc in consumers:
        if counts.get(svc, 0) < 1:
            problems.append(f"{svc}: queue {svc} has no consumer any more")

    # good events still flow: register a shipment, then every consumer of the type records it in its inbox
    takers = [svc for svc, keys in consumers.items() if ShipmentRegistered.TYPE in keys]
    if "tracking" in up and takers and flow.ok("register"):
        waybill = f"WG{uuid.uuid4().hex[:8].upper()}"
        body = orjson.loads(flow.steps["register"].request.content)
        body.update(waybill_no=waybill, promised_at=(datetime.now(UTC) + timedelta(days=2)).isoformat())
        r = httpx.post(f"{stack.url('tracking')}/v1/shipments", json=body, timeout=10,
                       headers=infra.headers("branch", branch=flow.origin))
        assert r.status_code == 201, r.text
        event_id = run_sync(_fetchval(infra.database_url,
                                         "SELECT id FROM tracking.outbox WHERE type = $1 AND body LIKE $2",
                                         ShipmentRegistered.TYPE, f"%{waybill}%"))
        assert event_id is not None, "tracking wrote no registered event to its outbox"
        for svc in takers:
            if not wait_for(lambda svc=svc: _inbox_has(infra.database_url, svc, event_id), bool, timeout=30):
                problems.append(f"{svc}: a good {ShipmentRegistered.TYPE} after the hostile ones was not processed")
    assert not problems, "\n".join(problems)
