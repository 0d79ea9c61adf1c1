"""Waiting in tests: on something observable, never on the clock.

Two shapes, each in an async and a sync flavour:

- `eventually(probe)`: something must *happen*. Poll `probe` (sync or async) until it returns
  something truthy (or stops raising `AssertionError`) and return that value; after `timeout`
  seconds fail with the last value or error. The timeout only bounds a hang: nothing is ever
  asserted about how long it took.

- `holds_after(check, marker=...)`: something must *not* happen (again). Such a claim proves
  nothing after a fixed pause, so first wait for a positive `marker`: an effect that can only
  be observed once everything that could break `check` has been handled (a sentinel event
  published behind the duplicates has been processed, the poison message sits in the DLQ, a
  metric reached its final count). Then evaluate `check` once.

A probe that raises one of `retry_on` (e.g. a connection refused while a server restarts) is
polled again as well. This module holds the suite's only polling pause.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

TIMEOUT = 30.0
FIRST_PAUSE = 0.01  # the pause between polls doubles from this ...
MAX_PAUSE = 0.25  # ... up to this: quick when the effect is quick, light when it is not

Probe = Callable[[], Any]


class NotYet(AssertionError):
    """The awaited condition did not hold within the timeout."""


def _describe(probe: Probe, what: str | None) -> str:
    return what or getattr(probe, "__qualname__", None) or repr(probe)


def _failure(probe: Probe, what: str | None, timeout: float, last: Any, error: BaseException | None) -> NotYet:
    detail = f"last error: {error!r}" if error is not None else f"last value: {last!r}"
    return NotYet(f"{_describe(probe, what)}: not true within {timeout:g} s; {detail}"[:4000])


class _Poll:
    """One wait's bookkeeping, the same in both flavours: the last value or error, the deadline,
    and the pause between polls."""

    def __init__(self, probe: Probe, *, timeout: float, what: str | None,
                 retry_on: tuple[type[BaseException], ...], clock: Callable[[], float]) -> None:
        self.probe, self.timeout, self.what, self.retry_on, self.clock = probe, timeout, what, retry_on, clock
        self.deadline = clock() + timeout
        self.pause = FIRST_PAUSE
        self.value: Any = None
        self.error: BaseException | None = None

    @contextmanager
    def attempt(self) -> Iterator[None]:
        """Around one poll, which sets `value`: a failed assertion or a `retry_on` error is kept
        as `error` (and `value` stays None) for the next poll to try again."""
        self.value, self.error = None, None
        again: tuple[type[BaseException], ...] = (AssertionError, *self.retry_on)
        try:
            yield
        except again as exc:
            self.error = exc

    def next_pause(self) -> float:
        """The pause before the next poll; past the deadline, NotYet with the last value or error."""
        if self.clock() >= self.deadline:
            raise _failure(self.probe, self.what, self.timeout, self.value, self.error) from self.error
        pause, self.pause = self.pause, min(self.pause * 2, MAX_PAUSE)
        return pause


async def eventually(probe: Probe, *, timeout: float = TIMEOUT, what: str | None = None,
                     retry_on: tuple[type[BaseException], ...] = ()) -> Any:
    """Poll `probe()` (a value or an awaitable) until it is truthy; return that value."""
    poll = _Poll(probe, timeout=timeout, what=what, retry_on=retry_on, clock=asyncio.get_running_loop().time)
    while True:
        with poll.attempt():
            value = probe()
            poll.value = await value if inspect.isawaitable(value) else value
        if poll.value:
            return poll.value
        await asyncio.sleep(poll.next_pause())  # the poll interval (the one pause of the suite's waits)


def eventually_sync(probe: Callable[[], T], *, timeout: float = TIMEOUT, what: str | None = None,
                    retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """`eventually` for synchronous tests (the probe must not return an awaitable)."""
    poll = _Poll(probe, timeout=timeout, what=what, retry_on=retry_on, clock=time.monotonic)
    while True:
        with poll.attempt():
            poll.value = probe()
        if poll.value:
            return poll.value
        time.sleep(poll.next_pause())  # the poll interval (the one pause of the suite's waits)


async def holds_after(check: Probe, *, marker: Probe, timeout: float = TIMEOUT, what: str | None = None,
                      retry_on: tuple[type[BaseException], ...] = ()) -> Any:
    """Wait until `marker` holds, then evaluate `check` once: it must be truthy (or not raise)."""
    await eventually(marker, timeout=timeout, what=f"marker of {_describe(check, what)}", retry_on=retry_on)
    value = check()
    if inspect.isawaitable(value):
        value = await value
    if not value:
        raise AssertionError(f"{_describe(check, what)}: false once the marker held; value: {value!r}")
    return value


def holds_after_sync(check: Callable[[], T], *, marker: Callable[[], Any], timeout: float = TIMEOUT,
                     what: str | None = None, retry_on: tuple[type[BaseException], ...] = ()) -> T:
    """`holds_after` for synchronous tests."""
    eventually_sync(marker, timeout=timeout, what=f"marker of {_describe(check, what)}", retry_on=retry_on)
    value = check()
    if not value:
        raise AssertionError(f"{_describe(check, what)}: false once the marker held; value: {value!r}")
    return value
