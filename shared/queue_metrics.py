"""Consumer lag: how many messages wait in a service's queues, for `lcs_consumer_queue_depth`.

A `QueueDepthSampler` rides on the service's `Bus`: it learns the connection on every
(re)connection and, every `interval` seconds, passively declares the service queue, its
delay queues and its DLQ (`message_count` = messages ready, not the unacked in flight)
and sets the gauge `{service, queue}`. Passive declares create nothing and change
nothing; a queue that does not exist closes only the sampler's own channel, which is
not watched by the bus, so it never triggers a reconnect of the service.

Every replica reports the same numbers (the queues are shared): alert on `max by
(service, queue)`, not on `sum`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aio_pika.abc import AbstractChannel, AbstractConnection

from shared import metrics
from shared.bus import Bus

log = logging.getLogger("lcs.queue_metrics")


def service_queues(service: str, retry_levels: int) -> list[str]:
    """The queues of one consuming service, in the order a message travels them."""
    return [service, *(f"{service}.retry.{n}" for n in range(1, retry_levels + 1)), f"{service}.dlq"]


async def observe_queue_depths(channel: AbstractChannel, service: str, retry_levels: int) -> dict[str, int]:
    """Passively declare each queue of `service` and set the gauge; returns the depths seen.

    A queue that does not exist (yet) raises and closes `channel`; the caller opens a new one.
    """
    depths: dict[str, int] = {}
    for name in service_queues(service, retry_levels):
        queue = await channel.declare_queue(name, passive=True)
        depth = int(queue.declaration_result.message_count or 0)
        metrics.CONSUMER_LAG.labels(service, name).set(depth)
        depths[name] = depth
    return depths


class QueueDepthSampler:
    """Samples the queue depths of one service every `interval` seconds while connected."""

    def __init__(self, bus: Bus, *, service: str, retry_levels: int, interval: float = 15.0) -> None:
        self.bus = bus
        self.service = service
        self.retry_levels = retry_levels
        self.interval = interval
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._stopping = False
        bus.on_connect(self._attach)  # after the consumer's own callback: its queues exist by then

    async def _attach(self, connection: AbstractConnection) -> None:
        self._connection = connection
        self._channel = None

    async def sample_once(self) -> dict[str, int] | None:
        connection = self._connection
        if connection is None or connection.is_closed or not self.bus.is_connected:
            return None
        if self._channel is None or self._channel.is_closed:
            self._channel = await connection.channel()
        try:
            return await asyncio.wait_for(
                observe_queue_depths(self._channel, self.service, self.retry_levels), 10)
        except Exception:
            self._channel = None  # a failed passive declare closed it; a fresh one next time
            raise

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self.sample_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a metric must never take the service down
                log.debug("queue depth sample failed", extra={"error": repr(exc)})
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        self._stopping = True
        channel, self._channel = self._channel, None
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await channel.close()
