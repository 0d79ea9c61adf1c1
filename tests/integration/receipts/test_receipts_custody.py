"""The custody chain is evidence: no route changes it, and the database refuses to rewrite it."""

from __future__ import annotations

import asyncpg
import pytest

from tests.integration.receipts.conftest import Api, Flow


async def test_no_route_can_change_or_delete_custody(flow: Flow, api: Api) -> None:
    no, before = await flow.to("received")
    spec = (await api.client.get("/openapi.json")).json()
    for path, methods in spec["paths"].items():
        assert not {"put", "patch", "delete"} & set(methods), path
        assert "custody" not in path, path
    for method in ("PUT", "PATCH", "DELETE"):
        for path in (f"/v1/receipts/{no}", f"/v1/receipts/{no}/custody"):
            r = await api.client.request(method, path, json={"custody": []}, headers=api.headers("admin"))
            assert r.status_code in (404, 405), (method, path, r.status_code)
    # and an action cannot smuggle a custody rewrite in its body
    r = await api.act(no, "handover", {"to": "customer", "recipient": "张三", "at": before["custody"][0]["at"],
                                       "custody": []})
    assert r.status_code == 422
    after = (await api.get(no)).json()
    assert after["custody"] == before["custody"]


async def test_the_database_refuses_updates_and_deletes_of_custody(flow: Flow, db: asyncpg.Connection) -> None:
    no, rec = await flow.signed()
    for sql in ("UPDATE receipts.custody SET actor = 'someone-else' WHERE waybill_no = $1",
                "DELETE FROM receipts.custody WHERE waybill_no = $1"):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await db.execute(sql, no)
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await db.execute("TRUNCATE receipts.custody CASCADE")
    rows = await db.fetch("SELECT action, actor FROM receipts.custody WHERE waybill_no = $1", no)
    assert [(r["action"], r["actor"]) for r in rows] == [("deliver", "system:tracking")]


async def test_the_actor_is_the_token_not_the_body(flow: Flow, api: Api) -> None:
    no, rec = await flow.signed()
    r = await api.act(no, "inspection", {"result": "qualified", "by": "冒名顶替"}, role="supervisor")
    assert r.status_code == 200
    entry = r.json()["custody"][-1]
    assert entry["actor"] == "supervisor:test-supervisor"
    assert "冒名顶替" in entry["note"]  # who the station says checked it is kept as a note only
