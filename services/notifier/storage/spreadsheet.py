"""The storage report as a spreadsheet (the e-mail's XLSX attachment), written by the platform's
one table writer (`shared.tabular`): numbers as numbers, times as Beijing date-times, headers in
the recipient's language, text that looks like a formula kept as text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.notifier.domain.vocabulary import Language
from shared.tabular import XLSX_TYPE, Column, ColumnType, Table, xlsx_bytes

CONTENT_TYPE = XLSX_TYPE

_HEADINGS: Mapping[Language, Mapping[str, str]] = {
    Language.ZH_CN: {
        "waybill_no": "运单号", "station": "站点", "pieces": "件数", "pieces_total": "运单件数",
        "weight_kg": "重量（公斤）", "volume_m3": "体积（立方米）", "arrived_at": "到达时间", "days": "暂存天数",
        "window_start": "预约送货开始", "window_end": "预约送货结束", "consignee_name": "收货人",
    },
    Language.EN: {
        "waybill_no": "Waybill", "station": "Station", "pieces": "Pieces", "pieces_total": "Pieces on waybill",
        "weight_kg": "Weight (kg)", "volume_m3": "Volume (m3)", "arrived_at": "Arrived", "days": "Days in storage",
        "window_start": "Delivery booked from", "window_end": "Delivery booked until", "consignee_name": "Consignee",
    },
}
_TYPES: Mapping[str, ColumnType] = {
    "pieces": "int", "pieces_total": "int", "weight_kg": "number", "volume_m3": "number", "arrived_at": "datetime",
    "days": "int", "window_start": "datetime", "window_end": "datetime",
}


def file_name(day: str, language: Language) -> str:
    stem = "货物暂存报表" if language is Language.ZH_CN else "storage-report"
    return f"{stem}-{day}.xlsx"


def report_xlsx(data: Mapping[str, Any], language: Language) -> bytes:
    """The workbook of a storage report's template data (`StorageReport.template_data`)."""
    headings = _HEADINGS[language]
    cols = [Column(key, _TYPES.get(key, "text"), title) for key, title in headings.items()]
    rows = [{**row, **_window(row.get("appointment"))} for row in data["rows"]]
    sheet = "货物暂存" if language is Language.ZH_CN else "storage"
    return xlsx_bytes(Table(sheet, cols, rows))


def _window(appointment: Mapping[str, Any] | None) -> dict[str, Any]:
    if not appointment:
        return {"window_start": None, "window_end": None}
    return {"window_start": appointment.get("window_start"), "window_end": appointment.get("window_end")}
