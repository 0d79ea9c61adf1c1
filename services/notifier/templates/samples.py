"""Sample data of every template: the previews' default data and the golden renderings'.
Keys are the fields each template reads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.notifier.domain.summaries import SmsForm, SummaryItem, summary_context

# A throttle summary: three delays and an arrival held back in one hour, sent as one message
# (the SMS in its "counts and link" form, as the list is too long for one SMS).
_SUMMARY_ITEMS = [
    SummaryItem("delayed", "SH2026112800001", at="2026-11-30T18:30:00+08:00", reason="traffic_jam"),
    SummaryItem("delayed", "SH2026112800002", at="2026-11-30T20:00:00+08:00", reason="breakdown"),
    SummaryItem("arrived", "SH2026112700009", at="2026-11-30T11:05:00+08:00"),
    SummaryItem("delayed", "SH2026112800003", at="2026-12-01T09:00:00+08:00", reason="weather"),
]

SAMPLE_DATA: Mapping[str, Mapping[str, Any]] = {
    "departed": {
        "recipient_name": "无锡精工",
        "waybill_no": "SH2026112800001",
        "origin": "SH01",
        "destination": "WX02",
        "departed_at": "2026-11-28T18:30:00+08:00",
        "eta": "2026-11-30T16:00:00+08:00",
    },
    "delayed": {
        "recipient_name": "杨民敬",
        "waybill_no": "SH2026112800001",
        "reason": "traffic_jam",
        "delay_minutes": 150,
        "revised_eta": "2026-11-30T18:30:00+08:00",
    },
    "recovered": {
        "recipient_name": "杨民敬",
        "waybill_no": "SH2026112800001",
        "eta": "2026-11-30T16:30:00+08:00",
    },
    "arrived": {
        "recipient_name": "杨民敬",
        "waybill_no": "SH2026112800001",
        "destination": "WX02",
        "arrived_at": "2026-11-30T12:30:00Z",
        "pieces": 10,
        "final": True,
    },
    "out_for_delivery": {
        "recipient_name": "杨民敬",
        "waybill_no": "SH2026112800001",
        "station": "WX02",
        "at": "2026-12-01T09:10:00+08:00",
    },
    "delivered": {
        "recipient_name": "无锡精工",
        "waybill_no": "SH2026112800001",
        "signer_name": "杨民敬",
        "signed_at": "2026-12-01T10:42:00+08:00",
        "pieces": 10,
    },
    "exception_reported": {
        "recipient_name": "无锡精工",
        "waybill_no": "SH2026112800001",
        "kind": "damage",
        "pieces": 1,
        "station": "NJ01",
        "description": "外箱破损，内件待查",
    },
    "receipt_overdue": {
        "recipient_name": "王站长",
        "waybill_no": "SH2026112800001",
        "station": "WX02",
        "due_at": "2026-12-10T18:00:00+08:00",
        "days_overdue": 3,
        "station_contact": {"name": "王站长", "phone": "13700000000", "email": "wx02@example.com"},
    },
    "receipt_lost": {
        "recipient_name": "王站长",
        "waybill_no": "SH2026112800001",
        "courier_no": "SF1234567890",
        "from_station": "WX02",
        "to_station": "SH01",
        "due_at": "2026-12-10T18:00:00+08:00",
        "station_contact": {"name": "王站长", "phone": "13700000000", "email": "wx02@example.com"},
    },
    "complaint_opened": {
        "recipient_name": "陈法开",
        "complaint_id": "CP-20261201-0007",
        "customer_id": "C100",
        "caller_name": "陈法开",
        "phone": "13600000000",
        "waybill_no": "SH2026112800001",
        "category": "delay",
        "first_response_due": "2026-12-01T10:05:00+08:00",
    },
    "complaint_responded": {
        "recipient_name": "陈法开",
        "complaint_id": "CP-20261201-0007",
        "waybill_no": "SH2026112800001",
        "message": "货物已于今日上午到达无锡站，预计下午两点前送达，给您带来不便深表歉意。",
    },
    "complaint_resolved": {
        "recipient_name": "陈法开",
        "complaint_id": "CP-20261201-0007",
        "waybill_no": "SH2026112800001",
        "resolution": "货物已签收，运费减免10%。",
    },
    "complaint_sla_breached": {
        "complaint_id": "CP-20261201-0007",
        "customer_id": "C100",
        "waybill_no": "SH2026112800001",
        "category": "delay",
        "sla": "first_response",
        "due_at": "2026-12-01T10:05:00+08:00",
    },
    "daily_arrivals": {
        "recipient_name": "无锡精工",
        "customer_id": "C100",
        "date": "2026-11-30",
        "arrived_count": 1,
        "due_count": 1,
        "rows": [
            {
                "kind": "arrived",
                "waybill_no": "SH2026112800001",
                "destination": "WX02",
                "consignee_name": "杨民敬",
                "pieces": 10,
                "at": "2026-11-30T12:30:00+08:00",
                "late": False,
            },
            {
                "kind": "due",
                "waybill_no": "SH2026112900002",
                "destination": "SZ03",
                "consignee_name": "程发凯",
                "pieces": 4,
                "at": "2026-11-30T20:00:00+08:00",
                "late": True,
            },
        ],
    },
    "delivery_appointed": {
        "recipient_name": "杨民敬",
        "waybill_no": "SH2026112800001",
        "appointment_id": "AP-20261201-0003",
        "station": "WX02",
        "window_start": "2026-12-02T14:00:00+08:00",
        "window_end": "2026-12-02T16:00:00+08:00",
        "note": "请提前半小时电话联系",
    },
    "storage_report": {
        "recipient_name": "无锡精工",
        "customer_id": "C100",
        "date": "2026-12-03",
        "count": 2,
        "pieces_total": 14,
        "weight_total": "180.5",
        "volume_total": "2.1",
        "rows": [
            {
                "waybill_no": "SH2026112800001", "station": "WX02", "pieces": 10, "pieces_total": 10,
                "partial": False, "weight_kg": "120.5", "volume_m3": "1.2",
                "arrived_at": "2026-11-30T12:30:00+08:00", "days": 3, "consignee_name": "杨民敬",
                "appointment": {"appointment_id": "AP-20261201-0003", "window_start": "2026-12-04T14:00:00+08:00",
                                "window_end": "2026-12-04T16:00:00+08:00"},
            },
            {
                "waybill_no": "SH2026112900002", "station": "SZ03", "pieces": 4, "pieces_total": 6,
                "partial": True, "weight_kg": "60", "volume_m3": "0.9",
                "arrived_at": "2026-12-03T09:10:00+08:00", "days": 0, "consignee_name": "程发凯",
                "appointment": None,
            },
        ],
    },
    "summary": {
        "recipient_name": "无锡精工",
        **summary_context(_SUMMARY_ITEMS, link="https://lcs.example.com/track"),
        "form": str(SmsForm.LINK),
    },
}
