"""`GET /v1/receipts`: filters, `overdue` at `as_of`, keyset pagination, no personal data."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.integration.receipts.conftest import Api, Flow, station


async def _all(api: Api, limit: int, **params: str) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        q = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        r = await api.client.get("/v1/receipts", params=q, headers=api.headers())
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_filters_and_pagination(flow: Flow, api: Api) -> None:
    dest, region = station(), "Region-" + station()
    made = []
    for i in range(7):
        no, rec = await flow.signed(destination=dest, region=region, via=[station()] * (i % 2))
        made.append(rec)
    qualified = made[:3]
    for rec in qualified:
        await flow.inspect(rec["waybill_no"], "qualified")
    everything = await _all(api, 2, station=dest)
    assert [i["waybill_no"] for i in everything] == sorted(r["waybill_no"] for r in made)
    assert "station_contact" not in everything[0] and "custody" not in everything[0]
    assert [i["waybill_no"] for i in await _all(api, 3, region=region, status="qualified")] == \
        sorted(r["waybill_no"] for r in qualified)
    # overdue at as_of: the direct ones (10 days) are late before the one-transfer ones (15 days)
    direct_due = min(datetime.fromisoformat(r["due_at"]) for r in made)
    late = await _all(api, 50, station=dest, overdue="true", as_of=direct_due.isoformat())
    assert {i["waybill_no"] for i in late} == {r["waybill_no"] for r in made if r["transfers"] == 0}
    assert all(i["overdue"] for i in late)
    on_time = await _all(api, 50, station=dest, overdue="false", as_of=direct_due.isoformat())
    assert {i["waybill_no"] for i in on_time} == {r["waybill_no"] for r in made if r["transfers"] == 1}
    early = await _all(api, 50, station=dest, overdue="true",
                       as_of=(direct_due - timedelta(days=1)).isoformat())
    assert early == []


async def test_bad_list_queries_are_422(api: Api) -> None:
    for params in ({"status": "misplaced"}, {"limit": "0"}, {"limit": "501"}, {"cursor": "%%%"},
                   {"station": "lower-case"}, {"as_of": "2026-11-28T00:00:00"}, {"region": "x" * 101}):
        r = await api.client.get("/v1/receipts", params=params, headers=api.headers())
        assert r.status_code == 422, params
        assert "error" in r.json()
