"""Envelopes: only qualified receipts of one station to their origin, all or nothing; arrival reconciles."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from tests.integration.receipts.conftest import NOW, Api, Flow, outbox_events, station, waybill


async def _qualified(flow: Flow, n: int, origin: str, dest: str) -> list[str]:
    out = []
    for _ in range(n):
        no, _ = await flow.signed(origin=origin, destination=dest)
        await flow.inspect(no, "qualified")
        out.append(no)
    return out


def _body(waybills: list[str], origin: str, dest: str, **kw) -> dict:
    return {"from_station": dest, "to_station": origin, "waybills": waybills,
            "sent_at": (NOW - timedelta(hours=2)).isoformat(), "courier_no": "SF1234567", **kw}


async def test_arrival_reconciles_present_and_flags_missing_as_lost_chased_at_once(
        flow: Flow, api: Api, db: asyncpg.Connection) -> None:
    origin, dest = station(), station()
    a, b, c = await _qualified(flow, 3, origin, dest)
    r = await api.post("/v1/envelopes", _body([a, b, c], origin, dest), role="branch", branch=dest)
    assert r.status_code == 201, r.text
    env = r.json()
    assert env["count"] == 3 and [w["waybill_no"] for w in env["waybills"]] == [a, b, c]
    assert all(w["status"] == "mailed" for w in env["waybills"])
    rec = (await api.get(a)).json()
    assert rec["envelope_id"] == env["id"] and rec["courier_no"] == "SF1234567"

    received_at = NOW - timedelta(minutes=5)
    r = await api.post(f"/v1/envelopes/{env['id']}/arrival",
                       {"received_at": received_at.isoformat(), "waybills_present": [a, c]},
                       role="branch", branch=origin)
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["status"] == "received" and env["present"] == [a, c] and env["missing"] == [b]
    assert {w["waybill_no"]: w["status"] for w in env["waybills"]} == {a: "received", b: "lost", c: "received"}
    lost = (await api.get(b)).json()
    assert lost["status"] == "lost" and lost["lost_at"] is not None
    assert lost["custody"][-1]["action"] == "flag_lost" and lost["custody"][-1]["to_party"] == "unknown"
    [chase] = await outbox_events(db, "receipts.receipt.lost.v1", b)
    assert chase["data"]["envelope_id"] == env["id"]
    assert chase["data"]["station_contact"]["phone"] == "13700000000"
    assert await outbox_events(db, "receipts.receipt.lost.v1", a) == []
    # a lost receipt stays chased (it is not back) and can still turn up
    assert "receive" in lost["allowed_actions"]
    r = await api.act(b, "receive", {"at": NOW.isoformat(), "note": "found in the mail room"},
                      role="branch", branch=origin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "received"
    assert [c["action"] for c in r.json()["custody"]][-2:] == ["flag_lost", "receive"]

    # the arrival is recorded once
    r = await api.post(f"/v1/envelopes/{env['id']}/arrival",
                       {"received_at": NOW.isoformat(), "waybills_present": [a, b, c]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "envelope_already_received"
    got = await api.client.get(f"/v1/envelopes/{env['id']}", headers=api.headers())
    assert got.json()["missing"] == [b]


async def test_only_qualified_receipts_are_mailed_and_nothing_is_half_stored(flow: Flow, api: Api,
                                                                            db: asyncpg.Connection) -> None:
    origin, dest = station(), station()
    good = await _qualified(flow, 2, origin, dest)
    signed, _ = await flow.signed(origin=origin, destination=dest)
    r = await api.post("/v1/envelopes", _body([*good, signed], origin, dest))
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "invalid_transition" and err["details"]["current"] == "signed"
    assert err["details"]["receipts"] == [{"waybill_no": signed, "current": "signed"}]
    for no in good:
        rec = (await api.get(no)).json()
        assert rec["status"] == "qualified" and rec["envelope_id"] is None
        assert [c["action"] for c in rec["custody"]] == ["deliver", "inspect_qualified"]
    assert await db.fetchval("SELECT count(*) FROM receipts.envelope_items WHERE waybill_no = ANY($1::text[])",
                             good) == 0


async def test_an_envelope_carries_one_station_to_the_origin_station(flow: Flow, api: Api) -> None:
    origin, dest, other = station(), station(), station()
    mine = await _qualified(flow, 1, origin, dest)
    elsewhere = await _qualified(flow, 1, origin, other)
    r = await api.post("/v1/envelopes", _body([*mine, *elsewhere], origin, dest))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "envelope_route_mismatch" and err["details"]["not_from_station"] == elsewhere
    r = await api.post("/v1/envelopes", _body(mine, station(), dest))
    assert r.status_code == 422 and r.json()["error"]["details"]["not_to_station"] == mine
    unknown = waybill()
    r = await api.post("/v1/envelopes", _body([*mine, unknown], origin, dest))
    assert r.status_code == 422 and r.json()["error"]["details"] == {"waybills": [unknown]}
    r = await api.post("/v1/envelopes", _body([*mine, *mine], origin, dest))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await api.post("/v1/envelopes", _body([], origin, dest))
    assert r.status_code == 422
    r = await api.post("/v1/envelopes", _body(mine, origin, dest, courier_no="x" * 80))
    assert r.status_code == 422
    assert (await api.get(mine[0])).json()["status"] == "qualified"


async def test_arrival_checks_its_list_and_its_time(flow: Flow, api: Api) -> None:
    origin, dest = station(), station()
    nos = await _qualified(flow, 2, origin, dest)
    env = await flow.mail(nos, dest, origin, sent_at=NOW - timedelta(hours=3))
    path = f"/v1/envelopes/{env['id']}/arrival"
    r = await api.post(path, {"received_at": NOW.isoformat(), "waybills_present": [*nos, waybill()]})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_in_envelope"
    r = await api.post(path, {"received_at": (NOW - timedelta(hours=4)).isoformat(), "waybills_present": nos})
    assert r.status_code == 422 and r.json()["error"]["code"] == "arrival_before_sending"
    r = await api.post(path, {"received_at": NOW.isoformat(), "waybills_present": nos}, role="branch", branch=dest)
    assert r.status_code == 403  # the sender cannot confirm its own envelope's arrival
    assert [(await api.get(n)).json()["status"] for n in nos] == ["mailed", "mailed"]
    r = await api.post(path, {"received_at": NOW.isoformat(), "waybills_present": nos}, role="branch", branch=origin)
    assert r.status_code == 200, r.text
    assert r.json()["missing"] == []
