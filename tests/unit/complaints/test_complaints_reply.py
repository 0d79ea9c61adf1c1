"""The suggested reply: polite, factual, in the customer's language, never blaming them.

The seed's first question — how to answer a customer complaining that the goods are
late — is answered here: greet, apologise, say where the goods are, why they are late
and when they will arrive, promise to follow up, thank.
"""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.complaints.domain.replies import (
    DELAY_REASON_TEXT,
    DelayReason,
    ShipmentPosition,
    ShipmentSnapshot,
    format_local_time,
    parse_delay_reason,
    suggested_reply,
)
from services.complaints.domain.vocabulary import Category, Language

CST = timezone(timedelta(hours=8))

LATE_SHIPMENT = ShipmentSnapshot(
    waybill_no="SH2026112800001",
    status="in_transit",
    last_position=ShipmentPosition(at=datetime(2026, 11, 30, 6, 20, tzinfo=UTC), place="南京"),
    eta=datetime(2026, 11, 30, 12, 30, tzinfo=UTC),  # 20:30 in Shanghai
    delayed=True,
    delay_minutes=150,
    delay_reason=DelayReason.TRAFFIC_JAM,
    promised_at=datetime(2026, 11, 30, 18, 0, tzinfo=CST),
    destination="无锡",
)

# Words that argue with or blame the customer (客户始终是对的).
BLAME = ["您应该", "您自己", "您没有", "你们", "怪", "your fault", "you should", "you failed", "you did not"]


def test_late_shipment_reply_in_chinese_names_eta_and_reason():
    reply = suggested_reply(category=Category.DELAY, caller_name="王先生", shipment=LATE_SHIPMENT)
    assert reply.startswith("王先生您好")
    assert "非常抱歉" in reply
    assert "南京" in reply and "11月30日 14:20" in reply  # where the goods are, as of when
    assert "途中遇到交通拥堵" in reply  # the reason in plain words
    assert "预计11月30日 20:30送达无锡" in reply  # the revised ETA in Shanghai time
    assert "11月30日 18:00" in reply and "约2小时30分钟" in reply  # promised time and how late
    assert "我们会持续跟踪，货物到达后第一时间通知您" in reply
    assert "谢谢" in reply
    assert "SH2026112800001" in reply


def test_late_shipment_reply_in_english_names_eta_and_reason():
    reply = suggested_reply(
        category=Category.DELAY, language=Language.EN, caller_name="Ms Li", shipment=LATE_SHIPMENT
    )
    assert reply.startswith("Hello Ms Li,")
    assert "sorry" in reply
    assert "heavy traffic on the road" in reply
    assert "30 Nov 20:30 (Beijing time)" in reply
    assert "revised arrival time at 无锡" in reply
    assert "about 2 hours 30 minutes behind the promised 30 Nov 18:00" in reply
    assert "as soon as they arrive" in reply
    assert "thank you" in reply.lower()
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in reply.replace("南京", "").replace("无锡", ""))


