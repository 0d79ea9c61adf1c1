"""In-process fan-out of live messages to every open SSE stream of this replica.

One consumer per deployment (the `web` queue) handles each event once and announces it with
PostgreSQL `NOTIFY web_live` inside its transaction; every replica LISTENs and hands the
message to its `LiveHub`, which copies it into each open stream's bounded queue, filtered
for the stream's person:

- desk roles (admin, supervisor, staff) see every message;
- a branch sees a message that names its station; a message that names no station reaches
  it only as a bare "something changed in <topic>" without waybill or text, and the page
  re-reads its lists through the backends, whose scope rules decide what it shows;
- a stream too slow to keep up is told to reload (and closed) instead of silently losing
  messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import Gauge

STREAMS = Gauge("lcs_web_sse_streams", "Open Server-Sent Events streams on this replica")

TOPICS = ("delays", "recoveries", "shipments", "exceptions", "stale", "complaints", "sla", "receipts",
          "notifications")


@dataclass(frozen=True)
class LiveMessage:
    topic: str
    event_type: str
    waybill: str | None = None
    complaint_id: str | None = None
    stations: tuple[str, ...] = ()
    text_zh: str = ""
    text_en: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> LiveMessage:
        data: dict[str, Any] = json.loads(raw)
        data["stations"] = tuple(data.get("stations") or ())
        return cls(**data)

    def bare(self) -> LiveMessage:
        return LiveMessage(topic=self.topic, event_type=self.event_type)


@dataclass(frozen=True)
class Audience:
    role: str
    branch: str | None


def visible(message: LiveMessage, audience: Audience) -> LiveMessage | None:
    """What of `message` the audience may see (None: nothing)."""
    if audience.role in ("admin", "supervisor", "staff"):
        return message
    if audience.role == "branch":
        if audience.branch and audience.branch in message.stations:
            return message
        return message.bare()
    return None


CLOSE = LiveMessage(topic="_close", event_type="")
RELOAD = LiveMessage(topic="_reload", event_type="")


@dataclass(eq=False)
class Stream:
    audience: Audience
    queue: asyncio.Queue[LiveMessage] = field(default_factory=lambda: asyncio.Queue(256))


class LiveHub:
    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self.streams: set[Stream] = set()
        self.closed = False

    def open(self, audience: Audience) -> Stream:
        stream = Stream(audience, asyncio.Queue(self.queue_size))
        self.streams.add(stream)
        STREAMS.set(len(self.streams))
        return stream

    def close(self, stream: Stream) -> None:
        self.streams.discard(stream)
        STREAMS.set(len(self.streams))

    def publish(self, message: LiveMessage) -> int:
        delivered = 0
        for stream in list(self.streams):
            shown = visible(message, stream.audience)
            if shown is None:
                continue
            try:
                stream.queue.put_nowait(shown)
                delivered += 1
            except asyncio.QueueFull:
                self._overflow(stream)
        return delivered

    def _overflow(self, stream: Stream) -> None:
        # Drop what waits and tell the page to re-read everything: no item is silently lost.
        while not stream.queue.empty():
            stream.queue.get_nowait()
        with contextlib.suppress(asyncio.QueueFull):
            stream.queue.put_nowait(RELOAD)

    def shutdown(self) -> None:
        """Ends every stream (SIGTERM): the pages reconnect to another replica."""
        self.closed = True
        for stream in list(self.streams):
            while not stream.queue.empty():
                stream.queue.get_nowait()
            stream.queue.put_nowait(CLOSE)
