"""The complaints reports as the desk's spreadsheets (`shared.tabular`): CSV with a BOM, XLSX
with typed cells and a frozen header, 406 for a form they do not serve. The month report holds
no free text (closed vocabularies); the day's work names people, whose names could look like
formulas."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.clock import BUSINESS_TZ, business_day
from tests.conftest import unique
from tests.integration.complaints.conftest import Api
from tests.support.sheets import CSV_ACCEPT, XLSX_ACCEPT, assert_not_acceptable, csv_rows, xlsx_rows


async def test_month_report_as_csv_and_xlsx(api: Api) -> None:
    month = datetime.now(UTC).astimezone(BUSINESS_TZ).strftime("%Y-%m")
    report = (await api.get("/v1/reports/complaints", params={"month": month})).json()
    lines = {(r["metric"], r["key"]): r["value"] for r in csv_rows(
        await api.get("/v1/reports/complaints", params={"month": month}, headers=CSV_ACCEPT))}
    assert lines[("month", "")] == month

    header, cells, _ = xlsx_rows(await api.get("/v1/reports/complaints", params={"month": month},
                                               headers=XLSX_ACCEPT))
    assert header == ["metric", "key", "value"]
    by = {(r["metric"].value, r["key"].value or ""): r["value"] for r in cells}
    assert by[("month", "")].value == month and by[("month", "")].data_type == "s"
    total = by[("total", "")]
    assert total.data_type == "n" and total.value >= report["total"]  # a number, not text
    assert int(lines[("total", "")]) == total.value
    assert by[("csat_distribution", "5")].data_type == "n"
    assert_not_acceptable(await api.get("/v1/reports/complaints", params={"month": month},
                                        headers={"Accept": "text/html"}))


async def test_daily_work_as_csv_and_xlsx_with_a_formula_looking_name(api: Api) -> None:
    person = f"=cmd|{unique()}"
    headers = api.infra.headers("staff", sub=person)
    r = await api.client.post("/v1/calls", headers=headers, json={
        "direction": "inbound", "phone": "13800000000", "caller_name": "李四", "topic": "tracking",
        "outcome": "answered", "customer_id": "C100"})
    assert r.status_code == 201, r.text
    # The day the service filed the call on (Beijing), from its own called_at: a day computed here
    # after the call is the next one if Beijing's midnight passed in between.
    today = business_day(datetime.fromisoformat(r.json()["called_at"])).isoformat()
    report = (await api.get("/v1/reports/complaints/daily-work", params={"date": today})).json()
    mine = [p for p in report["people"] if p["person"] == person]
    assert mine and mine[0]["calls_logged"] == 1

    lines = [r for r in csv_rows(await api.get("/v1/reports/complaints/daily-work", params={"date": today},
                                                headers=CSV_ACCEPT)) if person in r["person"]]
    assert [line["person"] for line in lines] == ["'" + person]  # shown as text, never run
    assert lines[0]["calls_logged"] == "1"

    _, cells, _ = xlsx_rows(await api.get("/v1/reports/complaints/daily-work", params={"date": today},
                                          headers=XLSX_ACCEPT))
    row = next(c for c in cells if person in str(c["person"].value))
    assert row["person"].data_type == "s" and row["person"].value == "'" + person
    assert row["calls_logged"].value == 1 and row["calls_logged"].data_type == "n"
    assert_not_acceptable(await api.get("/v1/reports/complaints/daily-work", params={"date": today},
                                        headers={"Accept": "image/png"}))
