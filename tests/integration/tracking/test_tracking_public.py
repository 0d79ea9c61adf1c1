"""GET /v1/public/shipments: the public's view of a waybill, for web's tracking page only.

The number alone gives the stage and city; the right last-4 digits of either party's phone or a
signed link give the city-level timeline, half-day ETA, delay reason and masked signer; one 404
for every refusal; never a coordinate, phone, ID number, vehicle or the desk's words."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.links import LinkKeys, sign
from tests.conftest import Infra, unique
from tests.integration.tracking import core_support as core
from tests.integration.tracking.core_support import World, fix, minutes, now
from tests.web.world import resident_id

SH = (31.2304, 121.4737)
PATH = "/v1/public/shipments"
ISO_TIME = re.compile(r'"\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:\d{2}))?"')
ROLES_REFUSED = ("admin", "supervisor", "staff", "branch", "carrier", "customer")
# What may never leave this route: the parties' phones (core_support's bodies), coordinates, the
# vehicle, its plate and driver, ID numbers, the desk's note and exception texts.
SECRETS = ("13800000000", "13900000000", "0000", "沪A12345", "王师傅", "13700000000", "31.23", "121.47",
           "lat", "lon", "vehicle", "plate", "phone", "id_number", "杨民敬", "民敬", "客户来电", "外箱破损")


def public(infra: Infra) -> dict[str, str]:
    return infra.headers("public", sub="web-public-page")


def look(api: httpx.Client, infra: Infra, waybill: str | None = None, *, digits: str | None = None,
         link: str | None = None) -> httpx.Response:
    headers = public(infra)
    if digits is not None:
        headers["X-Phone-Last4"] = digits
    if link is not None:
        headers["X-Tracking-Link"] = link
    return api.get(PATH, params={"waybill_no": waybill} if waybill is not None else {}, headers=headers)


def assert_redacted(body: Any, vehicle: str) -> None:
    # the times out first: a timestamp's digits (…05.400002Z) may hold a phone's last four
    text = ISO_TIME.sub("<time>", json.dumps(body, ensure_ascii=False))
    for secret in (*SECRETS, vehicle):
        assert secret not in text, (secret, text)


def ring(infra: Infra) -> LinkKeys:
    keys = LinkKeys.parse(infra.link_keys)
    assert keys is not None
    return keys


@pytest.fixture(scope="module")
def late(api, infra: Infra, world: World) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """A waybill SH → NJ → WX, departed, then late (the truck crawls in Shanghai), with a note and
    an exception the public must not see."""
    vid, _ = core.new_vehicle(api, infra)
    t0 = now() - minutes(150)
    waybill = core.register(api, infra, world, promised_at=t0 + minutes(180))
    assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    assert core.post_positions(api, infra, [fix(vid, t0 + minutes(60), *SH, speed=5.0)]).status_code == 200
    assert core.post_positions(api, infra, [fix(vid, now() - minutes(1), *SH, speed=5.0)]).status_code == 200
    admin = infra.headers("admin")
    r = api.post(f"/v1/shipments/{waybill}/notes", headers=admin, json={
        "at": now().isoformat(), "contact": "杨民敬 13900000000", "channel": "phone", "delayed": True,
        "reason": "traffic_jam", "note": "客户来电催货"})
    assert r.status_code == 201, r.text
    r = api.post(f"/v1/shipments/{waybill}/exceptions", headers=admin, json={
        "kind": "damage", "pieces": 1, "station": world.sh, "description": "外箱破损"})
    assert r.status_code == 201, r.text
    shipment = api.get(f"/v1/shipments/{waybill}", headers=admin).json()
    assert shipment["delayed"] is True and shipment["eta"] is not None, shipment
    return waybill, vid


def test_the_number_alone_gives_the_stage_and_the_city(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    waybill, vid = late
    r = look(api, infra, waybill)
    assert r.status_code == 200, r.text
    assert r.json() == {"waybill_no": waybill, "stage": "in_transit", "city": "上海", "detailed": False, "eta": None,
                        "delayed": None, "delay_reason": None, "timeline": None, "signer": None}
    for typed in (waybill.lower(), f" {waybill[:4]} {waybill[4:]} ", waybill.translate(
            {c: c + 0xFEE0 for c in range(0x21, 0x7F)})):  # lower case, spaces, full-width forms
        assert look(api, infra, typed).json()["waybill_no"] == waybill


def test_the_right_digits_of_either_party_give_the_detailed_view(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    waybill, vid = late
    r = look(api, infra, waybill, digits="0000")  # both parties' phones end 0000 here
    assert r.status_code == 200, r.text
    view = r.json()
    assert view["detailed"] is True and view["stage"] == "in_transit" and view["city"] == "上海"
    assert view["delayed"] is True and view["delay_reason"] == "traffic_jam"  # the note's reason, as a code
    assert set(view["eta"]) == {"day", "half"} and view["eta"]["half"] in ("am", "pm")
    events = [e["event"] for e in view["timeline"]]
    assert events[0] == "departed" and "delayed" in events and set(events) <= {"registered", "departed", "delayed"}
    assert view["timeline"][0]["city"] == "上海"
    assert [e["reason"] for e in view["timeline"] if e["event"] == "delayed"][0] == "slow_progress"
    assert view["signer"] is None
    assert_redacted(view, vid)


def test_the_digits_of_either_party_and_no_other_open_the_details(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    waybill = f"T{unique()}"
    body = core.shipment_body(waybill, world, promised_at=now() + timedelta(days=2))
    body["shipper"]["phone"], body["consignee"]["phone"] = "+8613811112222", "13933334444"
    assert api.post("/v1/shipments", headers=infra.headers("admin"), json=body).status_code == 201
    assert look(api, infra, waybill, digits="2222").json()["detailed"] is True
    assert look(api, infra, waybill, digits="4444").json()["detailed"] is True
    for wrong in ("1111", "3333", "0000", "2224"):
        assert look(api, infra, waybill, digits=wrong).status_code == 404


def test_unknown_waybill_wrong_digits_and_bad_links_get_one_answer(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    waybill, _ = late
    answers = [look(api, infra, f"NO{unique()}", digits="0000"), look(api, infra, waybill, digits="1234"),
               look(api, infra, f"NO{unique()}"),
               look(api, infra, link=sign(ring(infra), waybill, datetime.now(UTC) - timedelta(seconds=1))),
               look(api, infra, link=sign(ring(infra), waybill, datetime.now(UTC) + timedelta(days=1))[:-2] + "AA"),
               look(api, infra, link=sign(LinkKeys.parse("new:" + "x" * 40),  # type: ignore[arg-type]
                                          waybill, datetime.now(UTC) + timedelta(days=1)))]
    assert {r.status_code for r in answers} == {404}
    assert len({r.text for r in answers}) == 1, [r.text for r in answers]
    assert waybill not in answers[1].text


def test_a_signed_link_opens_the_detailed_view_with_either_key_of_the_ring(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    waybill, vid = late
    keys = ring(infra)
    old = LinkKeys(signing="old", keys=keys.keys)  # signed before the rotation put "new" first
    for signer in (keys, old):
        r = look(api, infra, link=sign(signer, waybill, datetime.now(UTC) + timedelta(days=30)))
        assert r.status_code == 200, r.text
        assert r.json()["detailed"] is True and r.json()["waybill_no"] == waybill
        assert_redacted(r.json(), vid)


def test_delivered_shows_the_signer_masked_and_no_eta(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    vid, _ = core.new_vehicle(api, infra)
    t0 = now() - minutes(120)
    waybill = core.register(api, infra, world, promised_at=t0 + minutes(600), pieces=2, via=[])
    assert core.scan(api, infra, waybill, "departed", world.sh, t0, vid).status_code == 201
    assert core.scan(api, infra, waybill, "arrived", world.wx, t0 + minutes(90), vid, pieces=2).status_code == 201
    r = api.post(f"/v1/shipments/{waybill}/delivery", headers=infra.headers("admin"), json={
        "signed_at": (t0 + minutes(100)).isoformat(), "signer_name": "杨民敬", "signer_id_type": "id_card",
        "signer_id_number": resident_id(), "delegate": None, "company_stamp": False, "pieces": 2})
    assert r.status_code == 201, r.text
    assert look(api, infra, waybill).json()["stage"] == "delivered"
    view = look(api, infra, waybill, digits="0000").json()
    assert view["stage"] == "delivered" and view["city"] == "无锡" and view["eta"] is None
    assert view["signer"]["name"] == "杨**"
    assert datetime.fromisoformat(view["signer"]["signed_at"]) == t0 + minutes(100)
    assert [(e["event"], e["city"]) for e in view["timeline"]] == [
        ("departed", "上海"), ("arrived", "无锡"), ("delivered", "无锡"), ("registered", "上海")]
    assert_redacted(view, vid)


def test_a_transfer_station_named_only_in_the_timeline_shows_its_city(api, infra: Infra, world: World) -> None:  # type: ignore[no-untyped-def]
    """The cities come with the row in one statement: a station that is neither the origin, the
    destination nor the last scan's (the transfer in Nanjing) still gets its city."""
    vid, _ = core.new_vehicle(api, infra)
    t0 = now() - minutes(200)
    waybill = core.register(api, infra, world, promised_at=t0 + minutes(600), via=[world.nj])
    for type_, station, at in (("departed", world.sh, 0), ("arrived_transfer", world.nj, 60),
                               ("departed_transfer", world.nj, 80), ("arrived", world.wx, 150)):
        assert core.scan(api, infra, waybill, type_, station, t0 + minutes(at), vid).status_code == 201
    view = look(api, infra, waybill, digits="0000").json()
    assert view["stage"] == "arrived" and view["city"] == "无锡"
    assert [(e["event"], e["city"]) for e in view["timeline"] if e["event"] != "registered"] == [
        ("departed", "上海"), ("arrived_transfer", "南京"), ("departed_transfer", "南京"), ("arrived", "无锡")]
    coarse = look(api, infra, waybill).json()
    assert coarse == {"waybill_no": waybill, "stage": "arrived", "city": "无锡", "detailed": False, "eta": None,
                      "delayed": None, "delay_reason": None, "timeline": None, "signer": None}


