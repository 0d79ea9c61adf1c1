"""Throttle summaries (in the consumer's transaction, the recipient locked): a message the throttle
holds is stored `deferred` / `rolled_up` with `rolled_into` = its summary, and the summary — a
notification row of its own, template `summary` — is rendered again with every message it holds
and scheduled for when the hourly window has room (`domain/throttling.py`). The dispatcher sends
a summary like any row; its held messages take its outcome (`delivery/service.py`)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.notifier import metrics
from services.notifier.context import SOURCE, NotifierRuntime
from services.notifier.delivery.repository import wake_dispatcher
from services.notifier.domain.decisions import Decision, schedule_summary
from services.notifier.domain.idempotency import fallback_key, summary_key
from services.notifier.domain.links import summary_links
from services.notifier.domain.recipients import Delivery, mask_address
from services.notifier.domain.summaries import (
    SUMMARY_EVENT_TYPE,
    SUMMARY_TEMPLATE,
    SummaryItem,
    fitting,
    sms_forms,
    summary_context,
)
from services.notifier.domain.throttling import OpenSummary
from services.notifier.domain.vocabulary import REASON_ROLLED_UP, REASON_THROTTLED, Channel, Language, Status
from services.notifier.notifications.repository import insert_notification
from services.notifier.summaries import repository
from services.notifier.templates.renderer import Rendered, TemplateRenderer
from shared.events import NotificationFailed
from shared.metrics import count
from shared.outbox import publish

log = logging.getLogger("lcs.notifier")

# A summary's id and event id derive from its key, so that replaying the same events gives the same rows.
_SUMMARY_ID_NAMESPACE = uuid.UUID("3b1f7d52-8a0e-4f4e-9a57-6f2d0c9e4b21")
_SUMMARY_EVENT_NAMESPACE = uuid.UUID("9d0c4e1a-2b6f-4c8d-8e3a-5f7b1a2c3d4e")


async def find_open_summary(conn: asyncpg.Connection, recipient_key: str) -> OpenSummary | None:
    """The recipient's open summary (locked until commit), if there is one."""
    row = await repository.open_summary(conn, recipient_key)
    return OpenSummary(id=row["id"], due=row["decided_at"]) if row is not None else None


def render_summary(renderer: TemplateRenderer, *, link: str | None, channel: Channel, language: Language,
                   name: str | None, items: Sequence[SummaryItem]) -> Rendered:
    """The summary of ``items``: an e-mail lists every one, a group message as many as fit the
    robot's limit; an SMS takes the first form that fits one SMS (`domain/summaries.py`)."""
    context: dict[str, Any] = {**summary_context(items, link=link), "recipient_name": name}
    if channel is not Channel.SMS:
        return renderer.render(SUMMARY_TEMPLATE, channel, language, context)
    candidates = [renderer.render(SUMMARY_TEMPLATE, channel, language, {**context, "form": str(form)})
                  for form in sms_forms(link)]
    return candidates[fitting([c.text for c in candidates])]


async def hold(conn: asyncpg.Connection, *, rt: NotifierRuntime, delivery: Delivery, decision: Decision,
               member: dict[str, Any], item: SummaryItem) -> bool:
    """Store a message the throttle held (``member``: its rendered row) in its summary — the
    open one, or a new one due at ``decision.not_before`` — and render the summary again with
    it. True when this call stored it (a redelivered event finds its message stored already)."""
    if await repository.key_exists(conn, member["idempotency_key"]):
        return False
    summary_id = decision.into
    if summary_id is None:
        summary_id = await _open(conn, member=member, due=decision.not_before)
    await insert_notification(conn, {
        **member, "status": str(Status.DEFERRED), "reason": REASON_ROLLED_UP, "rolled_into": summary_id,
        "summary_item": item.as_dict(), "next_attempt_at": decision.not_before, "last_error": None,
    })
    channel = str(delivery.channel)
    count(metrics.NOTIFICATIONS.labels(channel, "none", str(Status.DEFERRED)))
    count(metrics.ROLLED_UP.labels(channel))
    await _refresh(conn, rt=rt, summary_id=summary_id, delivery=delivery)
    return True


