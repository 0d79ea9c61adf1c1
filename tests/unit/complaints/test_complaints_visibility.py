"""`domain.visibility.partner_view`: what a branch may read of a ticket, without I/O."""

from __future__ import annotations

from services.complaints.domain.visibility import HIDDEN_FROM_PARTNERS, partner_view


def _ticket() -> dict[str, object]:
    return {"id": "t1", "priority": "high", "proactive": True, "first_response_minutes": 5,
            "resolution_minutes": 480, "first_response_due": "2026-12-01T10:05:00+08:00",
            "resolution_due": "2026-12-01T18:00:00+08:00", "phone": "13511112222",
            "email": "wang@example.com", "description": "货怎么还没到？",
            "history": [{"action": "open", "details": {"channel": "phone", "priority": "high", "proactive": True,
                                                       "first_response_due": "x"}},
                        {"action": "respond", "details": None}]}


def test_the_desks_judgement_and_contacts_are_hidden() -> None:
    seen = partner_view(_ticket())
    assert all(seen[name] is None for name in HIDDEN_FROM_PARTNERS)
    assert seen["phone"] == "135****2222" and seen["email"] == "w***@example.com"
    assert seen["history"][0]["details"] == {"channel": "phone"}
    assert seen["history"][1]["details"] is None
    assert seen["description"] == "货怎么还没到？" and seen["id"] == "t1"


def test_the_original_is_untouched_and_the_view_is_idempotent() -> None:
    ticket = _ticket()
    once = partner_view(ticket)
    assert ticket["priority"] == "high" and ticket["phone"] == "13511112222"
    assert partner_view(once) == once


def test_a_list_row_without_history_or_contacts() -> None:
    assert partner_view({"id": "t2", "priority": "normal"}) == {"id": "t2", "priority": None}
