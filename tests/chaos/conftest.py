"""The fault suite's own stack (fresh database + vhost; never the session `stack`, since
these tests kill processes and stop servers), healing after every test, and the results
table written to docs/RELIABILITY.md by `make chaos` (LCS_CHAOS_SCALE=large) only."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.devtools import stack as stackmod
from tests.chaos import harness
from tests.conftest import Infra

DOC = Path(__file__).resolve().parents[2] / "docs" / "RELIABILITY.md"
BEGIN, END = "<!-- chaos-results:begin -->", "<!-- chaos-results:end -->"


@pytest.fixture(scope="module")
def chaos_infra(infra: Infra) -> Iterator[Infra]:
    """`infra` is requested only so that it is created now, before any async test ran: its
    asyncio.run() would otherwise unset the session event loop for every later test."""
    del infra
    own = harness.new_infra()
    try:
        yield own
    finally:
        harness.drop_infra(own)


@pytest.fixture(scope="module")
def chaos_stack(chaos_infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Iterator[stackmod.Stack]:
    log_dir = Path(os.environ.get("LCS_CHAOS_LOG_DIR") or tmp_path_factory.mktemp("chaos-logs"))
    s = stackmod.Stack.with_free_ports(chaos_infra.env(**harness.CHAOS_ENV), log_dir)
    try:
        s.start(harness.SERVICES)
        yield s
    finally:
        harness.ensure_broker_running()
        harness.ensure_pg_running()
        s.stop()


@pytest.fixture
def healed(chaos_stack: stackmod.Stack) -> Iterator[stackmod.Stack]:
    """Before and after every scenario: servers up, sinks healthy, every process running."""
    harness.heal(chaos_stack)
    try:
        yield chaos_stack
    finally:
        harness.heal(chaos_stack)


def results_table(results: list[harness.Result]) -> str:
    lines = ["| Scenario | Events | Lost | Duplicated | Resent (same key) | Unexpected | Recovery (s) | Notes |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        lines.append(f"| {r.scenario} | {r.events} | {r.lost} | {r.duplicated} | {r.resent} | {r.unexpected} | "
                     f"{r.recovery_s:.1f} | {r.note} |")
    return "\n".join(lines)


def write_results(results: list[harness.Result], scale: str) -> None:
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# Reliability\n\n{BEGIN}\n{END}\n"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = (f"{BEGIN}\nScale `{scale}` ({harness.SCALE.vehicles_per_phase} vehicles × "
            f"{harness.SCALE.shipments_per_vehicle} shipments per phase, 3 phases), run {stamp}:\n\n"
            f"{results_table(results)}\n{END}")
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: body, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + body + "\n"
    DOC.write_text(text, encoding="utf-8")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if harness.RESULTS:
        terminalreporter.write_sep("-", "chaos results")
        terminalreporter.write_line(results_table(harness.RESULTS))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if harness.LARGE and harness.RESULTS:
        write_results(harness.RESULTS, "large")
