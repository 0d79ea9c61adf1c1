"""The consumer's bookkeeping for set-based handling: which keys a run repeats, and when one
`ack(multiple=True)` settles exactly a group (nothing below it is still unsettled)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from shared.bus import repeated_keys
from shared.consumer import _Delivery, _Feed


def test_repeated_keys_are_those_named_more_than_once() -> None:
    assert repeated_keys(["A", "B", "A", "C", "B", "A"]) == {"A", "B"}
    assert repeated_keys(["A", "B"]) == set()
    assert repeated_keys([]) == set()


def message(tag: int | None) -> Any:
    return SimpleNamespace(delivery_tag=tag)


def feed_with(*tags: int | None) -> tuple[_Feed, dict[int | None, _Delivery]]:
    feed = _Feed(SimpleNamespace())  # type: ignore[arg-type]
    deliveries = {}
    for tag in tags:
        m = message(tag)
        feed.received(m)
        deliveries[tag] = _Delivery(feed, m, None, None, None)  # type: ignore[arg-type]
    return feed, deliveries


def test_a_group_holding_every_unsettled_delivery_below_its_top_is_acked_at_once() -> None:
    feed, d = feed_with(1, 2, 3, 4, 5)
    assert feed.ack_all_with([d[1], d[2], d[3]]) is d[3]
    assert feed.ack_all_with([d[3], d[1], d[2]]) is d[3]  # whatever the order in the group
    feed.settled(d[1].message)
    assert feed.ack_all_with([d[2], d[3]]) is d[3]  # below it: settled already


def test_an_unsettled_delivery_below_the_top_outside_the_group_means_one_ack_each() -> None:
    feed, d = feed_with(1, 2, 3, 4)
    assert feed.ack_all_with([d[2], d[3]]) is None  # 1 is being dead-lettered, say
    assert feed.ack_all_with([d[1], d[3]]) is None  # 2 is
    feed.settled(d[1].message)
    feed.settled(d[2].message)
    assert feed.ack_all_with([d[3], d[4]]) is d[4]


def test_a_lone_delivery_and_tags_out_of_order_never_use_multiple() -> None:
    feed, d = feed_with(1, 2)
    assert feed.ack_all_with([d[1]]) is None  # nothing to gain
    feed, d = feed_with(1, 3, 4)  # a gap: what is 2?
    assert not feed.in_order
    assert feed.ack_all_with([d[3], d[4]]) is None
    feed, d = feed_with(1, None, 3)
    assert feed.ack_all_with([d[1], d[3]]) is None


def test_settling_forgets_the_tag() -> None:
    feed, d = feed_with(1, 2, 3)
    for tag in (2, 1, 3):
        feed.settled(d[tag].message)
    assert feed.outstanding == {}
