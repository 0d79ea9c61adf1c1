"""What a staff note (追踪记录) changes: once staff found out the real situation, the newest
delayed note's reason overrides the reason inferred from the feed (`delay.effective_delay_reason`)."""

from __future__ import annotations

from dataclasses import replace

from services.tracking.domain.delay import NOTE_REASONS, DelayReason, DelayState, as_note_reason, known_reason


def stored_note_reason(value: str | None) -> DelayReason | None:
    """A shipment's stored note reason as the delay rules take it: a reason a note can give, or
    None (no note gave one, or the text is not one these rules know: the inferred reason stands)."""
    reason = known_reason(value)
    return reason if reason in NOTE_REASONS else None


def with_note_reason(state: DelayState, reason: DelayReason | str) -> DelayState:
    """A shipment's delay state once a note gives ``reason`` (422 `invalid_reason` for one a note
    cannot give): a delayed shipment's reason is the note's at once, so the desk sees it and the
    next notice carries it; an on-time shipment has no reason to change, and its first notice,
    if one comes, carries the note's (`delay.evaluate_delay`)."""
    given = as_note_reason(reason)
    return replace(state, reason=given) if state.delayed else state
