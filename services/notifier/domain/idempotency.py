"""At most one message per event, channel and address, across redeliveries and replicas (the
repository puts a unique index on the key)."""

from __future__ import annotations

import hashlib

from services.notifier.domain.vocabulary import Channel


def normalize_address(channel: Channel | str, to: str) -> str:
    """Canonical form of an address, so that ``A@x.com`` and ``a@x.com `` are one recipient."""
    if Channel(channel) is Channel.EMAIL:
        return to.strip().casefold()
    return "".join(ch for ch in to if ch not in " -()\t")


def idempotency_key(event_id: str, channel: Channel | str, to: str) -> str:
    """Stable key for "this event, this channel, this address": a hex sha256.

    The unit separator keeps the parts from running into each other.
    """
    channel = Channel(channel)
    raw = "\x1f".join((event_id, str(channel), normalize_address(channel, to)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def undelivered_key(event_id: str) -> str:
    """Key of the one audit row a notice that reached nobody leaves (there is no address to key on)."""
    raw = "\x1f".join(("undelivered", event_id))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def summary_key(first_member_key: str) -> str:
    """Key of the summary a held message opens: one summary per message that opened one."""
    raw = "\x1f".join(("summary", first_member_key))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
