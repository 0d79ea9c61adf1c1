"""The one CSV writer: every cell through `csv_cell` (OWASP's formula rule).

Report routes serve CSV (and JSON, XLSX) through `shared.tabular`, which writes with
`write_csv`; `wants_csv` / `csv_response` are the older, CSV-only path, kept for routes not yet
moved to it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import Request
from fastapi.responses import Response

# OWASP's list: a cell starting with any of these may be read as a formula by a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def wants_csv(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/csv" in accept.lower()


def csv_cell(value: Any) -> Any:
    """A cell as written: text starting like a formula is neutralised with a leading quote,
    so a spreadsheet shows it instead of running it. The one rule for every CSV and sheet."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text: a header line, then one line per row, every cell through `csv_cell`."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
    return buf.getvalue()


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    return write_csv(columns, ([row.get(c) for c in columns] for row in rows))


def csv_response(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], filename: str) -> Response:
    # UTF-8 with BOM so Excel in China opens Chinese text correctly.
    body = "\ufeff" + to_csv(rows, columns)
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
