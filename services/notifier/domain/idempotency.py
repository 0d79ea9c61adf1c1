"""At most one message per event, channel and address, across redeliveries and replicas (the
repository puts a unique index on the key)."""

from __future__ import annotations

import hashlib

from services.notifier.domain.vocabulary import Channel


def normalize_address(channel: Channel | str, to: str) -> str:
    """Canonical form of an address, so that ``A@x.com`` and ``a@x.com `` are one recipient."""
    channel = Channel(channel)
    if channel is Channel.EMAIL:
        return to.strip().casefold()
    if channel is Channel.WECOM:
        return to.strip()  # a robot key: case matters
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


def appointment_dedupe_id(appointment_id: str) -> str:
    """What an appointment confirmation is keyed on instead of the event id: the appointment. The
    same booking published twice (two events) is confirmed once; a new booking (a new id) again."""
    return "\x1f".join(("appointment", appointment_id))


def fallback_key(key: str) -> str:
    """Key of the e-mail that stands in for a group message with no e-mail of its own (a summary)."""
    raw = "\x1f".join(("fallback", key))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()
