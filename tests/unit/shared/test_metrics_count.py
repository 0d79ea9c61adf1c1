"""metrics.count: a counter increment for work done in a transaction lands only when the
`counted_on_commit` block around that transaction ends normally."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import REGISTRY, Counter

from shared.metrics import count, counted_on_commit

COUNTED = Counter("lcs_test_counted_total", "test counter for metrics.count", ["case"])


def value(case: str) -> float:
    return REGISTRY.get_sample_value("lcs_test_counted_total", {"case": case}) or 0.0


def test_outside_a_block_the_count_is_immediate() -> None:
    case = uuid.uuid4().hex
    count(COUNTED.labels(case))
    count(COUNTED.labels(case), 2)
    assert value(case) == 3


def test_inside_a_block_the_count_waits_for_its_end() -> None:
    case = uuid.uuid4().hex
    with counted_on_commit():
        count(COUNTED.labels(case))
        assert value(case) == 0
    assert value(case) == 1


def test_an_exception_drops_the_counts_of_its_block() -> None:
    case = uuid.uuid4().hex
    with pytest.raises(RuntimeError), counted_on_commit():
        count(COUNTED.labels(case))
        raise RuntimeError("the transaction rolled back")
    assert value(case) == 0
    count(COUNTED.labels(case))  # and the block is gone: counting is immediate again
    assert value(case) == 1


async def test_concurrent_tasks_have_blocks_of_their_own() -> None:
    case_ok, case_failed = uuid.uuid4().hex, uuid.uuid4().hex
    inside = {case_ok: asyncio.Event(), case_failed: asyncio.Event()}

    async def handle(case: str, fail: bool) -> None:
        with counted_on_commit():
            count(COUNTED.labels(case))
            inside[case].set()
            for event in inside.values():  # both blocks are open at once: each waits for the other
                await event.wait()
            if fail:
                raise RuntimeError("rolled back")

    results = await asyncio.gather(handle(case_ok, False), handle(case_failed, True), return_exceptions=True)
    assert isinstance(results[1], RuntimeError)
    assert (value(case_ok), value(case_failed)) == (1, 0)
