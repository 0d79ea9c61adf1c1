"""What a customer token is shown of its own ticket (`domain/customer_view.py`)."""

from __future__ import annotations

from services.complaints.domain.customer_view import INTERNAL_FIELDS, history_entry, ticket

TICKET = {
    "id": "t1", "status": "responded", "customer_id": "C100", "caller_name": "李女士", "phone": "13512345678",
    "email": "li@example.com", "priority": "high", "assigned_role": "staff", "assigned_to": "alice",
    "claimed_at": "2026-12-01T08:00:00+08:00", "opened_by": "staff:alice", "first_response_minutes": 5,
    "resolution_minutes": 480, "suggested_reply": "您好……", "description": "外箱破损",
    "allowed_actions": ["customer_reply", "escalate", "resolve", "respond"],
    "shipment": {"waybill_no": "W1", "vehicle_id": "V1", "last_position": {"lat": 31.2}, "eta": None},
    "history": [
        {"seq": 1, "actor": "staff:alice", "action": "open", "details": {"channel": "phone", "priority": "high"}},
        {"seq": 2, "actor": "staff:alice", "action": "claim", "details": {"assigned_to": "alice"}},
        {"seq": 3, "actor": "staff:alice", "action": "respond", "details": {"by": "Alice", "message": "在查"}},
        {"seq": 4, "actor": "supervisor:bob", "action": "escalate", "details": {"reason": "客户难缠"}},
    ],
}


def test_the_desks_workings_are_hidden() -> None:
    shown = ticket(TICKET)
    for field in INTERNAL_FIELDS:
        assert shown[field] is None, field
    assert shown["phone"] != "13512345678" and shown["phone"].endswith("5678")
    assert shown["email"] != "li@example.com"
    assert shown["shipment"]["vehicle_id"] is None and shown["shipment"]["last_position"] is None
    assert shown["allowed_actions"] == ["customer_reply"]
    assert shown["description"] == "外箱破损" and shown["status"] == "responded"


def test_the_history_keeps_what_the_customer_takes_part_in() -> None:
    history = ticket(TICKET)["history"]
    assert [h["action"] for h in history] == ["open", "respond"]  # no claim, no escalation
    assert [h["actor"] for h in history] == ["staff", "staff"]
    assert history[0]["details"] == {"channel": "phone"}  # the priority is the desk's
    assert history[1]["details"] == {"message": "在查"}  # the staff member's name is not shown
    assert history_entry({"action": "escalate", "actor": "x", "details": {}}) is None


def test_the_desks_view_is_unchanged() -> None:
    before = repr(TICKET)
    ticket(TICKET)
    assert repr(TICKET) == before
