"""The month-end report as the desk's spreadsheets (`shared.tabular`): CSV with a BOM and
formulas neutralised, XLSX with typed cells and a frozen header, 406 for a form it does not serve."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from shared.clock import BUSINESS_TZ
from tests.conftest import unique
from tests.integration.receipts.conftest import Api, Flow
from tests.support.sheets import CSV_ACCEPT, XLSX_ACCEPT, assert_not_acceptable, csv_rows, xlsx_rows


async def test_month_end_report_as_csv_and_xlsx(flow: Flow, api: Api) -> None:
    region = f'=HYPERLINK("{unique()}")'  # a region is typed by people at the station registry
    _, record = await flow.signed(region=region)
    month = datetime.fromisoformat(record["due_at"]).astimezone(BUSINESS_TZ).strftime("%Y-%m")
    url, params = "/v1/reports/receipts/monthly", {"month": month}

    rows = {r["region"]: r for r in csv_rows(
        await api.client.get(url, params=params, headers={**api.headers("supervisor"), **CSV_ACCEPT}))}
    line = rows["'" + region]  # shown as text, never run
    assert line["required"] == "1" and line["outstanding"] == "1" and line["penalty_cny"] == "0.00"

    header, cells, _ = xlsx_rows(
        await api.client.get(url, params=params, headers={**api.headers("supervisor"), **XLSX_ACCEPT}))
    assert header[0] == "region" and "penalty_cny" in header
    row = next(r for r in cells if r["region"].value == "'" + region)
    assert row["region"].data_type == "s"
    assert row["required"].value == 1 and row["required"].data_type == "n"
    assert row["penalty_cny"].data_type == "n" and Decimal(str(row["penalty_cny"].value)) == 0
    assert row["penalty_cny"].number_format == "0.00"

    assert_not_acceptable(await api.client.get(url, params=params,
                                               headers={**api.headers("supervisor"), "Accept": "text/html"}))
