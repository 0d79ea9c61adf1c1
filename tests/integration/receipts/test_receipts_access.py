"""Roles and branch scoping: a branch sees its own receipts only (404 otherwise, existence does not leak)."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.receipts.conftest import NOW, Api, Flow, station


async def test_branch_sees_receipts_from_or_to_its_station_only(flow: Flow, api: Api) -> None:
    no, rec = await flow.signed()
    origin, dest, other = rec["origin"], rec["destination"], station()
    assert (await api.get(no, role="branch", branch=origin)).status_code == 200
    assert (await api.get(no, role="branch", branch=dest)).status_code == 200
    r = await api.get(no, role="branch", branch=other)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    for action, body in [("inspection", {"result": "qualified", "by": "x"}),
                         ("re-sign", {"at": NOW.isoformat(), "by": "x"}),
                         ("handover", {"to": "customer", "recipient": "x", "at": NOW.isoformat()}),
                         ("write-off", {"at": NOW.isoformat(), "collector": "x"})]:
        r = await api.act(no, action, body, role="branch", branch=other)
        assert r.status_code == 404, (action, r.text)
    page = (await api.client.get("/v1/receipts", params={"station": dest},
                                 headers=api.headers("branch", other))).json()
    assert page["items"] == []
    page = (await api.client.get("/v1/receipts", headers=api.headers("branch", dest))).json()
    assert [i["waybill_no"] for i in page["items"]] == [no]


async def test_each_action_belongs_to_its_station(flow: Flow, api: Api) -> None:
    no, rec = await flow.signed()
    origin, dest = rec["origin"], rec["destination"]
    # inspection and re-signing happen at the destination
    r = await api.act(no, "inspection", {"result": "qualified", "by": "x"}, role="branch", branch=origin)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert (await api.act(no, "inspection", {"result": "qualified", "by": "x"}, role="branch",
                          branch=dest)).status_code == 200
    # mailing: by the sending station (the destination), not the origin
    body = {"from_station": dest, "to_station": origin, "waybills": [no],
            "sent_at": (NOW - timedelta(hours=1)).isoformat(), "courier_no": "SF-ACL-1"}
    assert (await api.post("/v1/envelopes", body, role="branch", branch=origin)).status_code == 403
    r = await api.post("/v1/envelopes", body, role="branch", branch=dest)
    assert r.status_code == 201
    env_id = r.json()["id"]
    other = station()
    r = await api.client.get(f"/v1/envelopes/{env_id}", headers=api.headers("branch", other))
    assert r.status_code == 404
    r = await api.post(f"/v1/envelopes/{env_id}/arrival", {"received_at": NOW.isoformat(), "waybills_present": [no]},
                       role="branch", branch=other)
    assert r.status_code == 404
    r = await api.post(f"/v1/envelopes/{env_id}/arrival", {"received_at": NOW.isoformat(), "waybills_present": [no]},
                       role="branch", branch=origin)
    assert r.status_code == 200
    # hand-over and write-off at the origin only
    r = await api.act(no, "write-off", {"at": NOW.isoformat(), "collector": "x"}, role="branch", branch=dest)
    assert r.status_code == 403
    r = await api.act(no, "write-off", {"at": NOW.isoformat(), "collector": "x"}, role="branch", branch=origin)
    assert r.status_code == 200


async def test_roles(flow: Flow, api: Api) -> None:
    no, rec = await flow.signed(payment="cod")
    r = await api.act(no, "cancel", {}, role="branch", branch=rec["destination"])
    assert r.status_code == 403  # cancelling is the desk's
    r = await api.client.get(f"/v1/receipts/{no}", headers=api.infra.headers("carrier", carrier="SF"))
    assert r.status_code == 403
    r = await api.client.get(f"/v1/receipts/{no}")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    r = await api.client.get(f"/v1/receipts/{no}", headers={"Authorization": "Bearer not-a-jwt"})
    assert r.status_code == 401
    r = await api.client.get("/v1/reports/receipts/monthly", params={"month": "2026-11"},
                             headers=api.headers("branch", rec["origin"]))
    assert r.status_code == 403
    for role in ("admin", "supervisor", "staff"):
        assert (await api.get(no, role=role)).status_code == 200
    assert (await api.act(no, "cancel", {}, role="supervisor")).status_code == 200
