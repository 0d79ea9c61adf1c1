"""Ceiling C3: raw aio-pika, persistent messages with publisher confirms into a quorum queue,
consumed with acks — publisher and consumer in separate processes, like the relay (tracking)
and the consumer (receipts) are.

    python -m bench.amqp_ceiling consume URL QUEUE N PREFETCH   # prints "ready", then the last ack time
    python -m bench.amqp_ceiling publish URL QUEUE N WINDOW SIZE  # prints the first publish time

The publisher sends in windows of WINDOW messages whose confirms are awaited together
(what the outbox relay does with its batch); the consumer acks one by one with the
services' prefetch.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aio_pika


async def consume(url: str, queue_name: str, n: int, prefetch: int) -> None:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
        done = asyncio.Event()
        count = 0
        last = 0.0

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal count, last
            await message.ack()
            count += 1
            if count >= n:
                last = time.time()
                done.set()

        await queue.consume(on_message)
        print("ready", flush=True)
        await asyncio.wait_for(done.wait(), 300)
        print(json.dumps({"last_ack": last, "count": count}), flush=True)
    finally:
        await connection.close()


async def publish(url: str, queue_name: str, n: int, window: int, size: int) -> None:
    connection = await aio_pika.connect(url, timeout=10)
    try:
        channel = await connection.channel(publisher_confirms=True)
        body = b"x" * size
        first = time.time()
        sent = 0
        while sent < n:
            k = min(window, n - sent)
            await asyncio.gather(*(channel.default_exchange.publish(
                aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                 content_type="application/cloudevents+json"),
                routing_key=queue_name, timeout=30) for _ in range(k)))
            sent += k
        print(json.dumps({"first_publish": first, "published": sent, "end": time.time()}), flush=True)
    finally:
        await connection.close()


def main() -> None:
    try:
        import uvloop
        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    cmd, url, queue, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if cmd == "consume":
        asyncio.run(consume(url, queue, n, int(sys.argv[5])))
    else:
        asyncio.run(publish(url, queue, n, int(sys.argv[5]), int(sys.argv[6])))


if __name__ == "__main__":
    main()
