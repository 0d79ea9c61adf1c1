"""Downloads as the desk's spreadsheets: CSV (UTF-8 with BOM, so Excel reads Chinese) and
XLSX (typed cells, a bold frozen header row, widths that fit).

One rule for text that could run as a formula (`shared.csvout.csv_cell`: a leading
= + - @ tab CR LF gets a quote) in both formats; numbers and times stay typed in XLSX.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from shared.clock import BUSINESS_TZ
from shared.csvout import csv_cell

CellType = Literal["text", "int", "float", "time", "bool"]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    type: CellType = "text"
    get: Callable[[Mapping[str, Any]], Any] | None = None

    def value(self, row: Mapping[str, Any]) -> Any:
        raw = self.get(row) if self.get is not None else row.get(self.key)
        return typed(raw, self.type)


def typed(raw: Any, kind: CellType) -> Any:
    """A cell's value as its column's type; None stays empty. Times are shown in Beijing time
    without an offset (Excel has no zoned times; the header says the zone)."""
    if raw is None or raw == "":
        return None
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return bool(raw)
    if kind == "time":
        at = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
        return at.astimezone(BUSINESS_TZ).replace(tzinfo=None, microsecond=0)
    if isinstance(raw, list | tuple):
        return " ".join(str(x) for x in raw)
    return str(raw)


def to_csv_bytes(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([c.title for c in columns])
    for row in rows:
        cells = []
        for c in columns:
            v = c.value(row)
            if isinstance(v, datetime):
                v = v.strftime("%Y-%m-%d %H:%M:%S")
            elif isinstance(v, bool):
                v = "是" if v else "否"
            cells.append(csv_cell(v))
        writer.writerow(cells)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_xlsx_bytes(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append([c.title for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    widths = [_width(c.title) for c in columns]
    for row in rows:
        values = []
        for i, c in enumerate(columns):
            v = c.value(row)
            if isinstance(v, str):
                v = csv_cell(v)
            values.append(v)
            widths[i] = max(widths[i], _width(v))
        ws.append(values)
    for i, c in enumerate(columns, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = min(60, widths[i - 1] + 2)
        if c.type == "time":
            for cell in ws[letter][1:]:
                cell.number_format = "yyyy-mm-dd hh:mm"
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _width(value: Any) -> int:
    """Display width: a CJK character takes two columns."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    text = str(value)
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)
