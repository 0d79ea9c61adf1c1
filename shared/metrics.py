"""Prometheus metrics of the platform (`lcs_` prefix, base units, `_total` counters).

Service-specific metrics live in the services; these are the ones an operator
alerts on for every service: HTTP, outbox backlog, consumer outcomes, retries, DLQ.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No `_created` series: a counter's or histogram's creation time as a sample of its own doubles
# the series an operator stores and nobody alerts on it (the process start time is in
# `process_start_time_seconds`). Read when samples are collected, so it covers every metric.
disable_created_metrics()

HTTP_REQUESTS = Counter("lcs_http_requests_total", "HTTP requests answered",
                        ["service", "method", "route", "status"])
HTTP_DURATION = Histogram("lcs_http_request_duration_seconds", "HTTP request duration",
                          ["service", "method", "route"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


class RouteMetrics:
    """A service's HTTP request metrics (`HTTP_REQUESTS`, `HTTP_DURATION`) as the guard records
    them for a request of the full stack (`shared.guard`), and a fast or direct route
    (`shared.fastpath`) under its path as the route template.

    Why it keeps the labelled children: `labels()` takes a lock and hashes the label values on
    every call, twice a request (about 2% of web's CPU on the public tracking page, figure 9's
    profile)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._durations: dict[tuple[str, str], Any] = {}
        self._counts: dict[tuple[str, str, int], Any] = {}

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        count = self._counts.get((method, path, status))
        if count is None:
            count = self._counts[(method, path, status)] = HTTP_REQUESTS.labels(self.service, method, path, str(status))
        duration = self._durations.get((method, path))
        if duration is None:
            duration = self._durations[(method, path)] = HTTP_DURATION.labels(self.service, method, path)
        count.inc()
        duration.observe(seconds)


EVENTS_PUBLISHED = Counter("lcs_events_published_total", "Events published from the outbox (confirmed)",
                           ["service", "type"])
OUTBOX_BACKLOG = Gauge("lcs_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge("lcs_outbox_oldest_unsent_age_seconds", "Age of the oldest unsent outbox row",
                          ["service"])
EVENTS_CONSUMED = Counter("lcs_events_consumed_total", "Events consumed, by outcome",
                          ["service", "type", "outcome"])  # processed | duplicate | retried | dead_lettered
CONSUMER_IN_FLIGHT = Gauge("lcs_consumer_in_flight", "Events received and not yet acked (waiting or being handled)",
                           ["service"])
CONSUMER_LAG = Gauge("lcs_consumer_queue_depth", "Messages ready in the service's queue", ["service", "queue"])
# Per event; for a group handled in one transaction, the group's time divided by its events.
HANDLER_DURATION = Histogram("lcs_event_handler_duration_seconds",
                             "Event handling time (a group's transaction time shared by its events)",
                             ["service", "type"])
CONSUMER_BATCH_SIZE = Histogram("lcs_consumer_batch_size", "Events handled in one consumer transaction",
                                ["service"], buckets=(1, 2, 5, 10, 25, 50, 100, 200, 500, 1000))
BUS_CONNECTED = Gauge("lcs_bus_connected", "1 while the broker connection is up", ["service"])


# --- counting what committed ---------------------------------------------------------------

_deferred: ContextVar[list[tuple[Any, float]] | None] = ContextVar("lcs_metrics_deferred", default=None)


def count(child: Any, amount: float = 1.0) -> None:
    """Increment a counter child (`COUNTER.labels(...)`) for work done in a transaction. Inside
    `counted_on_commit()` the increment waits for that block to end without an exception (the
    transaction committed); otherwise it happens at once.

    Why: a consumer handles a group of events in one transaction and, when a handler fails,
    rolls it back and handles the events one by one; counting as the handlers ran would count
    the group's events twice, and a rolled-back event once."""
    pending = _deferred.get()
    if pending is None:
        child.inc(amount)
    else:
        pending.append((child, amount))


@contextmanager
def counted_on_commit() -> Iterator[None]:
    """The `count` calls inside happen when the block ends normally; an exception drops them.
    Put the transaction inside the block, so that its commit is part of it."""
    pending: list[tuple[Any, float]] = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    for child, amount in pending:  # not reached when the block raised
        child.inc(amount)
