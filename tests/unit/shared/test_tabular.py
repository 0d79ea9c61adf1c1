"""Every report as JSON, CSV or XLSX (`shared.tabular`), and a report period's ends as days or
instants (`shared.types.DayOrInstant`): the rules, without I/O."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from pydantic import TypeAdapter, ValidationError

from shared.errors import NotAcceptable
from shared.tabular import (
    CSV_TYPE,
    XLSX_TYPE,
    Column,
    Table,
    choose_format,
    columns,
    csv_bytes,
    csv_text,
    file_response,
    xlsx_bytes,
)
from shared.types import DayOrInstant, period_end, period_start

AT = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 08:30 in Beijing
COLUMNS = columns("station", ("count", "int"), ("weight_kg", "number"), ("penalty_cny", "money"),
                  ("stale", "bool"), ("arrived_at", "datetime"), ("day", "date"), "waybills", ("value", "auto"))
ROWS = [
    {"station": "上海浦东", "count": 3, "weight_kg": 120.5, "penalty_cny": Decimal("50"), "stale": True,
     "arrived_at": AT, "day": date(2026, 12, 1), "waybills": ["W1", "W2"], "value": Decimal("0.60")},
    {"station": '=HYPERLINK("http://evil")', "count": -1, "weight_kg": None, "penalty_cny": None, "stale": False,
     "arrived_at": None, "day": None, "waybills": "@SUM(A1)", "value": "+cmd"},
]
TABLE = Table("report-2026-12", COLUMNS, ROWS)


# --- negotiation ------------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "expected"), [
    (None, "json"),
    ("", "json"),
    ("*/*", "json"),
    ("application/json", "json"),
    ("application/*", "json"),
    ("text/csv", "csv"),
    ("text/csv; charset=utf-8", "csv"),
    ("TEXT/CSV", "csv"),
    ("text/*", "csv"),
    (XLSX_TYPE, "xlsx"),
    (f"{XLSX_TYPE}, */*;q=0.1", "xlsx"),
    ("text/csv, */*", "csv"),  # the named type beats the wildcard at equal q
    ("application/json;q=0.5, text/csv", "csv"),
    (f"text/csv;q=0.4, {XLSX_TYPE};q=0.9", "xlsx"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "json"),  # a browser
    ("*/*, application/json;q=0", "csv"),  # JSON refused by name; the wildcard admits CSV
])
def test_the_accept_header_chooses_the_form(accept: str | None, expected: str) -> None:
    assert choose_format(accept) == expected


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "image/png",
                                    "text/csv;q=0", "application/json;q=abc", "*/*;q=0"])
def test_an_accept_no_form_satisfies_is_406(accept: str) -> None:
    with pytest.raises(NotAcceptable) as err:
        choose_format(accept)
    assert err.value.status == 406 and err.value.code == "not_acceptable"
    assert CSV_TYPE in err.value.details["available"]


# --- CSV ---------------------------------------------------------------------------------------

def test_csv_has_a_bom_typed_text_and_neutralised_formulas() -> None:
    body = csv_bytes(TABLE)
    assert body.startswith(b"\xef\xbb\xbf")
    header, first, second = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert header == [c.key for c in COLUMNS]
    assert first == ["上海浦东", "3", "120.5", "50.00", "true", "2026-12-01T08:30:00+08:00", "2026-12-01",
                     "W1|W2", "0.60"]
    assert second == ["'=HYPERLINK(\"http://evil\")", "-1", "", "", "false", "", "", "'@SUM(A1)", "'+cmd"]


def test_csv_text_is_the_same_without_the_bom() -> None:
    assert csv_bytes(TABLE) == ("\ufeff" + csv_text(TABLE)).encode()


def test_a_time_without_an_offset_is_refused_not_guessed() -> None:
    with pytest.raises(ValueError, match="offset"):
        csv_text(Table("t", columns(("at", "datetime")), [{"at": datetime(2026, 12, 1, 8)}]))


def test_the_file_response_is_an_attachment_of_the_right_type() -> None:
    r = file_response(TABLE, "xlsx")
    assert r.media_type == XLSX_TYPE
    assert 'filename="report-2026-12.xlsx"' in r.headers["content-disposition"]
    r = file_response(Table("货物暂存-2026", COLUMNS, []), "csv")
    assert r.headers["content-type"].startswith("text/csv") and "charset=utf-8" in r.headers["content-type"]
    assert "filename*=UTF-8''%E8%B4%A7" in r.headers["content-disposition"]


# --- XLSX --------------------------------------------------------------------------------------

def _sheet(table: Table):  # type: ignore[no-untyped-def]
    wb = load_workbook(io.BytesIO(xlsx_bytes(table)))
    return wb.active


def test_xlsx_cells_are_typed_and_times_are_beijing_time() -> None:
    ws = _sheet(TABLE)
    assert [c.value for c in ws[1]] == [c.key for c in COLUMNS]
    assert all(c.font.bold for c in ws[1])
    row = {c.key: cell for c, cell in zip(COLUMNS, ws[2], strict=True)}
    assert row["station"].value == "上海浦东"
    assert row["count"].value == 3 and row["count"].data_type == "n"
    assert row["weight_kg"].value == 120.5 and row["weight_kg"].data_type == "n"
    assert row["penalty_cny"].value == 50 and row["penalty_cny"].number_format == "0.00"
    assert row["stale"].value is True
    assert isinstance(row["arrived_at"].value, datetime)
    assert row["arrived_at"].value == datetime(2026, 12, 1, 8, 30)  # Beijing time; Excel has no zones
    assert row["arrived_at"].is_date and row["day"].is_date
    assert row["day"].value == datetime(2026, 12, 1)  # Excel stores a day as its midnight
    assert row["waybills"].value == "W1|W2"
    assert row["value"].value == pytest.approx(0.6) and row["value"].data_type == "n"


def test_xlsx_never_stores_a_formula() -> None:
    ws = _sheet(TABLE)
    second = {c.key: cell for c, cell in zip(COLUMNS, ws[3], strict=True)}
    for key in ("station", "waybills", "value"):
        assert second[key].data_type == "s", key
        assert not str(second[key].value).startswith(("=", "+", "-", "@")), key
    assert second["station"].value == "'=HYPERLINK(\"http://evil\")"
    assert second["count"].value == -1  # a negative number is a number, not a formula
    assert second["arrived_at"].value is None


def test_xlsx_header_is_frozen_and_columns_fit() -> None:
    ws = _sheet(TABLE)
    assert ws.freeze_panes == "A2"
    assert ws.title == "report-2026-12"
    # "上海浦东" is 4 CJK characters (8 columns) — wider than its 7-letter header
    assert ws.column_dimensions["A"].width >= 8
    assert ws.column_dimensions["A"].width <= 60


def test_xlsx_drops_control_characters_openpyxl_cannot_store() -> None:
    ws = _sheet(Table("t", columns("note"), [{"note": "bad\x00\x07text"}]))
    assert ws["A2"].value == "badtext"


def test_an_empty_report_is_a_header_row() -> None:
    ws = _sheet(Table("empty", COLUMNS, []))
    assert ws.max_row == 1 and ws.freeze_panes == "A2"
    assert csv_text(Table("empty", COLUMNS, [])).splitlines() == [",".join(c.key for c in COLUMNS)]


def test_a_column_title_is_the_header_when_given() -> None:
    table = Table("t", (Column("pieces", "int", "件数"),), [{"pieces": 2}])
    assert csv_text(table).splitlines() == ["件数", "2"]
    assert _sheet(table)["A1"].value == "件数"


# --- report periods: days or instants ----------------------------------------------------------

PERIOD = TypeAdapter(DayOrInstant)


def test_a_day_is_a_business_day_and_to_includes_it() -> None:
    start = period_start(PERIOD.validate_python("2026-12-01"))
    end = period_end(PERIOD.validate_python("2026-12-07"))
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 00:00 in Beijing
    assert end == datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # the end of the 7th, Beijing time
    assert end - start == timedelta(days=7)


def test_an_instant_is_taken_as_it_is() -> None:
    at = PERIOD.validate_python("2026-12-01T00:00:00+08:00")
    assert period_start(at) == period_end(at) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["2026-12-01T00:00:00", "yesterday", "2026-13-01", "1969-12-31", "3000-01-01",
                                 "2026-12-01T00:00:00+08:00x", "２０２６-１２-０１", "0001-01-01T00:00:00+14:00"])
def test_a_bad_period_end_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        PERIOD.validate_python(bad)
