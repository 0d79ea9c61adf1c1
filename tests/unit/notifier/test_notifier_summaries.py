"""The throttle never drops a message: what goes, what is held and rolled up into a summary, when
the summary is due, and what it says (one SMS, every waybill by e-mail) — without I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifier.domain.decisions import schedule_summary
from services.notifier.domain.preferences import QuietHours
from services.notifier.domain.retries import check_retryable
from services.notifier.domain.sms import sms_info
from services.notifier.domain.summaries import (
    SmsForm,
    SummaryItem,
    fitting,
    sms_forms,
    summary_context,
    summary_item,
    tracking_link,
    waybills_named,
)
from services.notifier.domain.throttling import WINDOW, OpenSummary, throttle
from services.notifier.domain.vocabulary import (
    REASON_QUIET_HOURS,
    REASON_ROLLED_UP,
    REASON_THROTTLED,
    Channel,
    DelayReason,
    Language,
    Status,
)
from services.notifier.notifications.bindings import BINDINGS
from services.notifier.summaries.service import render_summary
from services.notifier.templates.renderer import TemplateRenderer
from services.notifier.templates.samples import SAMPLE_DATA
from shared.errors import Conflict

T0 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
NIGHT = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
QUIET = QuietHours(start=time(22), end=time(8))
LINK = "https://lcs.example.com/track"
renderer = TemplateRenderer()


def delay(no: int, *, reason: str = "traffic_jam", hours: int = 3) -> SummaryItem:
    return SummaryItem("delayed", f"SH20261128{no:05d}", at=(T0 + timedelta(hours=hours)).isoformat(), reason=reason)


# ---------------------------------------------------------------- the window


def test_over_the_limit_a_message_is_held_until_the_window_has_room() -> None:
    slots = [T0 - timedelta(minutes=50), T0 - timedelta(minutes=20), T0]
    verdict = throttle(slots, now=T0, limit=3)
    assert not verdict.send and verdict.into is None
    # The oldest of the three leaves the window at 10:10 + 1 h - 50 min = T0 + 10 min.
    assert verdict.due == T0 + timedelta(minutes=10)
    # Slots outside the window, or ahead of now (a summary not due yet), do not count.
    assert throttle([T0 - timedelta(hours=1), T0 + timedelta(minutes=5), T0], now=T0, limit=2).send


def test_while_a_summary_is_open_every_held_message_joins_it() -> None:
    summary = OpenSummary(id=uuid.uuid4(), due=T0 + timedelta(minutes=30))
    verdict = throttle([], now=T0, limit=10, open_summary=summary)
    assert (verdict.send, verdict.into, verdict.due) == (False, summary.id, summary.due)


def test_a_summary_waits_for_the_window_and_only_a_non_urgent_sms_for_the_morning() -> None:
    due = NIGHT + timedelta(minutes=20)
    for channel, urgent in ((Channel.SMS, True), (Channel.EMAIL, False), (Channel.EMAIL, True)):
        d = schedule_summary(channel=channel, urgent=urgent, due=due, quiet_hours=QUIET)
        assert (d.status, d.not_before, d.reason) == (Status.DEFERRED, due, REASON_THROTTLED)
    d = schedule_summary(channel=Channel.SMS, urgent=False, due=due, quiet_hours=QUIET)
    assert (d.status, d.not_before, d.reason) == (Status.DEFERRED, datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
                                                  REASON_QUIET_HOURS)


def test_a_message_inside_a_summary_is_not_sent_again_on_its_own() -> None:
    summary = uuid.uuid4()
    with pytest.raises(Conflict) as info:
        check_retryable(Status.FAILED, reason=REASON_ROLLED_UP, to="13800000000", text="您好", rolled_into=summary)
    assert info.value.code == "not_retryable"
    assert info.value.details == {"reason": "rolled_up", "summary_id": str(summary)}


# ---------------------------------------------------------------- the property


@dataclass
class Message:
    """A message on the wire: when it went, its place in the window, the events it tells."""

    at: datetime
    slot: datetime
    events: list[int]


@dataclass
class Pending:
    due: datetime
    events: list[int] = field(default_factory=list)


@dataclass
class Recipient:
    """One recipient on one channel, driven through the domain rule as the service drives it:
    each event is decided as it comes; the dispatcher sends a summary once it is due (when it
    runs), and a summary it has sent is closed."""

    limit: int
    sent: list[Message] = field(default_factory=list)
    pending: dict[uuid.UUID, Pending] = field(default_factory=dict)
    open: uuid.UUID | None = None
    held_at: dict[int, datetime] = field(default_factory=dict)

    def slots(self) -> list[datetime]:
        return [m.slot for m in self.sent] + [p.due for p in self.pending.values()]

    def dispatch(self, now: datetime) -> None:
        for sid, p in list(self.pending.items()):
            if p.due <= now:
                self.sent.append(Message(at=now, slot=p.due, events=p.events))
                del self.pending[sid]
                if self.open == sid:
                    self.open = None

    def receive(self, event: int, now: datetime) -> None:
        summary = OpenSummary(self.open, self.pending[self.open].due) if self.open is not None else None
        verdict = throttle(self.slots(), now=now, limit=self.limit, open_summary=summary)
        if verdict.send:
            self.sent.append(Message(at=now, slot=now, events=[event]))
            return
        assert verdict.due is not None
        self.held_at[event] = now
        if verdict.into is None:
            self.open = uuid.uuid4()
            self.pending[self.open] = Pending(due=verdict.due)
        assert verdict.into in (None, self.open)
        assert self.open is not None
        self.pending[self.open].events.append(event)


ARRIVALS = st.lists(
    st.tuples(st.sampled_from([0, 0, 0, 1, 5, 20, 45, 61, 90]),  # minutes since the previous event
              st.booleans()),  # did the dispatcher run just before it came (it may be late)
    min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(limit=st.integers(min_value=1, max_value=6), arrivals=ARRIVALS, waybills=st.integers(min_value=1, max_value=8))
def test_every_delay_ends_in_exactly_one_sent_message_and_the_hourly_limit_holds(
        limit: int, arrivals: list[tuple[int, bool]], waybills: int) -> None:
    recipient = Recipient(limit=limit)
    now = T0
    came: dict[int, datetime] = {}
    for event, (gap, dispatcher_ran) in enumerate(arrivals):
        now += timedelta(minutes=gap)
        if dispatcher_ran:
            recipient.dispatch(now)
        came[event] = now
        recipient.receive(event, now)
    recipient.dispatch(now + 2 * WINDOW)  # sending works: everything due goes in the end
    assert not recipient.pending

    # Every event is told exactly once: on its own, or inside exactly one summary.
    told = [e for m in recipient.sent for e in m.events]
    assert sorted(told) == sorted(came)
    # The throttle holds: no rolling hour has more than `limit` messages in it.
    slots = sorted(m.slot for m in recipient.sent)
    for t in slots:
        assert sum(1 for s in slots if t - WINDOW < s <= t) <= limit
    for m in recipient.sent:
        assert m.at >= m.slot
        # Nothing is held back longer than the window (as of its due time; a late dispatcher is late).
        for e in m.events:
            assert m.slot - came[e] <= WINDOW
        # What the summary says names every held delay's waybill.
        if len(m.events) > 1 or m.events[0] in recipient.held_at:
            items = [delay(e % waybills) for e in m.events]
            context = summary_context(items, link=None)
            assert waybills_named(context) == {i.waybill_no for i in items}
            assert context["delayed_count"] == len({i.waybill_no for i in items})


# ---------------------------------------------------------------- what the summary says


def test_each_kind_of_notice_gives_its_line_from_its_template_variables() -> None:
    for template in ("delayed", "departed", "recovered", "arrived", "out_for_delivery", "delivered",
                     "exception_reported", "complaint_opened", "complaint_responded", "complaint_resolved"):
        item = summary_item(template, SAMPLE_DATA[template])
        assert item.kind == template
        assert item.waybill_no == SAMPLE_DATA[template]["waybill_no"]
        assert SummaryItem.from_dict(item.as_dict()) == item
    d = summary_item("delayed", SAMPLE_DATA["delayed"])
    assert (d.at, d.reason) == (SAMPLE_DATA["delayed"]["revised_eta"], "traffic_jam")
    assert summary_item("complaint_opened", SAMPLE_DATA["complaint_opened"]).ref == "CP-20261201-0007"


def test_the_delay_binding_gives_the_summary_its_eta_and_reason() -> None:
    # The variables a delay's summary line reads are the ones the delay binding produces.
    from shared.events import ShipmentDelayed

    event = ShipmentDelayed(waybill_no="SH2026112800001", eta=T0, promised_at=T0 - timedelta(hours=2),
                            delay_minutes=120, reason="weather")
    item = summary_item("delayed", BINDINGS[ShipmentDelayed.TYPE].context(event))
    assert (item.waybill_no, item.at, item.reason) == ("SH2026112800001", T0.isoformat(), "weather")


def test_a_waybill_delayed_twice_is_listed_once_with_its_latest_eta() -> None:
    items = [delay(1, hours=3), delay(2), delay(1, hours=5, reason="weather"),
             SummaryItem("arrived", "SH2026112800009", at=T0.isoformat())]
    context = summary_context(items, link=None)
    assert context["count"] == 3 and (context["delayed_count"], context["other_count"]) == (2, 1)
    assert [d["waybill_no"] for d in context["delays"]] == ["SH2026112800001", "SH2026112800002"]
    assert context["delays"][0]["reason"] == "weather"
    assert context["delays"][0]["at"] == (T0 + timedelta(hours=5)).isoformat()


def test_sms_forms_and_the_link() -> None:
    assert sms_forms(None) == (SmsForm.LIST, SmsForm.CALL)
    assert sms_forms(LINK) == (SmsForm.LIST, SmsForm.LINK, SmsForm.CALL)
    assert tracking_link(None) is None and tracking_link("  ") is None
    assert tracking_link("https://lcs.example.com/") == LINK
    assert fitting(["x" * 200, "y" * 100, "z"]) == 1
    assert fitting(["长" * 80, "短" * 70]) == 1
    assert fitting(["长" * 80, "长" * 71]) == 1  # none fits: the last, shortest form


@pytest.mark.parametrize("language", list(Language))
def test_one_delay_is_told_in_full_in_one_sms(language: Language) -> None:
    rendered = render_summary(renderer, link=None, channel=Channel.SMS, language=language, name="无锡精工",
                              items=[delay(1, reason="customs_inspection")])
    assert "SH2026112800001" in rendered.text
    assert sms_info(rendered.text).segments == 1
    assert ("海关查验" in rendered.text) if language is Language.ZH_CN else ("customs inspection" in rendered.text)


@pytest.mark.parametrize("language", list(Language))
def test_many_delays_by_sms_are_the_count_and_the_link_or_call_us(language: Language) -> None:
    items = [delay(i) for i in range(20)]
    with_link = render_summary(renderer, link=LINK, channel=Channel.SMS, language=language, name=None, items=items)
    without = render_summary(renderer, link=None, channel=Channel.SMS, language=language, name=None, items=items)
    for rendered in (with_link, without):
        assert "20" in rendered.text and "SH2026" not in rendered.text
        assert sms_info(rendered.text).segments == 1
    assert LINK in with_link.text and "http" not in without.text
    assert ("致电客服或回复" in without.text) if language is Language.ZH_CN else ("call us or reply" in without.text)


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=60),
    others=st.lists(st.sampled_from(["departed", "recovered", "arrived", "out_for_delivery", "delivered",
                                     "exception_reported", "complaint_opened", "complaint_responded",
                                     "complaint_resolved"]), max_size=5),
    reason=st.sampled_from([r.value for r in DelayReason]),
    language=st.sampled_from(list(Language)),
    link=st.sampled_from([None, LINK, "https://track.lcs-logistics.example.com.cn/public"]),
)
def test_a_summary_sms_is_always_one_sms_and_the_email_lists_every_waybill(
        count: int, others: list[str], reason: str, language: Language, link: str | None) -> None:
    items = [delay(i, reason=reason) for i in range(count)]
    items += [SummaryItem(kind, f"SH20261127{i:05d}", ref="CP-20261201-0007", at=T0.isoformat(), reason="damage")
              for i, kind in enumerate(others)]
    sms = render_summary(renderer, link=link, channel=Channel.SMS, language=language, name="无锡精工", items=items)
    info = sms_info(sms.text)
    assert info.segments == 1
    assert info.encoding == ("ucs2" if language is Language.ZH_CN else "gsm7")
    email = render_summary(renderer, link=link, channel=Channel.EMAIL, language=language, name="无锡精工",
                           items=items)
    assert email.html is not None and email.subject
    for item in items:
        assert item.waybill_no in email.text and item.waybill_no in email.html
    assert str(count) in email.subject
