"""The delay decision: is a shipment late, why, and does the customer hear about it now.

`evaluate_delay` is the whole state machine (its docstring lists it in five lines); a shipment's
`DelayState` is what it decides on, `DelayReason` why. Inferred reasons come from the vehicle's
track (`domain.track`); a staff note's reason overrides them (`effective_delay_reason`,
`domain.notes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.tracking.domain.config import DEFAULT_ETA_CONFIG, EtaConfig
from services.tracking.domain.times import minutes, utc
from shared.errors import Invalid
from shared.events import DelayReason

INFERRED_REASONS = frozenset({DelayReason.VEHICLE_STOPPED, DelayReason.NO_SIGNAL, DelayReason.SLOW_PROGRESS})
# The reasons a staff note may carry (the contract's `reason` enum on notes).
NOTE_REASONS = frozenset(DelayReason) - INFERRED_REASONS


def known_reason(value: str | None) -> DelayReason | None:
    """A stored reason as these rules know it; None for none, or for a text they do not know
    (a row written by hand or by another release: the rules then decide without it)."""
    if not value:
        return None
    try:
        return DelayReason(value)
    except ValueError:
        return None


def as_note_reason(value: DelayReason | str) -> DelayReason:
    """`value` as a reason a staff note can give; 422 `invalid_reason` otherwise (an inferred
    reason is the feed's to give, not staff's)."""
    reason = known_reason(value)
    if reason is None or reason not in NOTE_REASONS:
        raise Invalid("invalid_reason", f"{value!r} is not a reason a staff note can give",
                      {"allowed": sorted(NOTE_REASONS)})
    return reason


def effective_delay_reason(inferred: DelayReason, note_reason: DelayReason | str | None) -> DelayReason:
    """A staff note's reason (they found out the real situation) overrides the inferred one;
    422 `invalid_reason` for one a note cannot give."""
    return inferred if note_reason is None else as_note_reason(note_reason)


class DelayEvent(StrEnum):
    NONE = "none"
    DELAYED = "delayed"  # -> tracking.shipment.delayed.v1
    RECOVERED = "recovered"  # -> tracking.shipment.recovered.v1


@dataclass(frozen=True, slots=True)
class DelayState:
    """What the desk has been told about a shipment's lateness (persisted per shipment).

    ``notified_eta`` is the ETA carried by the last ``delayed`` notice: a new notice
    goes out only when the ETA is at least one worsening step beyond it.
    ``evaluated_at`` is the "now" of the last evaluation; an older fix arriving late
    does not roll the state back.
    """

    delayed: bool = False
    notified_eta: datetime | None = None
    delay_minutes: int = 0  # current delay vs promised_at, rounded up to whole minutes
    reason: DelayReason | None = None
    eta: datetime | None = None  # the latest ETA, notified or not
    evaluated_at: datetime | None = None
    notified_at: datetime | None = None  # the "now" of the last `delayed` notice
    delayed_since: datetime | None = None  # when the current delay was first detected (None: on time)


@dataclass(frozen=True, slots=True)
class DelayDecision:
    state: DelayState
    event: DelayEvent

    @property
    def emits(self) -> bool:
        return self.event is not DelayEvent.NONE


def delay_minutes(eta: datetime, promised_at: datetime) -> int:
    """Minutes late against the promised time (0 when on time), rounded up."""
    seconds = (eta - promised_at).total_seconds()
    return max(0, math.ceil(seconds / 60.0))


def evaluate_delay(
    *,
    previous: DelayState,
    eta: datetime,
    promised_at: datetime,
    now: datetime,
    inferred_reason: DelayReason,
    note_reason: DelayReason | None = None,
    cfg: EtaConfig = DEFAULT_ETA_CONFIG,
) -> DelayDecision:
    """The delay state machine; returns the new state and the one event (if any) to emit.

    * on time -> on time: nothing.
    * on time -> late (ETA > promised_at + grace): ``delayed`` (first detection).
    * late -> later by >= worsen_step beyond the last *notified* ETA, and at least
      renotify_min after the last notice: ``delayed`` again.
    * late -> late otherwise (small worsening, improvement, new reason): nothing, but
      the state keeps the current ETA, delay minutes and reason for queries.
    * late -> on time (ETA <= promised_at + grace - recovery_margin): ``recovered``.
    * ``now`` older than the previous evaluation (an out-of-order fix): nothing changes.

    ``delayed_since`` is the "now" of the first detection, kept while the shipment stays late
    (a state late without one, written by an earlier release, takes this ``now``), and cleared
    on recovery.

    The reason is ``note_reason`` (a staff note's, read with `domain.notes.stored_note_reason`) when
    there is one, else ``inferred_reason``.
    """
    now = utc(now, "now")
    eta = utc(eta, "eta")
    promised_at = utc(promised_at, "promised_at")
    if previous.evaluated_at is not None and now < previous.evaluated_at:
        return DelayDecision(previous, DelayEvent.NONE)

    reason = effective_delay_reason(inferred_reason, note_reason)
    late_after = promised_at + minutes(cfg.grace_minutes)
    late_by = delay_minutes(eta, promised_at)

    if not previous.delayed:
        if eta > late_after:
            state = DelayState(True, eta, late_by, reason, eta, now, notified_at=now, delayed_since=now)
            return DelayDecision(state, DelayEvent.DELAYED)
        return DelayDecision(DelayState(False, None, 0, None, eta, now), DelayEvent.NONE)

    if eta <= late_after - minutes(cfg.recovery_margin_minutes):
        return DelayDecision(DelayState(False, None, 0, None, eta, now), DelayEvent.RECOVERED)

    since = previous.delayed_since or now
    notified = previous.notified_eta
    rested = previous.notified_at is None or now - previous.notified_at >= minutes(cfg.renotify_min_minutes)
    if notified is None or (eta - notified >= minutes(cfg.worsen_step_minutes) and rested):
        return DelayDecision(DelayState(True, eta, late_by, reason, eta, now, notified_at=now, delayed_since=since),
                             DelayEvent.DELAYED)
    return DelayDecision(DelayState(True, notified, late_by, reason, eta, now, notified_at=previous.notified_at,
                                    delayed_since=since), DelayEvent.NONE)


# An evaluation that only refreshes the ETA is written when the ETA moved by this much or the
# stored one is this old (see delay_state_worth_saving).
ETA_SAVE_STEP = timedelta(minutes=1)
ETA_SAVE_MAX_AGE = timedelta(minutes=1)


def delay_state_worth_saving(previous: DelayState, new: DelayState) -> bool:
    """Whether an evaluation's state must be written to the shipment.

    Everything the delay rules decide on (delayed and since when, the notified ETA and time, the
    delay minutes, the reason) is written whenever it changes. An evaluation that only refreshes the
    ETA and its time is written when the ETA moved by at least `ETA_SAVE_STEP` or the stored
    evaluation is `ETA_SAVE_MAX_AGE` old. Why: a device reporting every second re-evaluates its
    shipments every second, and rewriting each shipment's row for an ETA that moved by seconds
    would make those rewrites most of the database's work on the device feed; what the desk
    sees stays at most a minute behind. The rules lose nothing: the stored `evaluated_at` (which makes an older
    "now" change nothing) lags by at most that minute, and an older fix never advances its
    vehicle, so it is not evaluated at all."""
    if delay_decision_changed(previous, new) or (new.delay_minutes, new.reason) != (previous.delay_minutes,
                                                                                     previous.reason):
        return True
    if new.eta is None or previous.eta is None or new.evaluated_at is None or previous.evaluated_at is None:
        return (new.eta, new.evaluated_at) != (previous.eta, previous.evaluated_at)
    return abs(new.eta - previous.eta) >= ETA_SAVE_STEP or new.evaluated_at - previous.evaluated_at >= ETA_SAVE_MAX_AGE


def delay_decision_changed(previous: DelayState, new: DelayState) -> bool:
    """Whether a delay decision changed: delayed and since when, the notified ETA and time. They
    change only with a `delayed` or `recovered` event. Not what a late shipment's evaluations
    refresh between notices (the ETA and its time, the delay minutes, the inferred reason).

    Why it matters: the evaluation keeps a shipment's state with its vehicle (`on_board`, written
    per fix), and the shipment's own row (the desk's lists filter and order by `delayed` and
    `delayed_since`) takes the state only with a decision, which is rare (a shipment turning late,
    a repeat notice, a recovery)."""
    return (new.delayed, new.notified_eta, new.notified_at, new.delayed_since) != (
        previous.delayed, previous.notified_eta, previous.notified_at, previous.delayed_since)
