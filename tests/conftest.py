"""Test infrastructure: every run gets its own database and RabbitMQ vhost, removed at
the end, and services under test listen on free ports — so a running `make run` or a
half-finished earlier run never interferes.

Hypothesis runs under the "ci" profile unless HYPOTHESIS_PROFILE names another: every run
draws the same examples (see `_hypothesis_profiles`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import secrets
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aio_pika
import asyncpg
import pytest
from hypothesis import HealthCheck, Verbosity, settings

from shared.auth import Role, issue_token
from shared.devtools import stack as stackmod

T = TypeVar("T")


def _hypothesis_profiles() -> str:
    """Register the suite's Hypothesis profiles and load one; returns its name.

    - "ci" (the default, `make test`): `derandomize=True` seeds every test's generator from the
      test itself, so every run of the same code, on every machine, draws the same examples (and
      the example database, which would replay earlier failures first, is off); no `deadline` and
      no `too_slow` health check, the two outcomes that depend on how fast the machine is; a
      failure prints the blob that reproduces it (`@reproduce_failure`). Hypothesis also draws,
      now and then, constants it finds in the project's modules loaded at that moment: a test run
      alone can draw other examples than in the whole suite, and a change anywhere in the code can
      change a test's examples. The blob reproduces a failure whatever else is loaded.
    - "dev" (`HYPOTHESIS_PROFILE=dev`): random exploration, with the local example database
      (`.hypothesis/`) replaying what failed before; still no timing-based failures.

    Loaded here, at import of the root conftest, i.e. before any test module: a test's own
    `@settings(...)` inherits what it does not set from the profile loaded when it is
    decorated. None of them sets `derandomize` except the schemathesis fuzz, which follows
    LCS_FUZZ_RANDOM (`make fuzz`) on purpose and is derandomized otherwise.
    """
    settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow], verbosity=Verbosity.normal)
    settings.register_profile("dev", derandomize=False, deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    name = os.environ.get("HYPOTHESIS_PROFILE", "ci")
    settings.load_profile(name)
    return name


HYPOTHESIS_PROFILE = _hypothesis_profiles()


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {HYPOTHESIS_PROFILE} (HYPOTHESIS_PROFILE=ci|dev)"

ADMIN_DB_URL = os.environ.get("LCS_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_AMQP_URL = os.environ.get("LCS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
STALE_AFTER_S = 3600  # a run takes minutes: anything an hour old was abandoned
SUPERVISOR_EMAIL = "supervisor@desk.example.com"
_NAME = re.compile(r"^lcs_test_(\d+)_[0-9a-f]+$")


async def queue_depth(infra: Infra, queue: str) -> int:
    """Messages ready in a queue of the run's vhost (a passive declare: it never creates one)."""
    conn = await aio_pika.connect(infra.amqp_url)
    async with conn:
        ch = await conn.channel()
        q = await ch.declare_queue(queue, passive=True)
        return int(q.declaration_result.message_count or 0)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on a private loop in another thread.

    Sync tests and fixtures must never call asyncio.run() in the main thread: it unsets the
    main thread's event loop, and pytest-asyncio's session loop is gone for every later test.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=300)


@dataclass(frozen=True)
class Infra:
    run_id: str
    database_url: str
    amqp_url: str
    auth_secret: str
    id_hash_key: str
    # The public links' key ring (tracking verifies, the notifier signs): the first signs, both verify.
    link_keys: str = ""

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "LCS_ENV": "test",
            "LCS_DATABASE_URL": self.database_url,
            "LCS_AMQP_URL": self.amqp_url,
            "LCS_AUTH_SECRET": self.auth_secret,
            "LCS_ID_HASH_KEY": self.id_hash_key,
            "LCS_PUBLIC_LINK_KEYS": self.link_keys,
            "LCS_RETRY_DELAYS_MS": "[200,400]",
            "LCS_OUTBOX_POLL_SECONDS": "0.5",
            "LCS_SHUTDOWN_GRACE_SECONDS": "10",
            "LCS_RATE_LIMIT_PER_MINUTE": "100000",
            "LCS_SUPERVISOR_EMAIL": SUPERVISOR_EMAIL,
            "LCS_COOKIE_SECURE": "false",  # web: the suite talks plain HTTP to 127.0.0.1
            **extra,
        }

    def token(self, role: Role, *, branch: str | None = None, carrier: str | None = None,
              customer: str | None = None, sub: str | None = None, ttl: int = 3600) -> str:
        return issue_token(self.auth_secret, sub=sub or f"test-{role}", role=role, branch=branch,
                           carrier=carrier, customer=customer, ttl_seconds=ttl)

    def headers(self, role: Role = "admin", **kw: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, **kw)}"}


def _remove_stale_leftovers() -> None:
    """Databases and vhosts of runs that died more than a few hours ago."""
    now = time.time()

    async def databases() -> None:
        conn = await asyncpg.connect(ADMIN_DB_URL)
        try:
            names = [r["datname"] for r in await conn.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'lcs_test_%'")]
        finally:
            await conn.close()
        for name in names:
            m = _NAME.match(name)
            if m and now - int(m.group(1)) > STALE_AFTER_S:
                await stackmod.drop_database(ADMIN_DB_URL, name)

    run_sync(databases())
    out = subprocess.run(["rabbitmqctl", "-q", "list_vhosts", "name"], capture_output=True, text=True,
                         timeout=60, check=False).stdout
    for name in out.split():
        m = _NAME.match(name)
        if m and now - int(m.group(1)) > STALE_AFTER_S:
            stackmod.delete_vhost(name)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    _remove_stale_leftovers()
    run_id = f"lcs_test_{int(time.time())}_{uuid.uuid4().hex[:8]}"
    run_sync(stackmod.create_database(ADMIN_DB_URL, run_id))
    stackmod.create_vhost(run_id)
    infra = Infra(
        run_id=run_id,
        database_url=stackmod.with_database(ADMIN_DB_URL, run_id),
        amqp_url=stackmod.with_vhost(ADMIN_AMQP_URL, run_id),
        auth_secret=secrets.token_urlsafe(48),
        id_hash_key=secrets.token_urlsafe(48),
        link_keys=f"new:{secrets.token_urlsafe(48)},old:{secrets.token_urlsafe(48)}",
    )
    try:
        yield infra
    finally:
        run_sync(stackmod.drop_database(ADMIN_DB_URL, run_id))
        stackmod.delete_vhost(run_id)


@pytest.fixture(scope="session")
def stack(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[stackmod.Stack]:
    """All four services and the sinks, as real processes, shared by the session's tests."""
    log_dir = tmp_path_factory.mktemp("stack-logs")
    s = stackmod.Stack.with_free_ports(infra.env(), Path(log_dir))
    names = tuple(n for n in os.environ.get("LCS_TEST_SERVICES", ",".join(stackmod.SERVICES)).split(",") if n)
    try:
        s.start(names)
        yield s
    finally:
        s.stop()


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        yield conn
    finally:
        await conn.close()


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10].upper()}"
