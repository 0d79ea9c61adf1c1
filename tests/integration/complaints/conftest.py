"""Fixtures of the complaints integration tests.

The SLA monitor's own timer runs on the real clock; these tests drive it through
`POST /v1/admin/sla-scan?now=` instead, so the timer is slowed down for the test
stack (read by the complaints service only; an explicit setting still wins).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.integration.complaints.support import Api, EventTap

os.environ.setdefault("LCS_SLA_MONITOR_INTERVAL_SECONDS", "3600")


@pytest.fixture
async def api(stack: Stack, infra: Infra) -> AsyncIterator[Api]:
    async with Api.connect(stack.url("complaints"), infra) as client:
        yield client


@pytest.fixture
async def tap(stack: Stack, infra: Infra) -> AsyncIterator[EventTap]:
    """Every complaints.* event the service publishes from now on."""
    async with EventTap.open(infra) as t:
        yield t
