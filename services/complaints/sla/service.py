"""Use cases of the SLA: the policy set (read, replace) and the SLA monitor, which records
each breach once, announces it and escalates the ticket to the supervisor."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.complaints.context import ComplaintsRuntime
from services.complaints.domain.sla import check_distinct
from services.complaints.domain.tickets import ACTIVE_STATUSES, Action, can_transition
from services.complaints.domain.vocabulary import Category, Priority
from services.complaints.sla import repository
from services.complaints.tickets import lifecycle
from services.complaints.tickets.repository import breach_candidates, get_complaint, update_complaint
from shared.auth import Principal
from shared.context import uow

log = logging.getLogger("lcs.complaints")

SLA_MONITOR = "system:sla-monitor"


async def get_policies(rt: ComplaintsRuntime) -> list[repository.Row]:
    async with rt.pool.acquire() as conn:
        return await repository.list_policies(conn)


async def replace_policies(rt: ComplaintsRuntime, *, principal: Principal,
                           policies: Sequence[Mapping[str, Any]]) -> list[repository.Row]:
    """Replace the whole policy set (422 `invalid_sla_policy`); running tickets keep the targets
    they opened with."""
    check_distinct((Category(p["category"]) if p["category"] else None,
                    Priority(p["priority"]) if p["priority"] else None) for p in policies)
    checked = [repository.policy_of(p) for p in policies]  # positive, first response ≤ resolution
    async with uow(rt) as conn:
        await repository.replace_policies(conn, checked, principal.actor)
        return await repository.list_policies(conn)


@dataclass(frozen=True)
class BreachFound:
    complaint_id: uuid.UUID
    kind: str
    due_at: datetime
    breached_at: datetime
    escalated: bool


async def scan_sla(rt: ComplaintsRuntime, *, now: datetime) -> tuple[int, list[BreachFound]]:
    """Find running tickets past a deadline: record and announce each breach once, escalate the ticket.

    One transaction per ticket, so a failure on one ticket never blocks the others.
    """
    async with rt.pool.acquire() as conn:
        candidates = await breach_candidates(conn, now, rt.settings.sla_monitor_batch)
    found: list[BreachFound] = []
    for complaint_id in candidates:
        async with uow(rt) as conn:
            row = await get_complaint(conn, complaint_id, for_update=True)
            if row is None or row["status"] not in ACTIVE_STATUSES:
                continue
            state = lifecycle.state_of(row)
            recorded = await lifecycle.record_breaches(conn, rt, row=row, state=state, now=now,
                                                       detected_by=SLA_MONITOR)
            escalated = False
            if recorded and can_transition(state.status, Action.ESCALATE):
                await lifecycle.escalate_for_breach(conn, rt, row=row, state=state, kinds=[k for k, _ in recorded],
                                                    at=max(now, row["last_action_at"]), actor=SLA_MONITOR)
                escalated = True
            elif recorded and row["assigned_role"] != "supervisor":
                await update_complaint(conn, complaint_id, {"assigned_role": "supervisor"})
            found += [BreachFound(complaint_id, k.value, due, now, escalated) for k, due in recorded]
    if found:
        log.info("sla breaches recorded", extra={"count": len(found), "now": now.isoformat()})
    return len(candidates), found
