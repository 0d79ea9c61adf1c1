"""Event handlers of web: each event becomes one `LiveMessage`, announced to every replica.

`announce` runs `pg_notify` in the consumer's transaction: PostgreSQL delivers the notice
when that transaction commits (after the inbox row), so a redelivered event is announced
once, and every replica (each LISTENing, see `live.listener`) hears it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import asyncpg

from services.web.domain.words import WORDS
from services.web.live.hub import LiveMessage
from shared import events
from shared.bus import Handler
from shared.context import Runtime
from shared.events import Envelope

CHANNEL = "web_live"


def _reason(code: str) -> tuple[str, str]:
    return WORDS["delay_reason"].get(code, (code, code))


def _delayed(e: events.ShipmentDelayed) -> LiveMessage:
    zh, en = _reason(e.reason)
    stations = (e.destination,) if e.destination else ()
    return LiveMessage("delays", e.TYPE, waybill=e.waybill_no, stations=stations,
                       text_zh=f"{e.waybill_no} 延误 {e.delay_minutes} 分钟（{zh}）",
                       text_en=f"{e.waybill_no} delayed {e.delay_minutes} min ({en})")


def _recovered(e: events.ShipmentRecovered) -> LiveMessage:
    return LiveMessage("recoveries", e.TYPE, waybill=e.waybill_no,
                       stations=(e.destination,) if e.destination else (),
                       text_zh=f"{e.waybill_no} 恢复正常", text_en=f"{e.waybill_no} back on time")


def _departed(e: events.ShipmentDeparted) -> LiveMessage:
    stations = tuple(s for s in (e.station, e.destination) if s)
    return LiveMessage("shipments", e.TYPE, waybill=e.waybill_no, stations=stations,
                       text_zh=f"{e.waybill_no} 已从 {e.station} 发车", text_en=f"{e.waybill_no} left {e.station}")


def _arrived(e: events.ShipmentArrived) -> LiveMessage:
    return LiveMessage("shipments", e.TYPE, waybill=e.waybill_no, stations=(e.station,),
                       text_zh=f"{e.waybill_no} 到达 {e.station}", text_en=f"{e.waybill_no} arrived at {e.station}")


def _delivered(e: events.ShipmentDelivered) -> LiveMessage:
    return LiveMessage("shipments", e.TYPE, waybill=e.waybill_no, stations=(e.station,) if e.station else (),
                       text_zh=f"{e.waybill_no} 已签收", text_en=f"{e.waybill_no} delivered")


def _exception(e: events.ExceptionReported) -> LiveMessage:
    zh, en = WORDS["exception_kind"].get(e.kind, (e.kind, e.kind))
    return LiveMessage("exceptions", e.TYPE, waybill=e.waybill_no, stations=(e.station,),
                       text_zh=f"{e.waybill_no} 货物异常：{zh}", text_en=f"{e.waybill_no} exception: {en}")


def _stale(e: events.VehicleStale) -> LiveMessage:
    return LiveMessage("stale", e.TYPE, text_zh=f"车辆 {e.plate or e.vehicle_id} 已 {e.silent_minutes} 分钟无信号",
                       text_en=f"vehicle {e.plate or e.vehicle_id} silent for {e.silent_minutes} min")


def _overdue(e: events.ReceiptOverdue) -> LiveMessage:
    stations = tuple(s for s in (e.origin, e.destination) if s)
    return LiveMessage("receipts", e.TYPE, waybill=e.waybill_no, stations=stations,
                       text_zh=f"回单 {e.waybill_no} 已超期", text_en=f"receipt {e.waybill_no} overdue")


def _abnormal(e: events.ReceiptAbnormal) -> LiveMessage:
    return LiveMessage("receipts", e.TYPE, waybill=e.waybill_no,
                       stations=(e.destination,) if e.destination else (),
                       text_zh=f"回单 {e.waybill_no} 异常", text_en=f"receipt {e.waybill_no} abnormal")


def _opened(e: events.ComplaintOpened) -> LiveMessage:
    return LiveMessage("complaints", e.TYPE, waybill=e.waybill_no, complaint_id=e.complaint_id,
                       text_zh=f"新投诉 {e.waybill_no or ''}".strip(),
                       text_en=f"new complaint {e.waybill_no or ''}".strip())


def _breached(e: events.ComplaintSlaBreached) -> LiveMessage:
    return LiveMessage("sla", e.TYPE, waybill=e.waybill_no, complaint_id=e.complaint_id,
                       text_zh="投诉已超时", text_en="complaint past its SLA")


def _resolved(e: events.ComplaintResolved) -> LiveMessage:
    return LiveMessage("complaints", e.TYPE, complaint_id=e.complaint_id, waybill=e.waybill_no,
                       text_zh="投诉已解决", text_en="complaint resolved")


def _failed(e: events.NotificationFailed) -> LiveMessage:
    return LiveMessage("notifications", e.TYPE, waybill=e.waybill_no,
                       text_zh=f"通知发送失败（{e.channel}）", text_en=f"notification failed ({e.channel})")


BUILDERS: dict[type[events.Event], Callable[[Any], LiveMessage]] = {
    events.ShipmentDelayed: _delayed,
    events.ShipmentRecovered: _recovered,
    events.ShipmentDeparted: _departed,
    events.ShipmentArrived: _arrived,
    events.ShipmentDelivered: _delivered,
    events.ExceptionReported: _exception,
    events.VehicleStale: _stale,
    events.ReceiptOverdue: _overdue,
    events.ReceiptAbnormal: _abnormal,
    events.ComplaintOpened: _opened,
    events.ComplaintSlaBreached: _breached,
    events.ComplaintResolved: _resolved,
    events.NotificationFailed: _failed,
}
CONSUMES = events.types_of(*BUILDERS)


async def announce(conn: asyncpg.Connection, message: LiveMessage) -> None:
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message.to_json())


def _handler(build: Callable[[Any], LiveMessage]) -> Handler:
    async def handle(conn: asyncpg.Connection, event: Any, envelope: Envelope) -> None:
        await announce(conn, build(event))
    return handle


def handlers_for(rt: Runtime[Any, Any]) -> Mapping[str, Handler]:
    return {cls.TYPE: _handler(build) for cls, build in BUILDERS.items()}

