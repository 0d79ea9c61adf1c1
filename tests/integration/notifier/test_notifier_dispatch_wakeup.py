"""The dispatcher sends at the commit's NOTIFY, not at its next poll: a behaviour, checked as one.

The dispatcher runs in-process against the real database with a poll interval of an hour and a
stand-in for the sending use case (what it sends is not the point here). Once it is waiting, a
notification becomes due and `pg_notify` is sent on its channel, as the consumer's insert
transaction does at commit: if the notification is sent, only the wake-up can have sent it.
(Other sessions' commits may wake it too: a wake-up all the same.)
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import asyncpg
import pytest

from services.notifier.delivery import repository, service
from services.notifier.delivery.dispatcher import Dispatcher
from services.notifier.settings import NotifierSettings
from tests.conftest import Infra
from tests.support.wait import eventually

AN_HOUR = 3600.0


class _Pool:
    """Answers the dispatcher's "when is the next notification due?": none is, so it would
    sleep a whole poll interval."""

    def __init__(self) -> None:
        self.asked = 0

    async def fetchval(self, *args: Any) -> None:
        self.asked += 1
        return None


class _Http:
    async def aclose(self) -> None:
        return None


class _Context:
    http = _Http()


class _Runtime:
    """What the dispatcher uses of the notifier's runtime."""

    def __init__(self, database_url: str) -> None:
        self.settings = NotifierSettings(env="dev", database_url=database_url, dispatch_concurrency=2,
                                         dispatch_poll_seconds=AN_HOUR)
        self.pool = _Pool()
        self.context = _Context()
        self.due = 0
        self.sent = 0

    async def dispatch_one(self, rt: object) -> bool:
        if not self.due:
            return False
        self.due -= 1
        self.sent += 1
        return True


async def test_a_notification_is_sent_at_the_commits_wake_up_not_at_the_next_poll(
        infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = _Runtime(infra.database_url)
    monkeypatch.setattr(service, "dispatch_one", rt.dispatch_one)
    dispatcher = Dispatcher(rt)  # type: ignore[arg-type]
    conn = await asyncpg.connect(infra.database_url)
    task = asyncio.create_task(dispatcher.run())
    try:
        # The marker that it listens and waits: it has asked for the next due time (after
        # connecting its listener and taking what was due, i.e. nothing), so it sleeps now.
        await eventually(lambda: rt.pool.asked >= 1, what="the dispatcher waiting")
        assert rt.sent == 0
        rt.due = 1
        await conn.execute("SELECT pg_notify($1, '')", repository.DISPATCH_CHANNEL)
        await eventually(lambda: rt.sent == 1, what="sent on the wake-up")
        assert not task.done()
    finally:
        await conn.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