async def _open(conn: asyncpg.Connection, *, member: dict[str, Any], due: datetime) -> uuid.UUID:
    """A new summary for the recipient of ``member``, due when the window has room; rendered by
    `_refresh` once the member is in."""
    key = summary_key(member["idempotency_key"])
    summary_id = uuid.uuid5(_SUMMARY_ID_NAMESPACE, key)
    await insert_notification(conn, {
        "id": summary_id, "idempotency_key": key, "event_id": uuid.uuid5(_SUMMARY_EVENT_NAMESPACE, key),
        "event_type": SUMMARY_EVENT_TYPE, "channel": member["channel"], "to_address": member["to_address"],
        "recipient_key": member["recipient_key"], "audience": member["audience"],
        "customer_id": member["customer_id"], "waybill_no": None, "template": SUMMARY_TEMPLATE,
        "language": member["language"], "urgent": False, "quiet_hours": member["quiet_hours"],
        # The summary's place in the throttle window is the time it is due.
        "decided_at": due, "subject": None, "body_text": "", "body_html": None,
        "status": str(Status.DEFERRED), "reason": REASON_THROTTLED, "next_attempt_at": due, "last_error": None,
        # A group summary that cannot be delivered goes by e-mail (its variables: `_refresh`).
        "fallback": ({"to": member["fallback"]["to"], "key": fallback_key(key), "context": {}}
                     if member.get("fallback") else None),
    })
    count(metrics.NOTIFICATIONS.labels(member["channel"], "none", str(Status.DEFERRED)))
    return summary_id


async def _refresh(conn: asyncpg.Connection, *, rt: NotifierRuntime, summary_id: uuid.UUID,
                   delivery: Delivery) -> None:
    """Render the summary with every message it holds, in the recipient's current language and
    quiet hours, and schedule it: urgent as soon as one of them is."""
    summary = await repository.get_summary(conn, summary_id)
    held = await repository.members_of(conn, summary_id)
    items = [SummaryItem.from_dict(m["summary_item"]) for m in held]
    urgent = any(m["urgent"] for m in held)
    channel = delivery.channel
    try:
        # The first link the summary carries as it is rendered (an SMS falls back to "call us"
        # when a link does not fit one SMS: then the next, shorter one is tried).
        for link in summary_links(rt.context.links, rt.settings.public_base_url, [i.waybill_no for i in items],
                                  summary["decided_at"]):
            rendered = render_summary(rt.context.renderer, link=link, channel=channel, language=delivery.language,
                                      name=delivery.name, items=items)
            if link is None or link in rendered.text:
                break
    except Exception as exc:  # noqa: BLE001 - a template error fails the summary (and what it holds), visibly
        await _template_failed(conn, summary=summary, error=f"template: {type(exc).__name__}: {exc}"[:500])
        return
    decision = schedule_summary(channel=channel, urgent=urgent, due=summary["decided_at"],
                                quiet_hours=delivery.quiet_hours)
    await repository.update_summary(
        conn, summary_id, subject=rendered.subject, text=rendered.text, html=rendered.html,
        language=str(rendered.language), urgent=urgent, quiet_hours=delivery.quiet_hours.as_dict(),
        status=str(decision.status), reason=decision.reason, next_attempt_at=decision.not_before)
    if summary["fallback"] is not None:
        # an e-mail has room for the best link (the one waybill's own page, else the form)
        best = summary_links(rt.context.links, rt.settings.public_base_url, [i.waybill_no for i in items],
                             summary["decided_at"])[0]
        context = {**summary_context(items, link=best), "recipient_name": delivery.name}
        await repository.set_fallback(conn, summary_id, {**summary["fallback"], "context": context})
    await repository.follow(conn, summary_id, status=str(Status.DEFERRED), next_attempt_at=decision.not_before)
    await wake_dispatcher(conn)


async def _template_failed(conn: asyncpg.Connection, *, summary: asyncpg.Record, error: str) -> None:
    log.error("summary rendering failed", extra={"notification_id": str(summary["id"]), "error": error})
    await repository.update_summary(
        conn, summary["id"], subject=None, text="", html=None, language=summary["language"],
        urgent=summary["urgent"], quiet_hours=summary["quiet_hours"], status=str(Status.FAILED), reason=None,
        next_attempt_at=summary["next_attempt_at"], last_error=error)
    held = await repository.follow(conn, summary["id"], status=str(Status.FAILED), error=error)
    count(metrics.NOTIFICATIONS.labels(summary["channel"], "none", str(Status.FAILED)), 1 + held)
    await publish(conn, NotificationFailed(
        notification_id=str(summary["id"]), event_id=str(summary["event_id"]), channel=summary["channel"],
        to=mask_address(summary["channel"], summary["to_address"]), template=SUMMARY_TEMPLATE, error=error, attempts=0,
        waybill_no=None), source=SOURCE)
