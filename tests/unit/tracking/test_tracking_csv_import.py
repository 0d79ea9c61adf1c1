"""Bulk import: encodings, English and Chinese headers, per-row errors, all-or-nothing."""

from __future__ import annotations

import pytest

from services.tracking.shipments.importing import (
    CHINESE_ALIASES,
    COLUMNS,
    ImportProblem,
    canonical_column,
    decode_csv_bytes,
    parse_shipments_csv,
)

HEADER = ",".join(COLUMNS[:11]) + ",cargo_description,pieces,weight_kg,volume_m3,dangerous,fragile,keep_upright," \
    "moisture_sensitive,promised_at,payment,receipt_required,receipt_signature,receipt_stamp,receipt_id_number," \
    "receipt_copies"
ROW_1 = ("SH2026112800001,SH01,WX02,NJ01,C100,无锡精工,13800000000,ops@example.com,杨民敬,13900000000,,"
         "轴承,10,120.5,1.2,false,true,1,否,2026-11-30T18:00:00+08:00,prepaid,是,true,false,1,1")
ROW_2 = ("SH2026112800002,SH01,HZ01,NJ01|CZ01,,上海贸易,021-55550000,,陈法开,13700000000,杭州重工,"
         "钢材,3,900,,0,0,0,0,2026/12/01 09:00,月结,false,,,,")

EXPECTED_ROW_1 = {
    "waybill_no": "SH2026112800001", "origin": "SH01", "destination": "WX02", "via": ["NJ01"],
    "shipper": {"customer_id": "C100", "name": "无锡精工", "phone": "13800000000", "email": "ops@example.com"},
    "consignee": {"name": "杨民敬", "phone": "13900000000", "email": None, "company": None},
    "cargo": {"description": "轴承", "pieces": 10, "weight_kg": 120.5, "volume_m3": 1.2,
              "dangerous": False, "fragile": True, "keep_upright": True, "moisture_sensitive": False},
    "promised_at": "2026-11-30T18:00:00+08:00", "payment": "prepaid",
    "receipt": {"required": True, "signature": True, "stamp": False, "id_number": True, "copies": 1},
}


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


def test_header_fixture_is_the_contract_list() -> None:
    assert "consignee_email" not in HEADER.split(",")
    assert len(HEADER.split(",")) == 26


def test_utf8_file_gives_contract_shaped_bodies() -> None:
    result = parse_shipments_csv(csv_text(ROW_1, ROW_2).encode())
    assert result.ok, result.errors
    assert result.encoding == "utf-8"
    assert result.rows[0] == EXPECTED_ROW_1
    second = result.rows[1]
    assert second["via"] == ["NJ01", "CZ01"]
    assert second["consignee"]["company"] == "杭州重工"
    assert second["shipper"]["customer_id"] is None
    assert second["payment"] == "monthly"
    assert second["promised_at"] == "2026-12-01T09:00:00+08:00"  # naive spreadsheet time = Shanghai
    assert second["cargo"]["volume_m3"] is None
    assert second["receipt"] == {"required": False, "signature": False, "stamp": False, "id_number": False,
                                 "copies": 1}
    assert result.station_codes == {"SH01", "WX02", "NJ01", "HZ01", "CZ01"}


@pytest.mark.parametrize(
    ("encode", "charset", "encoding"),
    [
        (lambda t: t.encode("utf-8-sig"), None, "utf-8-sig"),
        (lambda t: t.encode("gb18030"), None, "gb18030"),
        (lambda t: t.encode("gbk"), "GBK", "gb18030"),
        (lambda t: t.encode("utf-8"), "utf-8", "utf-8-sig"),
    ],
    ids=["utf-8 with BOM", "gb18030 detected", "explicit gbk charset", "explicit utf-8"],
)
def test_encodings(encode: object, charset: str | None, encoding: str) -> None:
    data = encode(csv_text(ROW_1))  # type: ignore[operator]
    result = parse_shipments_csv(data, charset=charset)
    assert result.ok, result.errors
    assert result.encoding == encoding
    assert result.rows[0] == EXPECTED_ROW_1  # the BOM did not stick to "waybill_no"


def test_gb18030_bytes_are_really_not_utf8() -> None:
    data = csv_text(ROW_1).encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    text, encoding = decode_csv_bytes(data)
    assert "杨民敬" in text and encoding == "gb18030"


def test_wrong_explicit_charset_is_a_file_error() -> None:
    result = parse_shipments_csv(csv_text(ROW_1).encode("gb18030"), charset="utf-8")
    assert not result.ok and result.errors[0].row == 0 and result.rows == []
    assert parse_shipments_csv(b"a,b", charset="klingon").errors[0].problem.startswith("unknown charset")


CHINESE_HEADER = ("运单号,始发站,目的站,中转站,发货人编号,发货人,发货人电话,发货人邮箱,收货人,收货人电话,收货单位,"
                  "品名,件数,重量（kg）,体积,危险品,易碎,不能倒放,怕受潮,要求到达时间,付款方式,需要回单,回单签字,"
                  "回单盖章,回单身份证号,回单份数")


def test_chinese_headers_with_full_width_brackets_in_gb18030() -> None:
    data = csv_text(ROW_1, header=CHINESE_HEADER).encode("gb18030")
    result = parse_shipments_csv(data)
    assert result.ok, result.errors
    assert result.rows[0] == EXPECTED_ROW_1


def test_alias_table_only_points_at_contract_columns() -> None:
    assert set(CHINESE_ALIASES.values()) <= set(COLUMNS)
    assert canonical_column(" Waybill No ") == "waybill_no"
    assert canonical_column("\ufeff运单号") == "waybill_no"
    assert canonical_column("备注") is None


