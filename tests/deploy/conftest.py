"""Fixtures for the deployment tests (helpers live in manifests.py)."""

from __future__ import annotations

import pytest
from manifests import KUSTOMIZATIONS, OVERLAYS


@pytest.fixture(params=KUSTOMIZATIONS)
def kustomization(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return request.param
