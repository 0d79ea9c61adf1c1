"""Fixtures of the tracking integration tests: a client of the session's tracking service and a
small world (stations, a vehicle) made through it, one each per test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.integration.tracking.core_support import World, client, make_world


@pytest.fixture(scope="module")
def api(stack: Stack) -> Iterator[httpx.Client]:
    with client(stack.url("tracking")) as c:
        yield c


@pytest.fixture(scope="module")
def world(api: httpx.Client, infra: Infra) -> World:
    return make_world(api, infra)
