"""Pure rules of the complaints desk (客诉处理): no I/O, no clock, no database.

What lives here, in the order of a complaint's life:

* the vocabulary (channels, categories, priorities) and the rule that picks a
  ticket's default priority;
* the ticket state machine: one transition table is the single truth, and
  ``apply_action`` turns a refused step into ``InvalidTransition`` (HTTP 409);
* SLA policies (first response / resolution targets) and their lookup;
* SLA arithmetic over configurable business hours, with the clock paused while
  the ticket waits on the customer, and breach detection that emits each breach
  kind once;
* the suggested reply, a polite text in the seed's spirit (greet, apologise, say
  where the goods are, why they are late and when they will arrive, promise to
  follow up, thank);
* customer care: the monthly return-visit list (回访) and the key-customer rule;
* the monthly complaints report and its CSV rendering.

Every function takes the current time as an argument (``now`` / ``at``) so the
rules can be tested with a controllable clock. All datetimes must be timezone
aware; arithmetic is done in UTC and results are returned in UTC, because two
aware datetimes sharing one ``tzinfo`` compare by wall time in Python, which is
wrong across offset changes.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

SHANGHAI = "Asia/Shanghai"
"""The desk's timezone: due times, reply texts and report months are read in it."""

_MINUTE = timedelta(minutes=1)

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class DomainError(Exception):
    """A business rule refused the request.

    ``code`` is the snake_case code of the contract's error body
    (``{"error": {"code", "message", "details"}}``); the API layer maps codes to
    HTTP statuses, the domain does not know about HTTP.
    """

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class InvalidTransition(DomainError):
    """The state machine does not allow ``action`` from the ticket's current status (409)."""

    def __init__(self, status: TicketStatus, action: Action) -> None:
        allowed = sorted(allowed_actions(status))
        super().__init__(
            "invalid_transition",
            f"cannot {action.value} a complaint that is {status.value}",
            {"status": status.value, "action": action.value, "allowed": [a.value for a in allowed]},
        )
        self.status = status
        self.action = action


def _require_aware(value: datetime, name: str) -> datetime:
    # A naive datetime is a programming error (the API parses AwareDatetime), not a
    # business refusal, hence ValueError rather than DomainError.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------


class Channel(StrEnum):
    """How the complaint reached the desk."""

    PHONE = "phone"
    WEB = "web"
    PARTNER = "partner"  # a partner branch system (网点) filed it through the API
    CHAT = "chat"


class Category(StrEnum):
    """What the complaint is about; drives the SLA and the suggested reply."""

    DELAY = "delay"
    DAMAGE = "damage"
    LOSS = "loss"
    ATTITUDE = "attitude"
    BILLING = "billing"
    QUOTE = "quote"
    OTHER = "other"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


def default_priority(category: Category, *, key_customer: bool = False) -> Priority:
    """The priority a new ticket gets unless staff choose another.

    Goods damaged or lost are a money loss for the customer, and key customers
    carry the business, so either raises the ticket to ``high``; both together make
    it ``urgent``. A price enquiry is not a grievance, hence ``low`` (its 8-hour
    answer target comes from the SLA policy, not from the priority).
    """
    grave = category in (Category.DAMAGE, Category.LOSS)
    if grave and key_customer:
        return Priority.URGENT
    if grave or key_customer:
        return Priority.HIGH
    if category is Category.QUOTE:
        return Priority.LOW
    return Priority.NORMAL