@pytest.mark.parametrize("reason", list(DelayReason))
@pytest.mark.parametrize("language", list(Language))
def test_every_reason_is_translated_and_used(reason, language):
    shipment = ShipmentSnapshot(delayed=True, delay_reason=reason, eta=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    reply = suggested_reply(category=Category.DELAY, language=language, shipment=shipment)
    assert DELAY_REASON_TEXT[reason][language] in reply
    assert format_local_time(datetime(2026, 12, 1, 2, 0, tzinfo=UTC), language) in reply


def test_position_by_coordinates_when_no_place_name():
    shipment = ShipmentSnapshot(
        last_position=ShipmentPosition(at=datetime(2026, 11, 30, 2, 0, tzinfo=UTC), lat=31.2304, lon=121.4737),
        delayed=True, delay_reason=DelayReason.NO_SIGNAL,
    )
    zh = suggested_reply(category=Category.DELAY, shipment=shipment)
    en = suggested_reply(category=Category.DELAY, language=Language.EN, shipment=shipment)
    assert "北纬31.2304°、东经121.4737°" in zh
    assert "31.2304°N, 121.4737°E" in en


def test_delay_without_eta_promises_to_confirm_with_downstream_station():
    shipment = ShipmentSnapshot(delayed=True, delay_reason=DelayReason.BREAKDOWN)
    reply = suggested_reply(category=Category.DELAY, shipment=shipment)
    assert "下游站点确认具体到货时间" in reply
    assert "运输车辆途中出现故障" in reply


def test_delayed_flag_without_reason_still_apologises_without_inventing_a_cause():
    shipment = ShipmentSnapshot(delayed=True, eta=datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    reply = suggested_reply(category=Category.DELAY, shipment=shipment)
    assert DELAY_REASON_TEXT[DelayReason.OTHER][Language.ZH_CN] in reply
    assert "预计12月1日 10:00送达" in reply


def test_on_time_shipment_gives_expected_time_without_arguing():
    shipment = ShipmentSnapshot(eta=datetime(2026, 12, 1, 2, 0, tzinfo=UTC), destination="无锡")
    zh = suggested_reply(category=Category.DELAY, shipment=shipment)
    en = suggested_reply(category=Category.DELAY, language=Language.EN, shipment=shipment)
    assert "非常抱歉" in zh and "预计12月1日 10:00送达无锡" in zh
    assert "由于" not in zh
    assert "expected arrival time at 无锡 is 1 Dec 10:00" in en


def test_no_shipment_known_asks_for_the_waybill_politely():
    zh = suggested_reply(category=Category.DELAY)
    en = suggested_reply(category=Category.DELAY, language=Language.EN)
    assert zh.startswith("您好") and "运单号" in zh and "谢谢" in zh
    assert "waybill number" in en


@pytest.mark.parametrize(
    ("status", "zh_phrase"),
    [("delivered", "已送达签收"), ("exception", "出现了异常"), ("arrived", "已到达"),
     ("out_for_delivery", "正在派送"), ("registered", "正在安排发运")],
)
def test_delay_reply_follows_shipment_status(status, zh_phrase):
    reply = suggested_reply(category=Category.DELAY, shipment=ShipmentSnapshot(status=status, destination="无锡"))
    assert zh_phrase in reply
    assert "您好" in reply and "谢谢" in reply


@pytest.mark.parametrize(
    ("category", "zh_phrases", "en_phrases"),
    [
        (Category.DAMAGE, ["非常抱歉", "破损", "已登记异常", "主管"],
         ["damaged", "registered the exception", "supervisor"]),
        (Category.LOSS, ["非常抱歉", "丢失", "已登记异常", "主管"],
         ["missing", "registered the exception", "supervisor"]),
        (Category.QUOTE, ["询价", "8小时内"], ["quote within 8 hours"]),
        (Category.ATTITUDE, ["非常抱歉", "不满意", "主管"], ["did not meet your expectations", "supervisor"]),
        (Category.BILLING, ["不好意思", "财务"], ["finance"]),
        (Category.OTHER, ["不好意思", "尽快"], ["as soon as possible"]),
    ],
)
def test_non_delay_categories(category, zh_phrases, en_phrases):
    zh = suggested_reply(category=category, shipment=LATE_SHIPMENT)
    en = suggested_reply(category=category, language=Language.EN, shipment=LATE_SHIPMENT)
    assert zh.startswith("您好") and "谢谢" in zh
    assert en.startswith("Hello") and "Thank you" in en
    for phrase in zh_phrases:
        assert phrase in zh
    for phrase in en_phrases:
        assert phrase in en
    # A damage/loss/... reply does not talk about the delay.
    assert "交通拥堵" not in zh


def test_quote_hours_are_configurable():
    assert "4小时内" in suggested_reply(category=Category.QUOTE, quote_minutes=4 * 60)


SHIPMENTS = [
    None,
    LATE_SHIPMENT,
    ShipmentSnapshot(),
    ShipmentSnapshot(status="delivered"),
    ShipmentSnapshot(status="exception", delayed=True, delay_reason=DelayReason.WEATHER),
]


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("shipment", SHIPMENTS)
def test_never_blames_and_always_polite(category, language, shipment):
    reply = suggested_reply(category=category, language=language, shipment=shipment, caller_name="张女士")
    for word in BLAME:
        assert word not in reply.lower()
    if language is Language.ZH_CN:
        assert reply.startswith("张女士您好") and "谢谢" in reply
        assert "抱歉" in reply or "不好意思" in reply or category is Category.QUOTE
    else:
        assert reply.startswith("Hello 张女士,")
        assert "thank" in reply.lower()


def test_format_local_time_is_shanghai_and_locale_free():
    moment = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
    assert format_local_time(moment, Language.ZH_CN) == "11月30日 20:30"
    assert format_local_time(moment, Language.EN) == "30 Nov 20:30"
    # Across midnight in Shanghai the local date changes.
    assert format_local_time(datetime(2026, 12, 31, 16, 5, tzinfo=UTC), Language.ZH_CN) == "1月1日 00:05"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("traffic_jam", DelayReason.TRAFFIC_JAM), (" WEATHER ", DelayReason.WEATHER),
     ("alien_abduction", DelayReason.OTHER)],
)
def test_parse_delay_reason(raw, expected):
    assert parse_delay_reason(raw) is expected
