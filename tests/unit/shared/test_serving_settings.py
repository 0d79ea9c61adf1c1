"""uvicorn runs with the settings' proxy trust (`LCS_FORWARDED_ALLOW_IPS`, or uvicorn's own
`FORWARDED_ALLOW_IPS`): whose X-Forwarded-For names the client."""

from __future__ import annotations

import pytest

from shared.serving import server_config
from shared.settings import Settings


def _config(monkeypatch: pytest.MonkeyPatch, **env: str) -> object:
    monkeypatch.setenv("LCS_ENV", "dev")
    for name in ("LCS_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return server_config(object(), Settings(), port=8005, grace_seconds=5)


def test_loopback_only_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _config(monkeypatch)
    assert config.proxy_headers is True and config.forwarded_allow_ips == "127.0.0.1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["LCS_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"])
def test_the_ingress_network_from_either_variable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    config = _config(monkeypatch, **{name: "10.244.0.0/16,10.96.0.10"})
    assert config.forwarded_allow_ips == "10.244.0.0/16,10.96.0.10"  # type: ignore[attr-defined]