class Language(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


def parse_language(value: str | None) -> Language:
    """Customer language tag → reply language; Chinese unless the tag is English.

    Tolerant on purpose: recipient preferences come from other systems
    (``en-US``, ``EN``, ``zh``, ``zh-Hans``...), and Chinese is the desk's default.
    """
    if value and value.strip().lower().split("-")[0].split("_")[0] == "en":
        return Language.EN
    return Language.ZH_CN


# ---------------------------------------------------------------------------
# Ticket state machine
# ---------------------------------------------------------------------------


class TicketStatus(StrEnum):
    OPEN = "open"  # filed, no staff response yet: the first-response clock runs
    RESPONDED = "responded"  # staff answered; the resolution clock runs
    WAITING_CUSTOMER = "waiting_customer"  # staff asked the customer something: clock paused
    ESCALATED = "escalated"  # handed to the supervisor (by staff or by an SLA breach)
    RESOLVED = "resolved"  # resolution recorded; may be reopened or surveyed
    CLOSED = "closed"  # terminal: surveyed, or closed after the survey window


class Action(StrEnum):
    RESPOND = "respond"  # staff response that needs nothing from the customer
    ASK_CUSTOMER = "ask_customer"  # staff response that asks the customer something
    CUSTOMER_REPLY = "customer_reply"  # the customer answered: the clock resumes
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    SURVEY = "survey"  # CSAT 1..5 recorded; closes the ticket
    CLOSE = "close"  # resolved ticket closed without a survey (e.g. survey window over)


_S = TicketStatus
_A = Action

TRANSITIONS: Mapping[TicketStatus, Mapping[Action, TicketStatus]] = {
    _S.OPEN: {
        _A.RESPOND: _S.RESPONDED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.OPEN,  # the customer adds details; still awaiting our answer
        _A.ESCALATE: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.RESPONDED: {
        _A.RESPOND: _S.RESPONDED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.RESPONDED,
        _A.ESCALATE: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.WAITING_CUSTOMER: {
        # A staff follow-up without waiting any longer takes the ball back: clock resumes.
        _A.RESPOND: _S.RESPONDED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.RESPONDED,
        _A.ESCALATE: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.ESCALATED: {
        # The supervisor owns it now; answering keeps it with the supervisor.
        _A.RESPOND: _S.ESCALATED,
        _A.ASK_CUSTOMER: _S.WAITING_CUSTOMER,
        _A.CUSTOMER_REPLY: _S.ESCALATED,
        _A.RESOLVE: _S.RESOLVED,
    },
    _S.RESOLVED: {
        _A.REOPEN: _S.OPEN,
        _A.SURVEY: _S.CLOSED,
        _A.CLOSE: _S.CLOSED,
    },
    _S.CLOSED: {},
}
"""The single truth of which step is allowed from which status, and where it leads."""


def allowed_actions(status: TicketStatus) -> frozenset[Action]:
    return frozenset(TRANSITIONS[status])


def can_transition(status: TicketStatus, action: Action) -> bool:
    return action in TRANSITIONS[status]


def transition(status: TicketStatus, action: Action) -> TicketStatus:
    """The status after ``action``; raises ``InvalidTransition`` if the table refuses it."""
    try:
        return TRANSITIONS[status][action]
    except KeyError:
        raise InvalidTransition(status, action) from None


def response_action(*, asks_customer: bool) -> Action:
    """Map a staff response to its action: a question to the customer pauses the clock."""
    return Action.ASK_CUSTOMER if asks_customer else Action.RESPOND


# ---------------------------------------------------------------------------
# SLA policies
# ---------------------------------------------------------------------------


class SlaKind(StrEnum):
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Targets in SLA minutes (business minutes when business hours apply).

    ``category`` / ``priority`` of ``None`` mean "any": ``(c, None)`` is the category
    default, ``(None, p)`` the priority default and ``(None, None)`` the global one.
    """

    category: Category | None
    priority: Priority | None
    first_response_minutes: int
    resolution_minutes: int

    def __post_init__(self) -> None:
        for name in ("first_response_minutes", "resolution_minutes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise DomainError("invalid_sla_policy", f"{name} must be a positive whole number of minutes",
                                  {name: value})
        if self.first_response_minutes > self.resolution_minutes:
            raise DomainError(
                "invalid_sla_policy",
                "first_response_minutes cannot exceed resolution_minutes",
                {"first_response_minutes": self.first_response_minutes,
                 "resolution_minutes": self.resolution_minutes},
            )


# The seed: every call is returned within 5 minutes (5分钟之内回复客户); a price enquiry
# gets its answer within 8 hours (必须在8小时内回复). Resolution 24 h for a delay and
# 72 h for damage/loss are the desk's rules in domain.md; billing needs finance to check
# the statement, hence 72 h too; attitude and other get 48 h.
FIRST_RESPONSE_MINUTES = 5
DEFAULT_SLA_POLICY = SlaPolicy(None, None, FIRST_RESPONSE_MINUTES, 48 * 60)
DEFAULT_SLA_POLICIES: tuple[SlaPolicy, ...] = (
    DEFAULT_SLA_POLICY,
    SlaPolicy(Category.DELAY, None, FIRST_RESPONSE_MINUTES, 24 * 60),
    SlaPolicy(Category.DAMAGE, None, FIRST_RESPONSE_MINUTES, 72 * 60),
    SlaPolicy(Category.LOSS, None, FIRST_RESPONSE_MINUTES, 72 * 60),
    SlaPolicy(Category.QUOTE, None, FIRST_RESPONSE_MINUTES, 8 * 60),
    SlaPolicy(Category.BILLING, None, FIRST_RESPONSE_MINUTES, 72 * 60),
    SlaPolicy(Category.ATTITUDE, None, FIRST_RESPONSE_MINUTES, 48 * 60),
    SlaPolicy(Category.OTHER, None, FIRST_RESPONSE_MINUTES, 48 * 60),
)


def find_sla_policy(
    policies: Iterable[SlaPolicy], category: Category, priority: Priority
) -> SlaPolicy:
    """The most specific policy: category+priority → category → priority → global default.

    If the configured list has no global default the built-in one applies, so a
    ticket always gets targets even when an admin deleted too much.
    """
    by_key = {(p.category, p.priority): p for p in policies}
    for key in ((category, priority), (category, None), (None, priority), (None, None)):
        if key in by_key:
            return by_key[key]
    return DEFAULT_SLA_POLICY


# ---------------------------------------------------------------------------
# Business hours and SLA arithmetic
# ---------------------------------------------------------------------------

ALL_WEEK: frozenset[int] = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """When the SLA clock runs. Pass ``None`` instead of an instance for 24x7.

    Defaults follow the seed: staff are at the desk at 08:00 (早上8点到公司) and track
    vehicles every day (每天), so the desk works seven days a week; 18:00 is the
    closing time. ``weekdays`` uses ``date.weekday()`` numbering (Monday = 0).
    A window must not span midnight (``start < end``); use ``None`` for round-the-clock.
    """

    tz: str = SHANGHAI
    start: time = time(8, 0)
    end: time = time(18, 0)
    weekdays: frozenset[int] = ALL_WEEK
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        ZoneInfo(self.tz)  # fail fast on an unknown zone name
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("business hours are local wall times; give naive start/end")
        if not self.start < self.end:
            raise ValueError("business hours must start before they end (no overnight window)")
        if not self.weekdays or not set(self.weekdays) <= set(ALL_WEEK):
            raise ValueError("weekdays must be a non-empty subset of 0..6 (Monday = 0)")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays


DEFAULT_BUSINESS_HOURS = BusinessHours()

# A run of 20 years of non-working days means a configuration that can never meet a
# deadline; stop instead of looping forever.
_MAX_DAYS_SCANNED = 366 * 20


def _windows(after: datetime, hours: BusinessHours) -> Iterator[tuple[datetime, datetime]]:
    """Business windows in UTC, in order, that end after ``after`` (clipped to start at it)."""
    zone = hours.zone
    day = after.astimezone(zone).date()
    for _ in range(_MAX_DAYS_SCANNED):
        if hours.is_working_day(day):
            opens = datetime.combine(day, hours.start, zone).astimezone(UTC)
            closes = datetime.combine(day, hours.end, zone).astimezone(UTC)
            if closes > after:
                yield max(opens, after), closes
        day += timedelta(days=1)
    raise ValueError("no business window found within 20 years; check weekdays and holidays")


def _add_business(start: datetime, amount: timedelta, hours: BusinessHours | None) -> datetime:
    if amount < timedelta(0):
        raise ValueError("cannot add a negative amount of business time")
    if hours is None or amount == timedelta(0):
        # Zero minutes is "now", even outside business hours: nothing is owed yet.
        return start + amount
    remaining = amount
    for opens, closes in _windows(start, hours):
        available = closes - opens
        if remaining <= available:
            return opens + remaining
        remaining -= available
    raise AssertionError("unreachable: _windows raises when it runs out")  # pragma: no cover


def _business_between(a: datetime, b: datetime, hours: BusinessHours | None) -> timedelta:
    if b <= a:
        return timedelta(0)
    if hours is None:
        return b - a
    total = timedelta(0)
    for opens, closes in _windows(a, hours):
        if opens >= b:
            break
        total += min(closes, b) - opens
    return total


def add_business_minutes(
    start: datetime, minutes: int | float, hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS
) -> datetime:
    """The instant ``minutes`` business minutes after ``start`` (UTC).

    Outside business hours the count starts at the next opening, so a call at 23:00
    with a 5-minute target is due 5 minutes after the desk opens. A target that ends
    exactly at closing time is due at closing time, not the next morning.
    """
    return _add_business(_require_aware(start, "start"), minutes * _MINUTE, hours)


def business_minutes_between(
    a: datetime, b: datetime, hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS
) -> float:
    """Business minutes in ``[a, b)``; 0 when ``b`` is not after ``a`` (never negative)."""
    return _business_between(_require_aware(a, "a"), _require_aware(b, "b"), hours) / _MINUTE


class Pause(NamedTuple):
    """A span during which the SLA clock stood still; ``end=None`` means still paused.

    A plain ``(start, end)`` tuple is accepted wherever a Pause is.
    """

    start: datetime
    end: datetime | None = None


PauseLike = Pause | tuple[datetime, datetime | None]


def _merged_pauses(
    pauses: Iterable[PauseLike], floor: datetime, ceiling: datetime | None = None
) -> list[tuple[datetime, datetime | None]]:
    """Pauses clipped to ``[floor, ceiling]``, sorted, overlaps merged; ``None`` = open-ended.

    Merging matters: two overlapping pauses must not be subtracted twice.
    """
    spans: list[tuple[datetime, datetime | None]] = []
    for raw_start, raw_end in pauses:
        start = max(_require_aware(raw_start, "pause start"), floor)
        end = None if raw_end is None else _require_aware(raw_end, "pause end")
        if end is not None and end < _require_aware(raw_start, "pause start"):
            raise ValueError(f"pause ends before it starts: {raw_start!r} > {raw_end!r}")
        if ceiling is not None:
            if start >= ceiling:
                continue
            end = ceiling if end is None else min(end, ceiling)
        if end is not None and end <= start:
            continue
        spans.append((start, end))
    spans.sort(key=lambda span: span[0])
    merged: list[tuple[datetime, datetime | None]] = []
    for start, end in spans:
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None:
                break  # an open pause swallows everything after it
            if start <= last_end:
                merged[-1] = (last_start, None if end is None else max(last_end, end))
                continue
        merged.append((start, end))
    return merged


def elapsed_sla_minutes(
    opened_at: datetime,
    now: datetime,
    pauses: Iterable[PauseLike] = (),
    hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS,
) -> float:
    """SLA minutes consumed between opening and ``now``: business time minus paused time."""
    opened = _require_aware(opened_at, "opened_at")
    current = _require_aware(now, "now")
    if current <= opened:
        return 0.0
    elapsed = _business_between(opened, current, hours)
    for start, end in _merged_pauses(pauses, opened, current):
        assert end is not None  # clipped to the ceiling
        elapsed -= _business_between(start, end, hours)
    return elapsed / _MINUTE


def due_at(
    opened_at: datetime,
    target_minutes: int | float,
    pauses: Iterable[PauseLike] = (),
    hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS,
) -> datetime | None:
    """When ``target_minutes`` SLA minutes will have elapsed, pushed back by every pause.

    Returns ``None`` while the clock is stopped before reaching the target (an open
    pause): there is no deadline until the customer replies. A deadline reached
    before a pause began stays where it was — pausing cannot undo a breach.
    """
    cursor = _require_aware(opened_at, "opened_at")
    remaining = target_minutes * _MINUTE
    if remaining < timedelta(0):
        raise ValueError("target_minutes must not be negative")
    for start, end in _merged_pauses(pauses, cursor):
        if start > cursor:
            candidate = _add_business(cursor, remaining, hours)
            if candidate <= start:
                return candidate
            remaining -= _business_between(cursor, start, hours)
        if end is None:
            return None
        cursor = max(cursor, end)
    return _add_business(cursor, remaining, hours)


# ---------------------------------------------------------------------------
# Ticket state: the facts the SLA rules need, updated by actions
# ---------------------------------------------------------------------------

CSAT_SCORES = range(1, 6)


@dataclass(frozen=True, slots=True)
class TicketState:
    """The SLA-relevant facts of one ticket; a new instance per action (history is the caller's).

    The targets are copied from the policy when the ticket opens, so an admin
    changing policies later does not move deadlines of tickets already running.
    """

    status: TicketStatus
    opened_at: datetime
    first_response_minutes: int
    resolution_minutes: int
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    escalated_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    resolution: str | None = None
    csat_score: int | None = None

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1].end is None


def open_ticket(*, opened_at: datetime, policy: SlaPolicy) -> TicketState:
    """A new ticket: status ``open``, clocks start at ``opened_at``."""
    return TicketState(
        status=TicketStatus.OPEN,
        opened_at=_require_aware(opened_at, "opened_at"),
        first_response_minutes=policy.first_response_minutes,
        resolution_minutes=policy.resolution_minutes,
    )


def _close_pause(pauses: tuple[Pause, ...], at: datetime) -> tuple[Pause, ...]:
    if pauses and pauses[-1].end is None:
        return (*pauses[:-1], Pause(pauses[-1].start, at))
    return pauses


def apply_action(
    state: TicketState,
    action: Action,
    at: datetime,
    *,
    resolution: str | None = None,
    score: int | None = None,
) -> TicketState:
    """Apply one step: check the table, then update the clocks.

    Clock rules: any staff response (``respond`` / ``ask_customer``) counts as the
    first response; ``ask_customer`` pauses the clock and ``customer_reply``,
    ``respond``, ``escalate`` or ``resolve`` end the pause; the time between
    ``resolve`` and ``reopen`` counts as a pause, so a reopened ticket is not charged
    for the days it sat resolved.
    """
    when = _require_aware(at, "at")
    if when < state.opened_at:
        raise ValueError("an action cannot happen before the ticket was opened")
    new_status = transition(state.status, action)
    changes: dict[str, Any] = {"status": new_status}

    if action in (Action.RESPOND, Action.ASK_CUSTOMER) and state.first_responded_at is None:
        changes["first_responded_at"] = when

    if new_status is TicketStatus.WAITING_CUSTOMER:
        if not state.paused:
            changes["pauses"] = (*state.pauses, Pause(when, None))
    else:
        changes["pauses"] = _close_pause(state.pauses, when)

    if action is Action.ESCALATE:
        changes["escalated_at"] = when
    elif action is Action.RESOLVE:
        text = (resolution or "").strip()
        if not text:
            raise DomainError("resolution_required", "a resolution text is required to resolve a complaint")
        changes["resolved_at"] = when
        changes["resolution"] = text
    elif action is Action.REOPEN:
        assert state.resolved_at is not None  # only RESOLVED can be reopened
        changes["pauses"] = (*changes["pauses"], Pause(state.resolved_at, when))
        changes["resolved_at"] = None
    elif action is Action.SURVEY:
        changes["csat_score"] = validate_csat(score)
    return replace(state, **changes)


def validate_csat(score: int | None) -> int:
    """A satisfaction score must be a whole number 1..5."""
    if isinstance(score, bool) or not isinstance(score, int) or score not in CSAT_SCORES:
        raise DomainError("invalid_score", "the satisfaction score must be a whole number from 1 to 5",
                          {"score": score})
    return score


def first_response_due(state: TicketState, hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS
                       ) -> datetime | None:
    return due_at(state.opened_at, state.first_response_minutes, state.pauses, hours)


def resolution_due(state: TicketState, hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS
                   ) -> datetime | None:
    return due_at(state.opened_at, state.resolution_minutes, state.pauses, hours)


def breaches(
    state: TicketState, now: datetime, hours: BusinessHours | None = DEFAULT_BUSINESS_HOURS
) -> frozenset[SlaKind]:
    """The SLA kinds breached as of ``now``.

    First response is breached when no response came by its due time (or it came
    late); resolution likewise. While the ticket waits on the customer the clock
    stands still, so a deadline not yet reached when the pause began cannot be
    breached during the pause.
    """
    current = _require_aware(now, "now")
    found: set[SlaKind] = set()
    checks = (
        (SlaKind.FIRST_RESPONSE, first_response_due(state, hours), state.first_responded_at),
        (SlaKind.RESOLUTION, resolution_due(state, hours), state.resolved_at),
    )
    for kind, due, met_at in checks:
        if due is None:
            continue
        done_or_now = current if met_at is None else min(met_at, current)
        if done_or_now > due:
            found.add(kind)
    return frozenset(found)


def breaches_to_emit(
    breached: Iterable[SlaKind], already_emitted: Iterable[SlaKind]
) -> tuple[SlaKind, ...]:
    """Breaches not yet announced, in a stable order, so each kind is emitted once per ticket."""
    pending = set(breached) - set(already_emitted)
    return tuple(kind for kind in SlaKind if kind in pending)


# ---------------------------------------------------------------------------
# Suggested reply
# ---------------------------------------------------------------------------


# ---------------------------------------------------------------------------
# Calls: callbacks the desk owes
# ---------------------------------------------------------------------------

# Outcomes of a returning call that settle the callback it returns. `no_answer` is an
# attempt (the callback stays owed); `callback` settles it and owes a new one (the
# customer asked to be called again later).
CALLBACK_SETTLING_OUTCOMES = frozenset({"answered", "callback", "complaint_opened", "escalated"})


def settles_callback(outcome: str) -> bool:
    return outcome in CALLBACK_SETTLING_OUTCOMES


def check_returning_call(*, original_id: str, original_outcome: str | None, settled: bool) -> None:
    """A call that says it returns callback ``original_id``: the original must be a call whose
    outcome was ``callback`` (None = no such call, 422) and must not be settled yet (409)."""
    if original_outcome is None:
        raise DomainError("unknown_call", f"call {original_id} does not exist", {"callback_of": original_id})
    if original_outcome != "callback":
        raise DomainError("not_a_callback", f"call {original_id} did not promise a callback",
                          {"callback_of": original_id, "outcome": original_outcome})
    if settled:
        raise CallbackSettled(original_id)


class CallbackSettled(DomainError):
    """The callback was already returned (409)."""

    def __init__(self, call_id: str) -> None:
        super().__init__("callback_settled", f"the callback of call {call_id} was already returned",
                         {"callback_of": call_id})


class DelayReason(StrEnum):
    TRAFFIC_JAM = "traffic_jam"
    BREAKDOWN = "breakdown"
    CUSTOMS_INSPECTION = "customs_inspection"
    WEATHER = "weather"
    FORCE_MAJEURE = "force_majeure"
    VEHICLE_STOPPED = "vehicle_stopped"
    NO_SIGNAL = "no_signal"
    SLOW_PROGRESS = "slow_progress"
    OTHER = "other"


def parse_delay_reason(value: str | None) -> DelayReason | None:
    """Tracking's reason code → ours; an unknown code becomes ``other`` (tracking may add codes)."""
    if value is None or not value.strip():
        return None
    try:
        return DelayReason(value.strip().lower())
    except ValueError:
        return DelayReason.OTHER


# Plain words, no blame: each phrase reads after "由于" / "because of" … and never
# points at the customer, the driver or a partner by name.
DELAY_REASON_TEXT: Mapping[DelayReason, Mapping[Language, str]] = {
    DelayReason.TRAFFIC_JAM: {Language.ZH_CN: "途中遇到交通拥堵", Language.EN: "heavy traffic on the road"},
    DelayReason.BREAKDOWN: {Language.ZH_CN: "运输车辆途中出现故障，正在抢修",
                            Language.EN: "a breakdown of the truck, which is being repaired"},
    DelayReason.CUSTOMS_INSPECTION: {Language.ZH_CN: "车辆过关时需要接受海关查验",
                                     Language.EN: "a customs inspection of the vehicle at the border"},
    DelayReason.WEATHER: {Language.ZH_CN: "天气原因", Language.EN: "bad weather"},
    DelayReason.FORCE_MAJEURE: {Language.ZH_CN: "不可抗力因素",
                                Language.EN: "circumstances beyond our control"},
    DelayReason.VEHICLE_STOPPED: {Language.ZH_CN: "车辆在途中停留的时间比计划长",
                                  Language.EN: "a longer stop of the vehicle on the way than planned"},
    DelayReason.NO_SIGNAL: {Language.ZH_CN: "车辆定位信号暂时中断",
                            Language.EN: "a temporary loss of the vehicle's GPS signal"},
    DelayReason.SLOW_PROGRESS: {Language.ZH_CN: "车辆行驶速度比预期慢",
                                Language.EN: "slower progress of the vehicle than planned"},
    DelayReason.OTHER: {Language.ZH_CN: "运输途中出现了意外情况",
                        Language.EN: "an unexpected situation on the way"},
}


@dataclass(frozen=True, slots=True)
class ShipmentPosition:
    """The last known position: a place name when known, else coordinates."""

    at: datetime
    place: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True, slots=True)
class ShipmentSnapshot:
    """The complaint's copy of tracking's shipment view (from the local read model).

    ``status`` is tracking's vocabulary (``registered | in_transit | arrived |
    out_for_delivery | delivered | exception``); unknown values are treated as in transit.
    """

    waybill_no: str | None = None
    status: str = "in_transit"
    last_position: ShipmentPosition | None = None
    eta: datetime | None = None
    delayed: bool = False
    delay_minutes: int | None = None
    delay_reason: DelayReason | None = None
    promised_at: datetime | None = None
    destination: str | None = None


_EN_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_local_time(value: datetime, language: Language, tz: str = SHANGHAI) -> str:
    """``11月30日 20:30`` (zh-CN) or ``30 Nov 20:30`` (en), in the desk's timezone.

    Built by hand rather than with ``strftime``: month names would follow the
    process locale otherwise.
    """
    local = _require_aware(value, "value").astimezone(ZoneInfo(tz))
    clock = f"{local.hour:02d}:{local.minute:02d}"
    if language is Language.EN:
        return f"{local.day} {_EN_MONTHS[local.month - 1]} {clock}"
    return f"{local.month}月{local.day}日 {clock}"


def _duration_text(minutes: int, language: Language) -> str:
    hours_part, minutes_part = divmod(max(minutes, 0), 60)
    if language is Language.EN:
        pieces = []
        if hours_part:
            pieces.append(f"{hours_part} hour{'s' if hours_part != 1 else ''}")
        if minutes_part or not hours_part:
            pieces.append(f"{minutes_part} minute{'s' if minutes_part != 1 else ''}")
        return "about " + " ".join(pieces)
    text = ""
    if hours_part:
        text += f"{hours_part}小时"
    if minutes_part or not hours_part:
        text += f"{minutes_part}分钟"
    return "约" + text


def _coordinates_text(lat: float, lon: float, language: Language) -> str:
    if language is Language.EN:
        return f"{abs(lat):.4f}°{'N' if lat >= 0 else 'S'}, {abs(lon):.4f}°{'E' if lon >= 0 else 'W'}"
    return f"{'北纬' if lat >= 0 else '南纬'}{abs(lat):.4f}°、{'东经' if lon >= 0 else '西经'}{abs(lon):.4f}°"


def _position_sentence(position: ShipmentPosition, ref: str, language: Language, tz: str) -> str | None:
    if position.place:
        where = position.place
    elif position.lat is not None and position.lon is not None:
        where = _coordinates_text(position.lat, position.lon, language)
    else:
        return None
    when = format_local_time(position.at, language, tz)
    if language is Language.EN:
        return f"Your goods{ref} are currently near {where} (position at {when})."
    return f"您的货物{ref}目前在{where}附近（{when}的定位）。"


def _tz_label(tz: str) -> str:
    return " (Beijing time)" if tz == SHANGHAI else f" ({tz} time)"


def _greeting(caller_name: str | None, language: Language) -> str:
    name = (caller_name or "").strip()
    if language is Language.EN:
        return f"Hello {name}," if name else "Hello,"
    return f"{name}您好！" if name else "您好！"


_FOLLOW_UP = {
    Language.ZH_CN: "我们会持续跟踪，货物到达后第一时间通知您。",
    Language.EN: "We will keep tracking your goods and let you know as soon as they arrive.",
}
_THANKS = {
    Language.ZH_CN: "给您带来不便，非常抱歉，谢谢您的理解与耐心！",
    Language.EN: "We apologise for the inconvenience and thank you for your patience.",
}


def _waybill_ref(shipment: ShipmentSnapshot | None, language: Language) -> str:
    if shipment is None or not shipment.waybill_no:
        return ""
    if language is Language.EN:
        return f" (waybill {shipment.waybill_no})"
    return f"（运单号{shipment.waybill_no}）"


def _delay_reply(shipment: ShipmentSnapshot | None, language: Language, tz: str, greeting: str) -> str:
    en = language is Language.EN
    if shipment is None:
        if en:
            return (f"{greeting} we are very sorry to keep you waiting. Could you please give us your "
                    "waybill number? We will check where your goods are and when they will arrive, and "
                    "call you back right away. Thank you!")
        return (f"{greeting}非常抱歉让您久等了。麻烦您提供一下运单号，我们马上为您查询货物的位置和预计"
                "到达时间，并尽快给您回电。谢谢！")

    parts: list[str] = []
    opening = ("we are very sorry to keep you waiting" if en else "非常抱歉让您久等了")
    parts.append(f"{greeting} {opening}." if en else f"{greeting}{opening}。")
    ref = _waybill_ref(shipment, language)
    dest = shipment.destination
    status = shipment.status

    if status == "delivered":
        if en:
            parts.append(f"Our system shows that your goods{ref} have been delivered and signed for. "
                         "If they have not reached you, we will check the signature with the station "
                         "right away and call you back.")
        else:
            parts.append(f"系统显示您的货物{ref}已送达签收。如果您还没有收到，我们马上与站点核实签收"
                         "情况，并第一时间给您回复。")
        parts.append(_THANKS[language])
        return " ".join(parts) if en else "".join(parts)

    if status == "exception":
        if en:
            parts.append(f"Your goods{ref} met an exception on the way. We have registered it and our "
                         "supervisor is following it up; we will contact you with the outcome as soon as "
                         "possible.")
        else:
            parts.append(f"您的货物{ref}在运输途中出现了异常，我们已登记并反馈给主管跟进处理，"
                         "处理结果会第一时间告知您。")
        parts.append(_THANKS[language])
        return " ".join(parts) if en else "".join(parts)

    position = (_position_sentence(shipment.last_position, ref, language, tz)
                if shipment.last_position is not None else None)
    if status == "arrived":
        where = dest or ("the destination station" if en else "目的站")
        parts.append(f"Your goods{ref} have arrived at {where} and delivery is being arranged."
                     if en else f"您的货物{ref}已到达{where}，正在安排派送。")
    elif status == "out_for_delivery":
        parts.append(f"Your goods{ref} are out for delivery." if en else f"您的货物{ref}正在派送途中。")
    elif status == "registered":
        parts.append(f"Your goods{ref} are registered and their departure is being arranged."
                     if en else f"您的货物{ref}已登记，正在安排发运。")
    elif position:
        parts.append(position)

    reason = shipment.delay_reason or (DelayReason.OTHER if shipment.delayed else None)
    eta_text = format_local_time(shipment.eta, language, tz) if shipment.eta else None
    if shipment.delayed and reason is not None:
        cause = DELAY_REASON_TEXT[reason][language]
        late = ""
        if shipment.delay_minutes and shipment.delay_minutes > 0:
            late = _duration_text(shipment.delay_minutes, language)
        promised = format_local_time(shipment.promised_at, language, tz) if shipment.promised_at else None
        if en:
            sentence = f"The delay is due to {cause}"
            if late and promised:
                sentence += f", and the goods are running {late} behind the promised {promised}"
            elif late:
                sentence += f", and the goods are running {late} late"
            parts.append(sentence + ".")
        else:
            sentence = f"由于{cause}，"
            if late and promised:
                sentence += f"到货时间比原定的{promised}晚{late}"
            elif late:
                sentence += f"到货时间比原计划晚{late}"
            else:
                sentence += "到货时间比原计划有所推迟"
            # One sentence in Chinese: "由于…，晚约…，预计…送达…。" reads as a single explanation.
            parts.append(sentence + ("，" if eta_text else "。"))
    if eta_text:
        if en:
            where = f" at {dest}" if dest else ""
            label = "The revised arrival time" if shipment.delayed else "The expected arrival time"
            parts.append(f"{label}{where} is {eta_text}{_tz_label(tz)}.")
        else:
            where = f"送达{dest}" if dest else "送达"
            parts.append(f"预计{eta_text}{where}。")
    elif status not in ("arrived", "out_for_delivery"):
        # The seed: confirm the real arrival time with the downstream station, then tell the customer.
        parts.append("We are confirming the exact arrival time with the downstream station and will tell "
                     "you as soon as we know." if en
                     else "我们正在与下游站点确认具体到货时间，确认后马上告知您。")
    parts.append(_FOLLOW_UP[language])
    parts.append(_THANKS[language])
    return " ".join(parts) if en else "".join(parts)


def _other_reply(category: Category, shipment: ShipmentSnapshot | None, language: Language,
                 greeting: str, quote_hours: int) -> str:
    ref = _waybill_ref(shipment, language)
    if language is Language.EN:
        bodies = {
            Category.DAMAGE: f"we are very sorry that your goods{ref} were damaged. We have registered the "
                             "exception and our supervisor will follow it up and contact you shortly.",
            Category.LOSS: f"we are very sorry that your goods{ref} are missing. We have registered the "
                           "exception and our supervisor will follow it up and contact you shortly.",
            Category.QUOTE: "thank you for your enquiry. We will work out the price for your goods and route "
                            f"and give you our quote within {quote_hours} hours.",
            Category.ATTITUDE: "we are very sorry that our service did not meet your expectations. We have "
                               "recorded your feedback; our supervisor will look into it and get back "
                               "to you.",
            Category.BILLING: "we are sorry for the trouble with your bill. We will check the charges with "
                              "our finance team and get back to you as soon as possible.",
            Category.OTHER: "we are sorry for the inconvenience. We have recorded your request and will get "
                            "back to you as soon as possible.",
        }
        return f"{greeting} {bodies[category]} Thank you!"
    follow_up = "我们已登记异常，主管会尽快跟进处理并与您联系。"
    bodies_zh = {
        Category.DAMAGE: f"非常抱歉，您的货物{ref}出现了破损。{follow_up}",
        Category.LOSS: f"非常抱歉，您的货物{ref}出现了丢失的情况。{follow_up}",
        Category.QUOTE: f"感谢您的询价。我们会根据货物和线路为您核算，并在{quote_hours}小时内回复您报价。",
        Category.ATTITUDE: "非常抱歉我们的服务让您不满意。我们已记录您的意见，"
                           "主管会核实并跟进，尽快给您答复。",
        Category.BILLING: "不好意思给您带来困扰。我们会与财务核对费用明细，尽快给您答复。",
        Category.OTHER: "不好意思给您带来不便。我们已记录您的问题，会尽快处理并回复您。",
    }
    return f"{greeting}{bodies_zh[category]}谢谢！"


def suggested_reply(
    *,
    category: Category,
    language: Language = Language.ZH_CN,
    caller_name: str | None = None,
    shipment: ShipmentSnapshot | None = None,
    tz: str = SHANGHAI,
    quote_hours: int = 8,
) -> str:
    """A polite reply for staff to read or send, in the seed's spirit.

    Greet (您好), apologise (非常抱歉 / 不好意思), say where the goods are, why they
    are late in plain words and when they will arrive (local time), promise to keep
    tracking, thank (谢谢). Never argues and never blames the customer (客户始终是对的).
    """
    greeting = _greeting(caller_name, language)
    if category is Category.DELAY:
        return _delay_reply(shipment, language, tz, greeting)
    return _other_reply(category, shipment, language, greeting, quote_hours)


# ---------------------------------------------------------------------------
# Months
# ---------------------------------------------------------------------------

_MONTH_RE = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month, read in the desk's timezone for reports and visits."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9998 or not 1 <= self.month <= 12:
            raise ValueError(f"not a month: {self.year}-{self.month}")

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def starts_at(self, tz: str = SHANGHAI) -> datetime:
        """First instant of the month (UTC), local midnight of the 1st."""
        return datetime(self.year, self.month, 1, tzinfo=ZoneInfo(tz)).astimezone(UTC)

    def ends_at(self, tz: str = SHANGHAI) -> datetime:
        """First instant after the month (UTC); months are half-open ``[starts_at, ends_at)``."""
        return self.next().starts_at(tz)

    def contains(self, value: datetime, tz: str = SHANGHAI) -> bool:
        return self.starts_at(tz) <= _require_aware(value, "value") < self.ends_at(tz)


def parse_month(text: str) -> Month:
    """Strict ``YYYY-MM`` (e.g. ``2026-11``); anything else raises ``invalid_month``."""
    match = _MONTH_RE.fullmatch(text) if isinstance(text, str) else None
    try:
        if match is None:
            raise ValueError(text)
        return Month(int(match.group(1)), int(match.group(2)))
    except ValueError:
        raise DomainError("invalid_month", "month must be YYYY-MM, e.g. 2026-11", {"month": text}) from None


# ---------------------------------------------------------------------------
# Customer care: key customers and the monthly return visit (回访)
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CareRules:
    """Configurable customer-care thresholds.

    ``key_min_monthly_shipments``: a customer shipping at least this many waybills
    in the month before is treated as key even without the explicit flag (``None``
    disables the volume rule). ``new_customer_days``: a customer first seen within
    this many days before the month's end is "new" and gets a visit.
    """

    key_min_monthly_shipments: int | None = 30
    new_customer_days: int = 90


DEFAULT_CARE_RULES = CareRules()


def is_key_customer(*, flagged: bool, shipments_last_month: int, rules: CareRules = DEFAULT_CARE_RULES
                    ) -> bool:
    """Explicitly flagged by staff, or shipping at least the configured volume."""
    if flagged:
        return True
    threshold = rules.key_min_monthly_shipments
    return threshold is not None and shipments_last_month >= threshold


@dataclass(frozen=True, slots=True)
class CustomerSighting:
    """A customer seen on a shipment's registration: the file is created on first sight;
    a later sighting only fills the contact details still missing and moves
    ``first_seen_at`` back, never overwrites."""

    customer_id: str
    at: datetime
    name: str | None = None
    phone: str | None = None
    email: str | None = None


def merge_sightings(sightings: Iterable[CustomerSighting]) -> list[CustomerSighting]:
    """One sighting per customer that records what all of them, recorded in the given order,
    would: the first name, phone and e-mail given (a later one only fills a gap) and the
    earliest time. Customers in the order first seen."""
    merged: dict[str, CustomerSighting] = {}
    for s in sightings:
        m = merged.get(s.customer_id)
        merged[s.customer_id] = s if m is None else CustomerSighting(
            customer_id=s.customer_id, at=min(m.at, s.at), name=m.name if m.name is not None else s.name,
            phone=m.phone if m.phone is not None else s.phone, email=m.email if m.email is not None else s.email)
    return list(merged.values())


@dataclass(frozen=True, slots=True)
class CustomerFile:
    """What the visit rule needs from a customer file (客户档案).

    ``shipments_last_month`` counts waybills in the month *before* the visit month
    (the repository counts them for the month asked about).
    """

    customer_id: str
    name: str
    first_seen_at: datetime
    key_flag: bool = False
    shipments_last_month: int = 0
    visits: tuple[datetime, ...] = ()


class VisitReason(StrEnum):
    KEY_CUSTOMER = "key_customer"
    NEW_CUSTOMER = "new_customer"


@dataclass(frozen=True, slots=True)
class VisitDue:
    customer_id: str
    name: str
    reasons: tuple[VisitReason, ...]
    last_visit_at: datetime | None


def visits_due(
    customers: Iterable[CustomerFile],
    month: Month,
    *,
    rules: CareRules = DEFAULT_CARE_RULES,
    tz: str = SHANGHAI,
) -> list[VisitDue]:
    """Key and new customers with no return visit recorded in ``month``.

    Customers first seen after the month are not due (they did not exist yet).
    Key customers come first, then by customer id, so the list is a stable call order.
    """
    starts, ends = month.starts_at(tz), month.ends_at(tz)
    new_since = ends - timedelta(days=rules.new_customer_days)
    due: list[VisitDue] = []
    for customer in customers:
        first_seen = _require_aware(customer.first_seen_at, "first_seen_at")
        if first_seen >= ends:
            continue
        reasons: list[VisitReason] = []
        if is_key_customer(flagged=customer.key_flag, shipments_last_month=customer.shipments_last_month,
                           rules=rules):
            reasons.append(VisitReason.KEY_CUSTOMER)
        if first_seen >= new_since:
            reasons.append(VisitReason.NEW_CUSTOMER)
        if not reasons:
            continue
        visits = sorted(_require_aware(v, "visit") for v in customer.visits)
        if any(starts <= v < ends for v in visits):
            continue
        before = [v for v in visits if v < ends]
        due.append(VisitDue(customer.customer_id, customer.name, tuple(reasons),
                            before[-1] if before else None))
    due.sort(key=lambda d: (VisitReason.KEY_CUSTOMER not in d.reasons, d.customer_id))
    return due


# ---------------------------------------------------------------------------
# Monthly complaints report
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketFacts:
    """One ticket as the report sees it (the repository fills it in)."""

    category: Category
    channel: Channel
    opened_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_breached: bool = False
    resolution_breached: bool = False
    csat_score: int | None = None


@dataclass(frozen=True, slots=True)
class SlaOutcome:
    """How many tickets met / breached one SLA; tickets still running are not counted."""

    met: int
    breached: int

    @property
    def met_share(self) -> float | None:
        decided = self.met + self.breached
        return None if decided == 0 else self.met / decided


@dataclass(frozen=True, slots=True)
class ComplaintsReport:
    month: Month
    total: int
    by_category: Mapping[Category, int]
    by_channel: Mapping[Channel, int]
    first_response: SlaOutcome
    resolution: SlaOutcome
    median_first_response_minutes: float | None
    median_resolution_minutes: float | None
    csat_average: float | None
    csat_distribution: Mapping[int, int] = field(default_factory=dict)

    @property
    def csat_count(self) -> int:
        return sum(self.csat_distribution.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: enum keys as strings, shares 0..1, minutes as floats."""
        return {
            "month": str(self.month),
            "total": self.total,
            "by_category": {str(k): v for k, v in self.by_category.items()},
            "by_channel": {str(k): v for k, v in self.by_channel.items()},
            "first_response": {"met": self.first_response.met, "breached": self.first_response.breached,
                               "met_share": self.first_response.met_share},
            "resolution": {"met": self.resolution.met, "breached": self.resolution.breached,
                           "met_share": self.resolution.met_share},
            "median_first_response_minutes": self.median_first_response_minutes,
            "median_resolution_minutes": self.median_resolution_minutes,
            "csat_average": self.csat_average,
            "csat_count": self.csat_count,
            "csat_distribution": {str(k): v for k, v in self.csat_distribution.items()},
        }


def _outcome(done_at: datetime | None, due: datetime | None, flagged: bool, as_of: datetime | None
             ) -> bool | None:
    """True = met, False = breached, None = still running (not counted)."""
    if flagged:
        return False
    if done_at is not None:
        return not (due is not None and done_at > due)
    if as_of is not None and due is not None and as_of > due:
        return False
    return None


def monthly_report(
    facts: Iterable[TicketFacts], month: Month, *, as_of: datetime | None = None, tz: str = SHANGHAI
) -> ComplaintsReport:
    """Aggregate the tickets *opened* in ``month`` (desk timezone).

    An SLA counts as breached if it was flagged, if it was met after its due time,
    or (given ``as_of``) if it is still unmet past its due time. Medians are
    wall-clock minutes from opening — the time the customer actually waited.
    """
    by_category = dict.fromkeys(Category, 0)
    by_channel = dict.fromkeys(Channel, 0)
    distribution = dict.fromkeys(CSAT_SCORES, 0)
    first_minutes: list[float] = []
    resolution_minutes: list[float] = []
    fr_met = fr_breached = res_met = res_breached = 0
    checked_as_of = None if as_of is None else _require_aware(as_of, "as_of")
    total = 0
    for fact in facts:
        opened = _require_aware(fact.opened_at, "opened_at")
        if not month.contains(opened, tz):
            continue
        total += 1
        by_category[fact.category] += 1
        by_channel[fact.channel] += 1
        if fact.first_response_at is not None:
            responded = _require_aware(fact.first_response_at, "first_response_at")
            first_minutes.append((responded - opened) / _MINUTE)
        if fact.resolved_at is not None:
            resolved = _require_aware(fact.resolved_at, "resolved_at")
            resolution_minutes.append((resolved - opened) / _MINUTE)
        fr = _outcome(fact.first_response_at, fact.first_response_due, fact.first_response_breached,
                      checked_as_of)
        res = _outcome(fact.resolved_at, fact.resolution_due, fact.resolution_breached, checked_as_of)
        fr_met += fr is True
        fr_breached += fr is False
        res_met += res is True
        res_breached += res is False
        if fact.csat_score is not None:
            distribution[validate_csat(fact.csat_score)] += 1
    scored = sum(distribution.values())
    csat_average = (sum(score * n for score, n in distribution.items()) / scored) if scored else None
    return ComplaintsReport(
        month=month,
        total=total,
        by_category=by_category,
        by_channel=by_channel,
        first_response=SlaOutcome(fr_met, fr_breached),
        resolution=SlaOutcome(res_met, res_breached),
        median_first_response_minutes=statistics.median(first_minutes) if first_minutes else None,
        median_resolution_minutes=statistics.median(resolution_minutes) if resolution_minutes else None,
        csat_average=csat_average,
        csat_distribution=distribution,
    )


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def render_report_csv(report: ComplaintsReport) -> str:
    """The report as long-format CSV (``metric,key,value``), one figure per row.

    Long format keeps one stable header whatever categories or channels exist,
    which spreadsheets pivot easily. Shares are 0..1 with up to two decimals;
    empty values mean "no data".
    """
    rows: list[Sequence[str]] = [("metric", "key", "value"), ("month", "", str(report.month)),
                                 ("total", "", str(report.total))]
    rows += [("by_category", str(k), str(v)) for k, v in report.by_category.items()]
    rows += [("by_channel", str(k), str(v)) for k, v in report.by_channel.items()]
    for name, outcome in (("first_response", report.first_response), ("resolution", report.resolution)):
        rows += [
            (f"{name}_met", "", str(outcome.met)),
            (f"{name}_breached", "", str(outcome.breached)),
            (f"{name}_met_share", "", _csv_number(outcome.met_share)),
        ]
    rows += [
        ("median_first_response_minutes", "", _csv_number(report.median_first_response_minutes)),
        ("median_resolution_minutes", "", _csv_number(report.median_resolution_minutes)),
        ("csat_average", "", _csv_number(report.csat_average)),
        ("csat_count", "", str(report.csat_count)),
    ]
    rows += [("csat_distribution", str(k), str(v)) for k, v in report.csat_distribution.items()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()
