"""shared.grouped.GroupCall: callers waiting at once share one call (at most `max_group` items),
each gets its own item's result, a failed call fails its callers and none of the next group's,
and a call that answers the wrong number of items fails its whole group."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from shared.grouped import GroupCall


async def test_callers_waiting_at_once_share_a_call_and_each_gets_its_own_result() -> None:
    groups: list[list[int]] = []

    async def double(items: Sequence[int]) -> list[int]:
        groups.append(list(items))
        await asyncio.sleep(0)
        return [2 * n for n in items]

    group = GroupCall(double, max_group=4)
    results = await asyncio.gather(*(group.call(n) for n in range(10)))
    assert results == [2 * n for n in range(10)]
    assert groups == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert await group.call(21) == 42  # a lone caller: a group of one
    assert groups[-1] == [21]


async def test_the_next_group_forms_while_a_call_is_in_flight() -> None:
    release, started = asyncio.Event(), asyncio.Event()
    groups: list[list[str]] = []

    async def held(items: Sequence[str]) -> list[str]:
        groups.append(list(items))
        started.set()
        if len(groups) == 1:
            await release.wait()
        return [s.upper() for s in items]

    group: GroupCall[str, str] = GroupCall(held)
    first = asyncio.ensure_future(group.call("a"))
    await started.wait()
    later = [asyncio.ensure_future(group.call(s)) for s in "bcd"]
    await asyncio.sleep(0)
    assert groups == [["a"]]  # one call in flight at a time
    release.set()
    assert await first == "A" and [await f for f in later] == ["B", "C", "D"]
    assert groups == [["a"], ["b", "c", "d"]]


async def test_a_failed_call_fails_only_its_callers() -> None:
    calls = 0

    async def flaky(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("down")
        return list(items)

    group = GroupCall(flaky)
    outcomes = await asyncio.gather(group.call(1), group.call(2), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ValueError, ValueError]
    assert await asyncio.gather(group.call(3), group.call(4)) == [3, 4]


async def test_a_call_that_answers_the_wrong_number_of_items_fails_its_group() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return list(items)[:-1]

    group = GroupCall(short)
    for outcome in await asyncio.gather(group.call(1), group.call(2), return_exceptions=True):
        assert isinstance(outcome, RuntimeError)


async def test_a_caller_that_goes_away_leaves_the_others_their_results() -> None:
    release = asyncio.Event()

    async def held(items: Sequence[int]) -> list[int]:
        await release.wait()
        return [n + 1 for n in items]

    group = GroupCall(held)
    gone, stays = asyncio.ensure_future(group.call(1)), asyncio.ensure_future(group.call(2))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert await stays == 3
    with pytest.raises(asyncio.CancelledError):
        await gone
