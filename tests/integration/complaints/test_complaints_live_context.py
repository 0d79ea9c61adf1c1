"""Live context from tracking's events (published onto the bus exactly as tracking does):
the shipment snapshot, the suggested reply, out-of-order events and proactive care."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.events import (
    Position,
    ShipmentArrived,
    ShipmentDeparted,
    ShipmentRecovered,
)
from tests.conftest import Infra, unique
from tests.integration.complaints.support import (
    CST,
    Api,
    EventTap,
    delayed,
    feed,
    now,
    processed,
    publish,
    registered,
    waybill,
)

PROMISED = datetime(2026, 12, 1, 18, 0, tzinfo=CST)
REVISED = datetime(2026, 12, 1, 20, 30, tzinfo=CST)


async def late_shipment(infra: Infra, customer_id: str) -> str:
    no = waybill()
    await feed(infra, registered(no, customer_id=customer_id, promised_at=PROMISED))
    await feed(infra, ShipmentDeparted(waybill_no=no, station="SH01", at=now() - timedelta(hours=3),
                                       eta=PROMISED, promised_at=PROMISED, vehicle_id="V-001"))
    await feed(infra, delayed(no, eta=REVISED, promised_at=PROMISED, minutes=150, reason="traffic_jam",
                              position=Position(at=now(), lat=31.4912, lon=120.3119)))
    return no


async def test_a_delay_complaint_gets_a_reply_naming_the_revised_eta_and_reason(api: Api, infra: Infra) -> None:
    customer = "C" + unique()
    no = await late_shipment(infra, customer)

    t = await api.open(customer_id=customer, waybill_no=no, category="delay", caller_name="杨先生")
    shipment = t["shipment"]
    assert shipment["waybill_no"] == no and shipment["status"] == "in_transit"
    assert shipment["delayed"] is True and shipment["delay_minutes"] == 150
    assert shipment["delay_reason"] == "traffic_jam"
    assert datetime.fromisoformat(shipment["eta"]) == REVISED
    assert shipment["last_position"]["lat"] == 31.4912 and shipment["last_position"]["lon"] == 120.3119
    reply = t["suggested_reply"]
    assert reply.startswith("杨先生您好！")
    assert "非常抱歉" in reply and "谢谢" in reply
    assert "途中遇到交通拥堵" in reply  # the reason, in plain words
    assert "12月1日 20:30" in reply  # the revised arrival time, Beijing time
    assert "约2小时30分钟" in reply and "12月1日 18:00" in reply  # how late against the promise
    assert "无锡站" in reply and no in reply
    assert "北纬31.4912°" in reply  # where the goods are now

    en = await api.open(customer_id=customer, waybill_no=no, category="delay", caller_name="Mr Yang",
                        language="en-US")
    assert en["language"] == "en"
    reply = en["suggested_reply"]
    assert reply.startswith("Hello Mr Yang,")
    assert "heavy traffic on the road" in reply
    assert "1 Dec 20:30 (Beijing time)" in reply
    assert "about 2 hours 30 minutes" in reply and "sorry" in reply

    # The snapshot is refreshed on GET: the shipment recovers, the ticket shows it at once.
    better = REVISED - timedelta(hours=2)
    await feed(infra, ShipmentRecovered(waybill_no=no, eta=better, promised_at=PROMISED))
    r = await api.get(f"/v1/complaints/{t['id']}")
    fresh = r.json()
    assert fresh["shipment"]["delayed"] is False and fresh["shipment"]["delay_reason"] is None
    assert datetime.fromisoformat(fresh["shipment"]["eta"]) == better
    assert "12月1日 18:30" in fresh["suggested_reply"] and "拥堵" not in fresh["suggested_reply"]


async def test_unknown_waybill_gets_a_polite_holding_reply(api: Api) -> None:
    no = waybill()
    t = await api.open(waybill_no=no, category="delay")
    assert t["shipment"] is None
    assert "下游站点确认" in t["suggested_reply"]
    t = await api.open(category="delay")
    assert "运单号" in t["suggested_reply"]  # no waybill: ask for it


async def test_out_of_order_events_keep_the_newest_by_event_time(api: Api, infra: Infra) -> None:
    no = waybill()
    t0 = now() - timedelta(hours=6)
    await feed(infra, registered(no, customer_id=None, registered_at=t0))
    t = await api.open(waybill_no=no, category="delay")

    async def shipment() -> dict:
        r = await api.get(f"/v1/complaints/{t['id']}")
        assert r.status_code == 200
        snap: dict = r.json()["shipment"]
        return snap

    # Delayed (detected at T2), then a stale `recovered` from T1 < T2 arrives: still delayed.
    t1, t2, t3 = t0 + timedelta(hours=1), t0 + timedelta(hours=2), t0 + timedelta(hours=3)
    await feed(infra, delayed(no, eta=REVISED, promised_at=PROMISED, minutes=150, reason="breakdown"), time=t2)
    await feed(infra, ShipmentRecovered(waybill_no=no, eta=PROMISED, promised_at=PROMISED), time=t1)
    snap = await shipment()
    assert snap["delayed"] is True and snap["delay_reason"] == "breakdown"
    assert datetime.fromisoformat(snap["eta"]) == REVISED
    # A newer `recovered` does clear it.
    await feed(infra, ShipmentRecovered(waybill_no=no, eta=PROMISED, promised_at=PROMISED), time=t3)
    snap = await shipment()
    assert snap["delayed"] is False and datetime.fromisoformat(snap["eta"]) == PROMISED

    # Arrival (T3) then a late `departed` scan from T1: the shipment stays arrived, at the arrival station.
    await feed(infra, ShipmentArrived(waybill_no=no, station="WX02", arrived_at=t3, pieces=10, pieces_arrived=10,
                                      pieces_total=10, final=True))
    await feed(infra, ShipmentDeparted(waybill_no=no, station="SH01", at=t1, eta=REVISED))
    snap = await shipment()
    assert snap["status"] == "arrived"
    assert snap["last_position"]["place"] == "无锡站"
    assert datetime.fromisoformat(snap["last_position"]["at"]) == t3
    assert datetime.fromisoformat(snap["eta"]) == PROMISED  # the departed ETA is older than the recovery's

    # The same event delivered twice has one effect (and a stale delay after recovery changes nothing).
    stale = await publish(infra, delayed(no, eta=REVISED, promised_at=PROMISED, minutes=90), time=t2)
    again = await publish(infra, delayed(no, eta=REVISED, promised_at=PROMISED, minutes=90), time=t2)
    await processed(infra, stale, again)
    snap = await shipment()
    assert snap["delayed"] is False and snap["status"] == "arrived"


async def test_key_customer_delay_opens_one_care_ticket_per_shipment(api: Api, infra: Infra, tap: EventTap) -> None:
    key = "K" + unique()
    r = await api.put(f"/v1/customers/{key}", {"name": "无锡精工", "key_customer": True})
    assert r.status_code == 200 and r.json()["key_customer"] is True
    no = await late_shipment(infra, key)
    # A second delay report of the same shipment: still one care ticket.
    await feed(infra, delayed(no, eta=REVISED + timedelta(hours=1), promised_at=PROMISED, minutes=210,
                              reason="traffic_jam"))
    items = (await api.get("/v1/complaints", params={"customer_id": key})).json()["items"]
    assert len(items) == 1
    care = (await api.get(f"/v1/complaints/{items[0]['id']}")).json()
    assert care["proactive"] is True and care["category"] == "delay" and care["waybill_no"] == no
    assert care["priority"] == "high"  # key customer
    assert care["opened_by"] == "system:proactive-care" and care["caller_name"] == "无锡精工"
    assert care["history"][0]["actor"] == "system:proactive-care"
    assert no in care["description"]
    (opened,) = await tap.wait("complaints.complaint.opened.v1", care["id"])
    assert opened.data["proactive"] is True and opened.data["complainant"]["customer_id"] == key

    # A second shipment of the same customer gets its own care ticket.
    await late_shipment(infra, key)
    items = (await api.get("/v1/complaints", params={"customer_id": key})).json()["items"]
    assert len(items) == 2

    # An ordinary customer's delay opens nothing: they are informed by the notifier.
    plain = "P" + unique()
    await late_shipment(infra, plain)
    assert (await api.get("/v1/complaints", params={"customer_id": plain})).json()["items"] == []


async def test_care_ticket_when_the_delay_arrives_before_the_registration(api: Api, infra: Infra) -> None:
    key = "K" + unique()
    assert (await api.put(f"/v1/customers/{key}", {"key_customer": True})).status_code == 200
    no = waybill()
    await feed(infra, delayed(no, eta=REVISED, promised_at=PROMISED, minutes=150))
    assert (await api.get("/v1/complaints", params={"waybill_no": no})).json()["items"] == []
    await feed(infra, registered(no, customer_id=key, registered_at=now() - timedelta(hours=1)))
    items = (await api.get("/v1/complaints", params={"waybill_no": no})).json()["items"]
    assert len(items) == 1 and items[0]["proactive"] is True
