"""Every report in three forms, chosen by the `Accept` header: JSON (the default), CSV and XLSX.

A report route builds its JSON as before and, for the spreadsheets, a `Table`: typed columns and
rows of plain values. `negotiate(request)` picks the form (406 `not_acceptable` in the contract's
error shape for an `Accept` none of the three satisfies) before the report is computed, and
`respond(fmt, json=..., table=...)` returns the JSON untouched or the file:

    @router.get("/v1/reports/thing", response_model=ThingReport, responses=REPORT_RESPONSES)
    async def thing_report(request: Request, rt: RuntimeDep, principal: DeskPrincipal) -> Any:
        fmt = negotiate(request)
        report = await service.thing(rt, principal=principal)
        return respond(fmt, json=report, table=lambda: Table("thing", THING_COLUMNS, report["rows"]))

- CSV: UTF-8 with a BOM (so Excel reads Chinese), written by `shared.csvout` (its one formula
  rule on every text cell); times in business time (Asia/Shanghai) as RFC 3339 with the offset,
  booleans `true`/`false`, money with two decimals.
- XLSX (openpyxl): numbers are numbers, money has two decimals, times are Excel date-times in
  business time (Excel has no zones; the whole sheet is Beijing time), days are Excel dates,
  booleans are booleans; a bold header row that stays frozen, widths that fit the text (a CJK
  character counts twice). Text that looks like a formula is stored as text, neutralised by the
  same rule as in CSV (`shared.csvout.csv_cell`): never as a formula.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Literal
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import Response

from shared.clock import BUSINESS_TZ
from shared.csvout import csv_cell, write_csv
from shared.errors import ErrorResponse, NotAcceptable

ReportFormat = Literal["json", "csv", "xlsx"]
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES: Mapping[ReportFormat, str] = {"json": JSON_TYPE, "csv": CSV_TYPE, "xlsx": XLSX_TYPE}

# What a report route declares in OpenAPI (merged with its JSON `response_model`).
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": f"The report: JSON by default, CSV (UTF-8 with BOM) with `Accept: {CSV_TYPE}`, "
                         f"a spreadsheet with `Accept: {XLSX_TYPE}`.",
          "content": {CSV_TYPE: {"schema": {"type": "string"}},
                      XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}}}},
    406: {"model": ErrorResponse, "description": "`Accept` names none of JSON, CSV and XLSX"},
}

# text: str(value) (a list or tuple joined with "|"); int: a whole number; number: a float (CSV: at
# most 6 decimals, an integral value without ".0"); money: CNY with two decimals; bool; datetime:
# an aware instant (or its RFC 3339 text), shown in business time; date: a calendar day; auto:
# each value by its own Python type (a long-format "value" column of counts, shares and text).
ColumnType = Literal["text", "int", "number", "money", "bool", "datetime", "date", "auto"]

MAX_WIDTH = 60


@dataclass(frozen=True, slots=True)
class Column:
    """One column: the row key it reads, its type and its header (the key unless given)."""

    key: str
    type: ColumnType = "text"
    title: str = ""

    @property
    def heading(self) -> str:
        return self.title or self.key


@dataclass(frozen=True, slots=True)
class Table:
    """A report as a spreadsheet: `name` is the file name's stem and the sheet's title."""

    name: str
    columns: Sequence[Column]
    rows: Iterable[Mapping[str, Any]]


def columns(*specs: str | tuple[str, ColumnType] | Column) -> tuple[Column, ...]:
    """Columns in short: `columns("station", ("count", "int"), ("arrived_at", "datetime"))`."""
    out: list[Column] = []
    for spec in specs:
        if isinstance(spec, Column):
            out.append(spec)
        elif isinstance(spec, str):
            out.append(Column(spec))
        else:
            out.append(Column(spec[0], spec[1]))
    return tuple(out)


# --- negotiation ------------------------------------------------------------------------------


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    """`Accept` as (type, subtype, q) triples; a range with a bad `q` counts as q=0 (RFC 9110)."""
    out: list[tuple[str, str, float]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        kind, _, sub = media.lower().partition("/")
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                if not (0.0 <= q <= 1.0) or math.isnan(q):
                    q = 0.0
        out.append((kind.strip(), sub.strip() or "*", q))
    return out


def choose_format(accept: str | None) -> ReportFormat:
    """The form `accept` prefers: highest q first, then the most specific range that gave it,
    then JSON before CSV before XLSX. No header (or `*/*`) is JSON; `NotAcceptable` when every
    form is refused (q=0 or not named)."""
    if accept is None or not accept.strip():
        return "json"
    ranges = _ranges(accept)
    best: tuple[float, int, int] | None = None
    chosen: ReportFormat | None = None
    for order, (fmt, media) in enumerate(MEDIA_TYPES.items()):
        kind, _, sub = media.partition("/")
        # The most specific range that matches this media type decides its q (RFC 9110 12.5.1).
        match: tuple[int, float] | None = None
        for r_kind, r_sub, q in ranges:
            if r_kind == kind and r_sub == sub:
                specificity = 2
            elif r_kind == kind and r_sub == "*":
                specificity = 1
            elif r_kind == "*" and r_sub == "*":
                specificity = 0
            else:
                continue
            if match is None or specificity > match[0]:
                match = (specificity, q)
        if match is None or match[1] <= 0:
            continue
        rank = (match[1], match[0], -order)
        if best is None or rank > best:
            best, chosen = rank, fmt
    if chosen is None:
        raise NotAcceptable("not_acceptable", "this report is served as JSON, CSV or XLSX only",
                            {"accept": accept[:200], "available": list(MEDIA_TYPES.values())})
    return chosen


def negotiate(request: Request) -> ReportFormat:
    """The form the request's `Accept` asks for (406 `not_acceptable` if none); call it before
    computing the report, so a refused request costs nothing."""
    return choose_format(request.headers.get("accept"))


def respond(fmt: ReportFormat, *, json: Any, table: Callable[[], Table]) -> Any:
    """`json` itself for JSON (the route's `response_model` shapes it, unchanged), else the table
    as a CSV or XLSX attachment."""
    if fmt == "json":
        return json
    return file_response(table(), fmt)


def file_response(table: Table, fmt: Literal["csv", "xlsx"]) -> Response:
    filename = f"{table.name}.{fmt}"
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    headers = {"Content-Disposition": disposition, "Vary": "Accept"}
    if fmt == "csv":
        return Response(csv_bytes(table), media_type=f"{CSV_TYPE}; charset=utf-8", headers=headers)
    return Response(xlsx_bytes(table), media_type=XLSX_TYPE, headers=headers)


# --- values -----------------------------------------------------------------------------------


def _instant(value: Any) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a report time must carry an offset: {value!r}")
    return at.astimezone(BUSINESS_TZ)


def _day(value: Any) -> date:
    if isinstance(value, datetime):
        return _instant(value).date()
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return "|".join(_text(v) for v in value)
    return str(value)


def _number(value: Any) -> int | float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"a report number must be finite: {value!r}")
    rounded = round(number, 6)
    return int(rounded) if rounded.is_integer() else rounded


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def typed_value(value: Any, kind: ColumnType) -> Any:
    """A cell's value as its column's type (None, and "", stay empty)."""
    if value is None or (isinstance(value, str) and value == "" and kind != "text"):
        return None
    if kind == "text":
        return _text(value)
    if kind == "int":
        return int(value)
    if kind == "number":
        return _number(value)
    if kind == "money":
        return _money(value)
    if kind == "bool":
        return bool(value)
    if kind == "datetime":
        return _instant(value)
    if kind == "date":
        return _day(value)
    # auto: each value as its own type
    if isinstance(value, bool | int | Decimal):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, datetime):
        return _instant(value)
    if isinstance(value, date):
        return value
    return _text(value)


def csv_value(value: Any) -> Any:
    """A typed value as the CSV shows it (text is neutralised later by `csv_cell`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    return value


# --- writers ----------------------------------------------------------------------------------


def csv_text(table: Table) -> str:
    """The table as CSV text with a header line, through the one CSV writer (`shared.csvout`)."""
    cols = list(table.columns)
    return write_csv([c.heading for c in cols],
                     ([csv_value(typed_value(row.get(c.key), c.type)) for c in cols] for row in table.rows))


def csv_bytes(table: Table) -> bytes:
    """UTF-8 with a BOM, so Excel in China opens Chinese text correctly."""
    return ("\ufeff" + csv_text(table)).encode("utf-8")


_FORMATS: Mapping[str, str] = {"int": "0", "money": "0.00", "datetime": "yyyy-mm-dd hh:mm:ss", "date": "yyyy-mm-dd"}


def xlsx_bytes(table: Table) -> bytes:
    """The table as one worksheet: typed cells, a bold frozen header row, fitted widths."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    cols = list(table.columns)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = _sheet_title(table.name)
    bold = Font(bold=True)
    widths = [display_width(c.heading) for c in cols]
    for i, c in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=i)
        _text_cell(cell, c.heading)
        cell.font = bold
    for r, row in enumerate(table.rows, start=2):
        for i, c in enumerate(cols, start=1):
            value = typed_value(row.get(c.key), c.type)
            cell = ws.cell(row=r, column=i)
            if value is None:
                continue
            if isinstance(value, str):
                # Stored as a string cell (never a formula, whatever it starts with), neutralised
                # like CSV so a copy into another sheet does not run it either.
                _text_cell(cell, value)
            elif isinstance(value, datetime):
                cell.value = value.replace(tzinfo=None)  # business time; Excel has no zones
                cell.number_format = _FORMATS["datetime"]
            elif isinstance(value, date):
                cell.value = value
                cell.number_format = _FORMATS["date"]
            else:
                cell.value = value
                if c.type in _FORMATS or isinstance(value, Decimal):
                    cell.number_format = _FORMATS.get(c.type, "0.00")
            widths[i - 1] = max(widths[i - 1], display_width(value))
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(MAX_WIDTH, width + 2)
    ws.freeze_panes = "A2"
    if cols:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(ws.max_row, 1)}"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _text_cell(cell: Any, text: str) -> None:
    """A string cell, never a formula: neutralised like CSV (`csv_cell`), characters XML cannot
    carry dropped, and the type pinned to string whatever the text starts with."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cell.value = ILLEGAL_CHARACTERS_RE.sub("", csv_cell(text))
    cell.data_type = "s"


def _sheet_title(name: str) -> str:
    # Excel: at most 31 characters, none of []:*?/\
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'") or "report"
    return cleaned[:31]


def display_width(value: Any) -> int:
    """How many columns a value takes on screen: a CJK character takes two."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    if isinstance(value, bool):
        return 5
    text = str(value)
    return sum(2 if ord(ch) >= 0x2E80 else 1 for ch in text)