@pytest.mark.parametrize("role", ROLES_REFUSED)
def test_no_other_role_may_ask(api, infra: Infra, late, role: str) -> None:  # type: ignore[no-untyped-def]
    waybill, _ = late
    claims = {"branch": {"branch": "SH01"}, "carrier": {"carrier": "CARR1"}, "customer": {"customer": "C100"}}
    r = api.get(PATH, params={"waybill_no": waybill}, headers=infra.headers(role, **claims.get(role, {})))  # type: ignore[arg-type]
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert api.get(PATH, params={"waybill_no": waybill}).status_code == 401


def test_the_public_role_may_ask_nothing_else(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    waybill, _ = late
    for path in (f"/v1/shipments/{waybill}", "/v1/shipments", "/v1/reports/in-transit"):
        assert api.get(path, headers=public(infra)).status_code == 403, path


def test_bad_queries_are_422(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    waybill, _ = late
    token = sign(ring(infra), waybill, datetime.now(UTC) + timedelta(days=1))
    assert look(api, infra, waybill, digits="12a4").status_code == 422
    assert look(api, infra, waybill, link=token).status_code == 422  # a number or a link, not both
    assert look(api, infra, link=token, digits="0000").status_code == 422
    assert api.get(PATH, headers=public(infra)).status_code == 422



def test_the_fast_route_and_fastapis_route_answer_alike(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    """The look-up is answered behind the guard but in front of FastAPI (public.api.public_shipment_fast)
    unless its query is more than one plain `waybill_no`: `&via=fastapi` takes FastAPI's route. Both
    give the same answers, byte for byte, and the guard counts both under the route."""
    waybill, _ = late
    link = sign(ring(infra), waybill, datetime.now(UTC) + timedelta(days=1))
    staff, anyone = infra.headers("staff"), {"Authorization": "Bearer not-a-token"}
    cases: list[tuple[dict[str, str], dict[str, str]]] = [  # (query, headers)
        ({"waybill_no": waybill}, public(infra)),  # coarse
        ({"waybill_no": waybill}, {**public(infra), "X-Phone-Last4": "0000"}),  # detailed
        ({"waybill_no": waybill.lower()}, {**public(infra), "X-Phone-Last4": "0000"}),
        ({"waybill_no": waybill}, {**public(infra), "X-Phone-Last4": "1234"}),  # wrong digits
        ({"waybill_no": f"NO{unique()}"}, public(infra)),  # unknown
        ({}, {**public(infra), "X-Tracking-Link": link}),  # a link
        ({}, {**public(infra), "X-Tracking-Link": link[:-2] + "AA"}),  # forged
        ({"waybill_no": waybill}, {**public(infra), "X-Tracking-Link": link}),  # both: 422
        ({}, public(infra)),  # neither: 422
        ({"waybill_no": waybill}, staff),  # role: 403
        ({"waybill_no": waybill}, anyone),  # bad token: 401
    ]
    for query, headers in cases:
        answers = [api.get(PATH, params=params, headers=headers) for params in (query, {**query, "via": "fastapi"})]
        assert (answers[0].status_code, answers[0].content, answers[0].headers.get("www-authenticate")) == \
            (answers[1].status_code, answers[1].content, answers[1].headers.get("www-authenticate")), \
            (query, headers, answers[0].text, answers[1].text)
    metrics = api.get("/metrics").text
    for status in ("200", "401", "403", "404", "422"):
        assert f'lcs_http_requests_total{{method="GET",route="{PATH}",service="tracking",status="{status}"}}' \
            in metrics, status


LOOKUPS = "/v1/public/shipments/lookups"


def test_grouped_lookups_answer_each_as_the_single_lookup_does(api, infra: Infra, late, world: World) -> None:  # type: ignore[no-untyped-def]
    """`POST /v1/public/shipments/lookups`: `results[i]` is what `GET /v1/public/shipments` gives
    `lookups[i]` (its body; null for its one 404), in order, whatever else is in the group: the same
    number twice, a number in another form, wrong digits, an unknown number, one that cannot be a
    waybill number, another shipment."""
    waybill, vid = late
    other = f"T{unique()}"
    body = core.shipment_body(other, world, promised_at=now() + timedelta(days=2))
    body["shipper"]["phone"], body["consignee"]["phone"] = "+8613811112222", "13933334444"
    assert api.post("/v1/shipments", headers=infra.headers("admin"), json=body).status_code == 201
    asked: list[tuple[str, str | None]] = [
        (waybill, None), (waybill, "0000"), (waybill.lower(), "0000"), (f" {waybill[:4]} {waybill[4:]} ", None),
        (waybill, "1234"), (f"NO{unique()}", "0000"), (f"NO{unique()}", None), ("*!*", None), ("*!*", "0000"),
        (other, "4444"), (other, "2222"), (other, "0000"), (other, None), (waybill, "0000")]
    r = api.post(LOOKUPS, headers=public(infra),
                 json={"lookups": [{"waybill_no": n, "phone_last4": d} for n, d in asked]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == len(asked)
    for (number, digits), result in zip(asked, results, strict=True):
        single = look(api, infra, number, digits=digits)
        assert single.status_code in (200, 404, 422), single.text
        expected = single.json() if single.status_code == 200 else None
        assert result == expected, (number, digits, result, single.text)
    assert [r is not None and r["detailed"] for r in results] == [
        False, True, True, False, False, False, False, False, False, True, True, False, False, True]
    assert_redacted(results, vid)


def test_grouped_lookups_refuse_what_the_single_lookup_refuses(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    waybill, _ = late
    one = {"waybill_no": waybill}
    for bad in ({"lookups": []}, {"lookups": [one] * 101}, {"lookups": [{**one, "phone_last4": "12a4"}]},
                {"lookups": [{**one, "phone_last4": "12345"}]}, {"lookups": [{"waybill_no": ""}]},
                {"lookups": [{"waybill_no": "X" * 65}]}, {"lookups": [{**one, "link": "x"}]}, {"lookups": one}, {}):
        r = api.post(LOOKUPS, headers=public(infra), json=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", (bad, r.text)
    assert api.post(LOOKUPS, headers=public(infra), json={"lookups": [one] * 100}).status_code == 200
    assert api.post(LOOKUPS, json={"lookups": [one]}).status_code == 401
    assert api.post(LOOKUPS, headers=infra.headers("staff"), json={"lookups": [one]}).status_code == 403


def test_the_grouped_fast_route_and_fastapis_route_answer_alike(api, infra: Infra, late) -> None:  # type: ignore[no-untyped-def]
    """The grouped look-ups are answered behind the guard but in front of FastAPI
    (public.api.public_shipment_lookups_fast) unless the request has a query string, a body not
    declared as JSON or no bearer token: `?via=fastapi` takes FastAPI's route. Both give the same
    answers, byte for byte (refusals included), and the guard counts both under the route."""
    waybill, _ = late
    one = {"waybill_no": waybill}
    staff, anyone = infra.headers("staff"), {"Authorization": "Bearer not-a-token"}
    cases: list[tuple[dict[str, str], object]] = [  # (headers, body)
        (public(infra), {"lookups": [one, {**one, "phone_last4": "0000"}, {"waybill_no": waybill.lower(),
                                                                             "phone_last4": "1234"},
                                     {"waybill_no": f"NO{unique()}"}, {"waybill_no": "*!*", "phone_last4": "0000"}]}),
        (public(infra), {"lookups": [{**one, "phone_last4": "0000"}] * 100}),
        (public(infra), {"lookups": []}),  # 422s, pydantic's own
        (public(infra), {"lookups": [one] * 101}),
        (public(infra), {"lookups": [{**one, "phone_last4": "12a4"}]}),
        (public(infra), {"lookups": [{"waybill_no": "X" * 65}]}),
        (public(infra), {"lookups": [{**one, "link": "x"}]}),
        (public(infra), {}),
        (public(infra), [one]),
        (staff, {"lookups": [one]}),  # role: 403
        (anyone, {"lookups": [one]}),  # bad token: 401
    ]
    for headers, body in cases:
        answers = [api.post(url, headers=headers, json=body) for url in (LOOKUPS, f"{LOOKUPS}?via=fastapi")]
        assert (answers[0].status_code, answers[0].content, answers[0].headers.get("www-authenticate")) == \
            (answers[1].status_code, answers[1].content, answers[1].headers.get("www-authenticate")), \
            (body, answers[0].text, answers[1].text)
    r = api.post(LOOKUPS, headers={**public(infra), "Content-Type": "application/json"}, content=b'{"lookups": [')
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"  # not JSON, on the fast route
    metrics = api.get("/metrics").text
    for status in ("200", "401", "403", "422"):
        assert f'lcs_http_requests_total{{method="POST",route="{LOOKUPS}",service="tracking",status="{status}"}}' \
            in metrics, status
