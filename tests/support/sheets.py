"""Reading a report back as the desk's spreadsheet would: the CSV (BOM, UTF-8) and the XLSX
(openpyxl), for the tests of every report route (`shared.tabular`)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from openpyxl import load_workbook

from shared.tabular import XLSX_TYPE

CSV_ACCEPT = {"Accept": "text/csv"}
XLSX_ACCEPT = {"Accept": XLSX_TYPE}


def csv_rows(r: httpx.Response) -> list[dict[str, str]]:
    """The CSV body's rows by header, after checking it is a UTF-8 attachment with a BOM."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv"), r.headers["content-type"]
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith(b"\xef\xbb\xbf"), "Excel needs the BOM to show Chinese"
    return list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))


def xlsx_rows(r: httpx.Response) -> tuple[list[str], list[dict[str, Any]], Any]:
    """The XLSX body's header, its rows as {header: cell}, and the sheet; checks the header is frozen."""
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == XLSX_TYPE
    assert "attachment" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None
    assert ws.freeze_panes == "A2", "the header row stays in view"
    header = [str(c.value) for c in ws[1]]
    rows = [dict(zip(header, row, strict=True)) for row in ws.iter_rows(min_row=2)]
    return header, rows, ws


def assert_not_acceptable(r: httpx.Response) -> None:
    assert r.status_code == 406, r.text
    assert r.json()["error"]["code"] == "not_acceptable"