def _row(**changes: str) -> str:
    cells = dict(zip(HEADER.split(","), ROW_1.split(","), strict=True))
    cells.update(changes)
    return ",".join(cells.values())


@pytest.mark.parametrize(
    ("changes", "column", "fragment"),
    [
        ({"pieces": "0"}, "pieces", "at least 1"),
        ({"pieces": "ten"}, "pieces", "whole number"),
        ({"pieces": "2.5"}, "pieces", "whole number"),
        ({"weight_kg": "-3"}, "weight_kg", "greater than 0"),
        ({"weight_kg": ""}, "weight_kg", "required"),
        ({"fragile": "maybe"}, "fragile", "是/否"),
        ({"promised_at": "next Tuesday"}, "promised_at", "ISO 8601"),
        ({"payment": "bitcoin"}, "payment", "prepaid, cod or monthly"),
        ({"via": "NJ01||CZ01"}, "via", "joined by '|'"),
        ({"via": "NJ01|NJ01"}, "via", "listed twice"),
        ({"via": "WX02"}, "via", "origin or destination"),
        ({"destination": "SH01"}, "destination", "equals origin"),
        ({"consignee_phone": "call me"}, "consignee_phone", "phone number"),
        ({"shipper_email": "not-an-email"}, "shipper_email", "e-mail"),
        ({"consignee_name": " "}, "consignee_name", "required"),
        ({"waybill_no": "SH 001"}, "waybill_no", "waybill number"),
    ],
)
def test_bad_cells_are_reported_with_row_and_column(changes: dict, column: str, fragment: str) -> None:
    result = parse_shipments_csv(csv_text(ROW_1, _row(**{"waybill_no": "SH0002", **changes})).encode())
    assert not result.ok and result.rows == []  # all or none
    assert [(e.row, e.column) for e in result.errors] == [(2, column)]
    assert fragment in result.errors[0].problem


def test_every_problem_of_every_row_is_listed() -> None:
    result = parse_shipments_csv(csv_text(_row(pieces="0", payment="?"), ROW_2, _row(waybill_no="SH0003", fragile="?"))
                                 .encode())
    assert [e.to_dict() for e in result.errors] == [
        {"row": 1, "column": "pieces", "problem": "must be at least 1"},
        {"row": 1, "column": "payment", "problem": "must be prepaid, cod or monthly, got '?'"},
        {"row": 3, "column": "fragile", "problem": "must be true/false/1/0/是/否, got '?'"},
    ]


def test_duplicate_waybill_in_the_file() -> None:
    result = parse_shipments_csv(csv_text(ROW_1, ROW_2, ROW_1).encode())
    assert result.errors == [
        ImportProblem(3, "waybill_no", "duplicate waybill_no 'SH2026112800001' (first in row 1)")
    ]


def test_blank_lines_are_skipped_but_counted() -> None:
    result = parse_shipments_csv(csv_text(ROW_1, ",,,,", _row(waybill_no="SH0003", pieces="-1"), "").encode())
    assert [(e.row, e.column) for e in result.errors] == [(3, "pieces")]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (HEADER.replace("pieces,", ""), [(0, "pieces", "required column is missing")]),
        (HEADER + ",备注", [(0, "备注", "unknown column")]),
        (HEADER.replace("origin", "始发站") + ",origin",
         [(0, "origin", "duplicates column '始发站' (origin)")]),
    ],
)
def test_header_problems_are_row_zero(header: str, expected: list[tuple[int, str, str]]) -> None:
    result = parse_shipments_csv(csv_text(header=header).encode())
    assert [(e.row, e.column, e.problem) for e in result.errors] == expected


def test_optional_columns_may_be_left_out() -> None:
    header = ("waybill_no,origin,destination,shipper_name,shipper_phone,consignee_name,consignee_phone,"
              "cargo_description,pieces,weight_kg,promised_at,payment")
    row = "WB01,SH01,WX02,甲,13800000000,乙,13900000000,布,1,5,2026-11-30T18:00:00+08:00,现付"
    result = parse_shipments_csv(csv_text(row, header=header).encode())
    assert result.ok, result.errors
    body = result.rows[0]
    assert body["via"] == [] and body["payment"] == "cod"
    assert body["cargo"]["dangerous"] is False
    assert body["receipt"]["required"] is False


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "no header line"),
        (HEADER.encode(), "no data rows"),
        (b"\xff\xfe\x00\x00garbage\x81", "neither UTF-8 nor GB18030"),
    ],
)
def test_file_level_problems(data: bytes, problem: str) -> None:
    result = parse_shipments_csv(data)
    assert result.errors[0].row == 0 and problem in result.errors[0].problem


def test_too_many_cells_in_a_row() -> None:
    result = parse_shipments_csv(csv_text(ROW_1 + ",extra").encode())
    assert result.errors[0].row == 1 and "cells" in result.errors[0].problem


def test_row_limit() -> None:
    result = parse_shipments_csv(csv_text(ROW_1, ROW_2).encode(), max_rows=1)
    assert result.errors == [ImportProblem(0, None, "more than 1 rows")]


def test_quoted_cells_with_commas_and_newlines() -> None:
    row = _row(cargo_description='"轴承, 精密\n两箱"')
    result = parse_shipments_csv(csv_text(row).encode())
    assert result.ok, result.errors
    assert result.rows[0]["cargo"]["description"] == "轴承, 精密\n两箱"
