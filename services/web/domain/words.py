"""Plain words for codes, in the desk's two languages (zh-CN by default, English).

The backends speak codes (`traffic_jam`, `in_transit`); people read 堵车 / traffic jam.
`pick_language` decides the language of a page: an explicit choice (the switch, kept in a
cookie) wins, then the browser's `Accept-Language`, then zh-CN.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh-CN", "en"]
LANGS: tuple[Lang, ...] = ("zh-CN", "en")

# code -> (zh-CN, en), grouped by what the code names.
WORDS: dict[str, dict[str, tuple[str, str]]] = {
    "delay_reason": {
        "traffic_jam": ("堵车", "traffic jam"),
        "breakdown": ("坏车", "vehicle breakdown"),
        "customs_inspection": ("查车", "customs inspection"),
        "weather": ("天气原因", "weather"),
        "force_majeure": ("不可抗力", "force majeure"),
        "vehicle_stopped": ("车辆停驶", "vehicle stopped"),
        "no_signal": ("车辆无信号", "no GPS signal"),
        "slow_progress": ("行驶缓慢", "slow progress"),
        "other": ("其他原因", "other reason"),
    },
    "shipment_status": {
        "registered": ("已登记", "registered"),
        "in_transit": ("运输中", "in transit"),
        "arrived": ("已到站", "arrived"),
        "out_for_delivery": ("派送中", "out for delivery"),
        "delivered": ("已签收", "delivered"),
        "exception": ("异常", "exception"),
    },
    "public_stage": {
        "registered": ("已揽收", "registered"),
        "in_transit": ("运输中", "in transit"),
        "arrived": ("已到达", "arrived"),
        "out_for_delivery": ("派送中", "out for delivery"),
        "delivered": ("已签收", "delivered"),
    },
    "public_event": {
        "registered": ("已揽收", "registered"),
        "departed": ("已发车", "departed"),
        "arrived_transfer": ("到达中转站", "reached a transfer station"),
        "departed_transfer": ("离开中转站", "left a transfer station"),
        "arrived": ("到达目的站", "arrived at the destination station"),
        "out_for_delivery": ("开始派送", "out for delivery"),
        "delayed": ("运输延误", "delayed"),
        "recovered": ("恢复正常运输", "back on schedule"),
        "delivered": ("已签收", "delivered"),
    },
    "scan": {
        "departed": ("发车", "departed"),
        "arrived_transfer": ("到达中转站", "arrived at transfer"),
        "departed_transfer": ("中转发车", "departed transfer"),
        "arrived": ("到站", "arrived"),
        "out_for_delivery": ("派送", "out for delivery"),
    },
    "timeline": {
        "registered": ("登记", "registered"),
        "scan": ("扫描", "scan"),
        "delayed": ("延误", "delayed"),
        "recovered": ("恢复正常", "back on time"),
        "note": ("追踪记录", "tracking note"),
        "exception": ("货物异常", "exception"),
        "delivered": ("签收", "delivered"),
        "appointment": ("预约送货", "delivery booked"),
        "notice": ("通知", "notice"),
    },
    "exception_kind": {
        "damage": ("货损", "damage"), "shortage": ("货差", "shortage"), "wet": ("受潮", "wet"),
        "contaminated": ("污染", "contaminated"), "lost": ("丢失", "lost"),
        "mismatch": ("单货不符", "data mismatch"), "other": ("其他", "other"),
    },
    "complaint_status": {
        "open": ("待处理", "open"), "responded": ("已回复", "responded"),
        "waiting_customer": ("等待客户", "waiting for customer"), "escalated": ("已升级", "escalated"),
        "resolved": ("已解决", "resolved"), "closed": ("已关闭", "closed"),
    },
    "complaint_category": {
        "delay": ("延误", "delay"), "damage": ("货损", "damage"), "loss": ("丢失", "loss"),
        "attitude": ("服务态度", "attitude"), "billing": ("费用", "billing"), "quote": ("报价", "quote"),
        "other": ("其他", "other"),
    },
    "receipt_status": {
        "awaiting_delivery": ("待签收", "awaiting delivery"), "signed": ("已签收", "signed"),
        "abnormal": ("异常回单", "abnormal"), "qualified": ("合格", "qualified"), "mailed": ("已寄出", "mailed"),
        "received": ("已接收", "received"), "handed_over": ("已交接", "handed over"),
        "written_off": ("已核销", "written off"), "cancelled": ("已取消", "cancelled"), "lost": ("遗失", "lost"),
    },
    "notification_status": {
        "queued": ("排队中", "queued"), "sent": ("已发送", "sent"), "failed": ("失败", "failed"),
        "suppressed": ("已抑制", "suppressed"), "deferred": ("延后", "deferred"), "parked": ("已搁置", "parked"),
    },
    "handling": {
        "dangerous": ("危险品", "dangerous goods"), "fragile": ("易碎", "fragile"),
        "keep_upright": ("不能倒放", "keep upright"), "moisture_sensitive": ("怕受潮", "keep dry"),
    },
    "priority": {
        "low": ("低", "low"), "normal": ("普通", "normal"), "high": ("高", "high"), "urgent": ("紧急", "urgent"),
    },
    "template": {
        "departed": ("发车通知", "departure"), "delayed": ("延误通知", "delay"),
        "recovered": ("恢复通知", "back on time"),
        "arrived": ("到站通知", "arrival"), "out_for_delivery": ("派送通知", "out for delivery"),
        "delivered": ("签收通知", "signed for"), "exception_reported": ("异常通知", "exception"),
        "receipt_overdue": ("回单催收", "receipt overdue"), "receipt_lost": ("回单遗失", "receipt lost"),
        "complaint_opened": ("投诉受理", "complaint opened"), "complaint_responded": ("投诉答复", "complaint answered"),
        "complaint_resolved": ("投诉解决", "complaint resolved"),
        "complaint_sla_breached": ("投诉超时", "complaint past its SLA"),
        "daily_arrivals": ("每日到货", "daily arrivals"),
        "delivery_appointed": ("预约送货确认", "delivery appointment"),
        "storage_report": ("暂存报表", "storage report"), "summary": ("汇总通知", "summary"),
    },
    "complaint_action": {
        "open": ("登记", "opened"), "claim": ("认领", "claimed"), "respond": ("答复", "answered"),
        "ask_customer": ("询问客户", "asked the customer"), "customer_reply": ("客户回复", "customer replied"),
        "escalate": ("升级", "escalated"), "resolve": ("解决", "resolved"), "reopen": ("重新打开", "reopened"),
        "survey": ("满意度回访", "surveyed"), "close": ("关闭", "closed"), "sla_breached": ("超时", "past its SLA"),
    },
    "call_topic": {
        "tracking": ("查货", "where is my cargo"), "delay": ("延误", "delay"), "damage": ("货损", "damage"),
        "loss": ("丢失", "loss"), "quote": ("询价", "price enquiry"), "billing": ("费用", "billing"),
        "attitude": ("服务态度", "attitude"), "complaint": ("投诉", "complaint"), "receipt": ("回单", "receipt"),
        "other": ("其他", "other"),
    },
    "call_outcome": {
        "answered": ("已解答", "answered"), "callback": ("待回电", "call back"),
        "complaint_opened": ("已登记投诉", "complaint opened"), "escalated": ("已转主管", "escalated"),
        "no_answer": ("无人接听", "no answer"),
    },
    "call_direction": {"inbound": ("来电", "inbound"), "outbound": ("去电", "outbound")},
    "anomaly": {
        "signature_missing": ("签字不全", "signature missing"), "stamp_missing": ("缺公章", "stamp missing"),
        "id_number_missing": ("缺身份证号", "ID number missing"), "copies_short": ("份数不足", "copies short"),
        "signed_with_exception": ("异常签收", "signed with exceptions"),
    },
    "handover_to": {"customer": ("客户", "customer"), "sales": ("业务员", "salesperson")},
    "payment": {"prepaid": ("预付", "prepaid"), "cod": ("现付", "cash on delivery"), "monthly": ("月结", "monthly")},
    "channel": {
        "phone": ("电话", "phone"), "sms": ("短信", "SMS"), "email": ("邮件", "e-mail"), "web": ("网页", "web"),
        "chat": ("在线", "chat"), "wechat": ("微信", "WeChat"), "visit": ("上门", "visit"),
        "partner": ("网点系统", "partner system"), "portal": ("门户", "portal"),
        "wecom": ("企业微信群", "WeChat Work group"),
    },
    "notification_reason": {
        "throttled": ("超出频率限制", "over the hourly limit"), "quiet_hours": ("免打扰时段", "quiet hours"),
        "no_recipient": ("无联系方式", "no recipient"), "opted_out": ("已退订", "opted out"),
        "rolled_up": ("已并入汇总", "rolled into a summary"),
    },
    "appointment_outcome": {
        "pending": ("待送货", "pending"), "kept": ("按约送达", "kept"),
        "outside_window": ("未按约定时段送达", "delivered outside the window"),
        "missed": ("已错过", "missed"), "superseded": ("已改约", "superseded"),
    },
    "role": {
        "admin": ("管理员", "administrator"), "supervisor": ("客服主管", "supervisor"),
        "staff": ("客服员", "CS staff"), "branch": ("网点", "branch"), "customer": ("客户", "customer"),
    },
}


def word(group: str, code: str | None, lang: Lang) -> str:
    """The plain word for `code`; the code itself when it has none (never an empty cell)."""
    if code is None:
        return ""
    pair = WORDS.get(group, {}).get(code)
    if pair is None:
        return code
    return pair[0] if lang == "zh-CN" else pair[1]


def pick_language(choice: str | None, accept_language: str | None) -> Lang:
    if choice in LANGS:
        return choice  # type: ignore[return-value]
    best: tuple[float, Lang] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        lang: Lang | None = "zh-CN" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang is not None and q > 0 and (best is None or q > best[0]):
            best = (q, lang)
    return best[1] if best else "zh-CN"
