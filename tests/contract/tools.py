"""Node command-line tools the contract tests run (the AsyncAPI CLI, Redocly, Spectral), installed
from the npm registry once per machine into a cache directory and reused by later runs.

A test that needs one skips, saying why, when node/npm is missing or the install fails (no
registry reachable); `LCS_REQUIRE_NODE_TOOLS=1` turns that skip into a failure. `LCS_TOOLS_CACHE`
moves the cache (default `~/.cache/lcs-tools`). Every tool runs with its telemetry off."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("LCS_TOOLS_CACHE", Path.home() / ".cache" / "lcs-tools"))
INSTALL_TIMEOUT_S = 600


def quiet_env() -> dict[str, str]:
    """No usage reporting, update checks or banners (the tools would try to reach the internet)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    analytics = CACHE / "asyncapi-analytics.json"
    if not analytics.exists():
        analytics.write_text(json.dumps({"analyticsEnabled": "false", "infoMessageShown": "true",
                                         "userID": "lcs-tests"}), encoding="utf-8")
    return {**os.environ, "ASYNCAPI_METRICS_CONFIG_PATH": str(analytics), "SUPPRESS_NO_CONFIG_WARNING": "1",
            "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_UPDATE_NOTIFIER": "1",
            "DO_NOT_TRACK": "1", "CI": "true"}


def _unavailable(reason: str) -> None:
    if os.environ.get("LCS_REQUIRE_NODE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def node_tool(package: str, version: str, command: str) -> Path:
    """The path of `command` from `package@version`, installing it into the cache when needed."""
    prefix = CACHE / f"{package.replace('/', '+').lstrip('@')}-{version}"
    binary = prefix / "node_modules" / ".bin" / command
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        _unavailable(f"node/npm not installed: cannot run {package}")
    prefix.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
                               "--loglevel=error", f"{package}@{version}"], capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT_S, env=quiet_env(), check=False)
    except subprocess.TimeoutExpired:
        _unavailable(f"npm install {package}@{version} took over {INSTALL_TIMEOUT_S} s")
    if done.returncode != 0 or not binary.exists():
        _unavailable(f"npm install {package}@{version} failed: {done.stderr[-2000:]}")
    return binary
