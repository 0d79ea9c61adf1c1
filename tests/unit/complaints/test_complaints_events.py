"""Every ticket step a consumer may care about is announced, and the event catalogue (AsyncAPI,
docs/EVENTS.md) carries each complaints event with complaints as its producer."""

from __future__ import annotations

from shared.catalogue import asyncapi
from shared.events import EVENT_TYPES

COMPLAINTS_EVENTS = (
    "complaints.complaint.opened.v1", "complaints.complaint.responded.v1", "complaints.complaint.escalated.v1",
    "complaints.complaint.resolved.v1", "complaints.complaint.reopened.v1", "complaints.complaint.closed.v1",
    "complaints.complaint.sla_breached.v1",
)


def test_every_complaints_event_is_a_model_and_in_the_catalogue() -> None:
    doc = asyncapi()
    messages = {m["name"]: m for m in doc["components"]["messages"].values()}
    channels = {c["address"] for c in doc["channels"].values()}
    for event_type in COMPLAINTS_EVENTS:
        assert event_type in EVENT_TYPES, event_type
        assert event_type in channels, event_type
        assert messages[event_type]["x-producer"] == "complaints", event_type
    assert sorted(t for t in EVENT_TYPES if t.startswith("complaints.")) == sorted(COMPLAINTS_EVENTS)


def test_the_lifecycle_events_say_who_when_and_why() -> None:
    fields = {t: set(EVENT_TYPES[t].model_fields) for t in COMPLAINTS_EVENTS}
    assert {"escalated_by", "escalated_at", "reason", "priority"} <= fields["complaints.complaint.escalated.v1"]
    assert {"reopened_at", "reason"} <= fields["complaints.complaint.reopened.v1"]
    assert {"closed_at", "csat_score"} <= fields["complaints.complaint.closed.v1"]
