"""Bulk waybill import from CSV (pure: bytes in, row dicts or errors out).

Key accounts send their orders as spreadsheets. ``parse_shipments_csv`` turns the
file into a list of dicts shaped exactly like the ``POST /v1/shipments`` JSON body,
or into a list of problems ``{row, column, problem}`` — never a mix, because the
import registers all rows or none.

Encoding: an explicit ``charset`` wins; otherwise UTF-8 with BOM, then plain UTF-8,
then GB18030 (what Excel in China writes; a superset of GBK and GB2312).

Row numbers: 1-based, counting data records after the header line (so row 1 is the
first line under the header; with no multi-line cells, row N is spreadsheet line
N + 1). Blank records are skipped but still counted, so numbers match the
spreadsheet. Header problems are reported as row 0.

Headers: the contract's English names, matched case-insensitively (spaces and
hyphens read as underscores), or the Chinese aliases in :data:`CHINESE_ALIASES`
(matched after NFKC, so full-width brackets equal half-width ones).

Times: ``promised_at`` is ISO 8601 / RFC 3339. Spreadsheets rarely write offsets,
so a time without an offset is read as business time (Asia/Shanghai), and ``/`` is
accepted as the date separator (``2026/11/30 18:00``). The output always carries
the offset.

Cells: identifiers (waybill number, station codes), phones and e-mail addresses are checked
with the patterns every API uses (`shared.types`). A NUL character anywhere (which PostgreSQL
cannot store) refuses the file with ``invalid_characters``, naming each such cell. Station
codes are not checked against the registry here (that needs the database); the result's
``station_codes`` lists every code referenced so the caller can.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.clock import BUSINESS_TZ
from shared.types import is_email, is_phone, is_station_code, is_waybill_no

# The contract's columns, in the contract's order, plus consignee_email (an addition:
# the JSON body has the field, so the file may carry it).
COLUMNS: tuple[str, ...] = (
    "waybill_no", "origin", "destination", "via",
    "shipper_customer_id", "shipper_name", "shipper_phone", "shipper_email",
    "consignee_name", "consignee_phone", "consignee_company", "consignee_email",
    "cargo_description", "pieces", "weight_kg", "volume_m3",
    "dangerous", "fragile", "keep_upright", "moisture_sensitive",
    "promised_at", "payment",
    "receipt_required", "receipt_signature", "receipt_stamp", "receipt_id_number", "receipt_copies",
)  # fmt: skip

# A header must name these; the rest may be left out and take the defaults below.
REQUIRED_COLUMNS: frozenset[str] = frozenset({
    "waybill_no", "origin", "destination", "shipper_name", "shipper_phone",
    "consignee_name", "consignee_phone", "cargo_description", "pieces", "weight_kg",
    "promised_at", "payment",
})  # fmt: skip

# Chinese header aliases (the documented table). Keys are NFKC-normalised.
CHINESE_ALIASES: Mapping[str, str] = {
    "运单号": "waybill_no",
    "托运单号": "waybill_no",
    "运单编号": "waybill_no",
    "始发站": "origin",
    "发站": "origin",
    "目的站": "destination",
    "到站": "destination",
    "中转站": "via",
    "发货人编号": "shipper_customer_id",
    "客户编号": "shipper_customer_id",
    "发货人": "shipper_name",
    "发货单位": "shipper_name",
    "发货人电话": "shipper_phone",
    "发货人邮箱": "shipper_email",
    "收货人": "consignee_name",
    "收货人电话": "consignee_phone",
    "收货单位": "consignee_company",
    "收货人邮箱": "consignee_email",
    "品名": "cargo_description",
    "货物名称": "cargo_description",
    "件数": "pieces",
    "重量": "weight_kg",
    "重量(kg)": "weight_kg",
    "重量(公斤)": "weight_kg",
    "重量(千克)": "weight_kg",
    "体积": "volume_m3",
    "体积(m3)": "volume_m3",
    "体积(立方米)": "volume_m3",
    "危险品": "dangerous",
    "易碎": "fragile",
    "不能倒放": "keep_upright",
    "怕受潮": "moisture_sensitive",
    "要求到达时间": "promised_at",
    "承诺到达时间": "promised_at",
    "付款方式": "payment",
    "需要回单": "receipt_required",
    "回单签字": "receipt_signature",
    "回单盖章": "receipt_stamp",
    "回单身份证号": "receipt_id_number",
    "回单份数": "receipt_copies",
}

TRUE_WORDS = frozenset({"true", "1", "是"})
FALSE_WORDS = frozenset({"false", "0", "否"})

# Payment values: the contract's codes or the desk's words (现付 = cash on delivery).
PAYMENT_ALIASES: Mapping[str, str] = {
    "prepaid": "prepaid", "cod": "cod", "monthly": "monthly",
    "预付": "prepaid", "寄付": "prepaid", "现付": "cod", "到付": "cod", "月结": "monthly",
}  # fmt: skip

_COLUMN_ORDER = {name: i for i, name in enumerate(COLUMNS)}
MAX_ROWS = 10_000
_GB_FAMILY = {"gb2312", "gbk", "cp936", "gb18030", "gb-18030", "gb_2312"}


@dataclass(frozen=True, slots=True)
class ImportProblem:
    row: int  # 0 = header / file; 1.. = data records
    column: str | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "problem": self.problem}


@dataclass(frozen=True, slots=True)
class ImportResult:
    """Either ``rows`` (all valid) or ``errors`` — when there are errors, ``rows`` is empty.
    ``code`` is the refusal's: `invalid_characters` when a cell holds what cannot be stored
    (NUL), else `invalid_import`."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ImportProblem] = field(default_factory=list)
    station_codes: frozenset[str] = frozenset()
    encoding: str | None = None
    code: str = "invalid_import"
    numbers: list[int] = field(default_factory=list)  # each row's number in the file (blank lines count)

    @property
    def ok(self) -> bool:
        return not self.errors


def decode_csv_bytes(data: bytes, charset: str | None = None) -> tuple[str, str]:
    """Decode the upload; returns ``(text, encoding used)``. Raises ``ValueError`` if impossible."""
    if charset:
        name = charset.strip().strip('"').lower()
        if name in _GB_FAMILY:
            name = "gb18030"  # a superset: a file labelled GBK may still hold GB18030-only characters
        if name in ("utf-8", "utf8"):
            name = "utf-8-sig"  # a BOM is not part of the first header name
        try:
            return data.decode(name), name
        except LookupError:
            raise ValueError(f"unknown charset {charset!r}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"the file is not valid {charset}: byte {exc.start}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise ValueError(f"the file starts with a UTF-8 BOM but is not UTF-8: byte {exc.start}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise ValueError("the file is neither UTF-8 nor GB18030") from None


def canonical_column(header: str) -> str | None:
    """The contract column a header cell names (English or Chinese alias), or None."""
    text = unicodedata.normalize("NFKC", header).strip().strip("\ufeff").strip()
    english = re.sub(r"[\s-]+", "_", text.lower())
    if english in COLUMNS:
        return english
    return CHINESE_ALIASES.get(re.sub(r"\s+", "", text))


class _Row:
    """Reads typed values from one record, collecting problems instead of stopping at the first."""

    def __init__(self, number: int, cells: Mapping[str, str]) -> None:
        self.number = number
        self.cells = cells
        self.problems: list[ImportProblem] = []

    def problem(self, column: str, message: str) -> None:
        self.problems.append(ImportProblem(self.number, column, message))

    def text(self, column: str, *, required: bool = False, max_len: int = 200) -> str | None:
        value = self.cells.get(column, "").strip()
        if not value:
            if required:
                self.problem(column, "required")
            return None
        if len(value) > max_len:
            self.problem(column, f"longer than {max_len} characters")
        return value

    def matching(self, column: str, valid: Callable[[str], bool], what: str, *,
                 required: bool = False) -> str | None:
        value = self.text(column, required=required)
        if value is not None and not valid(value):
            self.problem(column, f"not a valid {what}: {value!r}")
        return value

    def boolean(self, column: str, default: bool) -> bool:
        value = self.cells.get(column, "").strip().lower()
        if not value:
            return default
        if value in TRUE_WORDS:
            return True
        if value in FALSE_WORDS:
            return False
        self.problem(column, f"must be true/false/1/0/是/否, got {value!r}")
        return default

    def integer(self, column: str, *, minimum: int, required: bool = False, default: int | None = None) -> int | None:
        value = self.text(column, required=required)
        if value is None:
            return default
        # Excel may turn 10 into "10.0"; anything with a real fraction is wrong.
        match = re.fullmatch(r"([0-9]+)(?:\.0+)?", value)
        if not match:
            self.problem(column, f"must be a whole number, got {value!r}")
            return default
        number = int(match.group(1))
        if number < minimum:
            self.problem(column, f"must be at least {minimum}")
        return number

    def decimal(self, column: str, *, positive: bool, required: bool = False) -> float | None:
        value = self.text(column, required=required)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            self.problem(column, f"must be a number, got {value!r}")
            return None
        if not math.isfinite(number) or number < 0 or (positive and number == 0):
            self.problem(column, "must be greater than 0" if positive else "must not be negative")
        return number

    def timestamp(self, column: str) -> str | None:
        value = self.text(column, required=True)
        if value is None:
            return None
        try:
            parsed = datetime.fromisoformat(value.replace("/", "-"))
        except ValueError:
            self.problem(column, f"not an ISO 8601 time, got {value!r}")
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=BUSINESS_TZ)  # spreadsheets write local (business) time
        return parsed.isoformat()


def _parse_record(row: _Row) -> dict[str, Any]:
    waybill_no = row.matching("waybill_no", is_waybill_no, "waybill number", required=True)
    origin = row.matching("origin", is_station_code, "station code", required=True)
    destination = row.matching("destination", is_station_code, "station code", required=True)
    via: list[str] = []
    via_text = row.text("via", max_len=500)
    if via_text:
        via = [code.strip() for code in via_text.split("|")]
        if not all(map(is_station_code, via)):
            row.problem("via", f"station codes joined by '|' expected, got {via_text!r}")
        elif len(set(via)) != len(via):
            row.problem("via", "a transfer station is listed twice")
        elif origin in via or destination in via:
            row.problem("via", "the origin or destination cannot also be a transfer station")
    if origin and destination and origin == destination:
        row.problem("destination", "destination equals origin")

    payment_text = row.text("payment", required=True)
    payment = None
    if payment_text is not None:
        payment = PAYMENT_ALIASES.get(payment_text.lower())
        if payment is None:
            row.problem("payment", f"must be prepaid, cod or monthly, got {payment_text!r}")

    receipt_required = row.boolean("receipt_required", False)
    return {
        "waybill_no": waybill_no,
        "origin": origin,
        "destination": destination,
        "via": via,
        "shipper": {
            "customer_id": row.text("shipper_customer_id", max_len=64),
            "name": row.text("shipper_name", required=True),
            "phone": row.matching("shipper_phone", is_phone, "phone number", required=True),
            "email": row.matching("shipper_email", is_email, "e-mail address"),
        },
        "consignee": {
            "name": row.text("consignee_name", required=True),
            "phone": row.matching("consignee_phone", is_phone, "phone number", required=True),
            "email": row.matching("consignee_email", is_email, "e-mail address"),
            "company": row.text("consignee_company"),
        },
        "cargo": {
            "description": row.text("cargo_description", required=True),
            "pieces": row.integer("pieces", minimum=1, required=True),
            "weight_kg": row.decimal("weight_kg", positive=True, required=True),
            "volume_m3": row.decimal("volume_m3", positive=False),
            "dangerous": row.boolean("dangerous", False),
            "fragile": row.boolean("fragile", False),
            "keep_upright": row.boolean("keep_upright", False),
            "moisture_sensitive": row.boolean("moisture_sensitive", False),
        },
        "promised_at": row.timestamp("promised_at"),
        "payment": payment,
        "receipt": {
            "required": receipt_required,
            # A required receipt is at least signed unless the file says otherwise.
            "signature": row.boolean("receipt_signature", receipt_required),
            "stamp": row.boolean("receipt_stamp", False),
            "id_number": row.boolean("receipt_id_number", False),
            "copies": row.integer("receipt_copies", minimum=0, default=1),
        },
    }


def _read_header(header: list[str]) -> tuple[list[str | None], list[ImportProblem]]:
    problems: list[ImportProblem] = []
    columns: list[str | None] = []
    seen: dict[str, str] = {}
    for cell in header:
        column = canonical_column(cell)
        if column is None:
            if cell.strip():
                problems.append(ImportProblem(0, cell.strip(), "unknown column"))
            columns.append(None)
            continue
        if column in seen:
            problems.append(ImportProblem(0, cell.strip(), f"duplicates column {seen[column]!r} ({column})"))
        seen[column] = cell.strip()
        columns.append(column)
    for missing in sorted(REQUIRED_COLUMNS - seen.keys()):
        problems.append(ImportProblem(0, missing, "required column is missing"))
    return columns, problems


def _nul_cells(records: list[list[str]]) -> list[ImportProblem]:
    """Every cell holding a NUL character (PostgreSQL cannot store one), by row and column: the
    column's contract name where the header names one, else the header cell as written."""
    names = [(canonical_column(cell) or cell.replace("\x00", "").strip() or None) for cell in records[0]]
    problems = []
    for number, record in enumerate(records):
        for index, cell in enumerate(record):
            if "\x00" in cell:
                column = names[index] if index < len(names) else None
                problems.append(ImportProblem(number, column, "NUL characters are not allowed"))
    return problems


def parse_shipments_csv(data: bytes, *, charset: str | None = None, max_rows: int = MAX_ROWS) -> ImportResult:
    """Parse an import file into contract-shaped shipment bodies, or every problem found."""
    try:
        text, encoding = decode_csv_bytes(data, charset)
    except ValueError as exc:
        return ImportResult(errors=[ImportProblem(0, None, str(exc))])
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        return ImportResult(errors=[ImportProblem(0, None, f"not a readable CSV file: {exc}")], encoding=encoding)

    if not records or not any(cell.strip() for cell in records[0]):
        return ImportResult(errors=[ImportProblem(0, None, "the file has no header line")], encoding=encoding)
    if "\x00" in text:
        return ImportResult(errors=_nul_cells(records), encoding=encoding, code="invalid_characters")
    columns, errors = _read_header(records[0])
    if errors:
        return ImportResult(errors=errors, encoding=encoding)

    data_records = records[1:]
    if len(data_records) > max_rows:
        return ImportResult(errors=[ImportProblem(0, None, f"more than {max_rows} rows")], encoding=encoding)

    rows: list[dict[str, Any]] = []
    numbers: list[int] = []
    first_seen: dict[str, int] = {}
    stations: set[str] = set()
    for number, record in enumerate(data_records, start=1):
        if not any(cell.strip() for cell in record):
            continue  # trailing blank lines from Excel
        if len(record) > len(columns) and any(cell.strip() for cell in record[len(columns) :]):
            errors.append(ImportProblem(number, None, f"{len(record)} cells but the header has {len(columns)}"))
            continue
        cells = {col: value for col, value in zip(columns, record, strict=False) if col is not None}
        row = _Row(number, cells)
        body = _parse_record(row)
        waybill_no = body["waybill_no"]
        if waybill_no:
            if waybill_no in first_seen:
                row.problem(
                    "waybill_no", f"duplicate waybill_no {waybill_no!r} (first in row {first_seen[waybill_no]})"
                )
            else:
                first_seen[waybill_no] = number
        # Report a row's problems left to right, as the user reads the spreadsheet.
        errors.extend(sorted(row.problems, key=lambda p: _COLUMN_ORDER.get(p.column or "", -1)))
        stations.update(code for code in (body["origin"], body["destination"], *body["via"]) if code)
        rows.append(body)
        numbers.append(number)

    if errors:
        return ImportResult(errors=errors, encoding=encoding)
    if not rows:
        return ImportResult(errors=[ImportProblem(0, None, "the file has no data rows")], encoding=encoding)
    return ImportResult(rows=rows, station_codes=frozenset(stations), encoding=encoding, numbers=numbers)


# --- a registration's refusal of a row, as a CSV column ------------------------------------

_SECTION_PREFIX = {"shipper": "shipper_", "consignee": "consignee_", "receipt": "receipt_", "cargo": ""}


def column_of(loc: Sequence[Any]) -> str | None:
    """The CSV column of a `ShipmentCreate` validation error location."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not parts:
        return None
    if len(parts) >= 2 and parts[0] in _SECTION_PREFIX:
        name = parts[1]
        if parts[0] == "cargo" and name == "description":
            return "cargo_description"
        column = _SECTION_PREFIX[parts[0]] + name
        return column if column in COLUMNS else parts[0]
    return parts[0]


def column_of_details(details: Any) -> str | None:
    """The CSV column a registration rule's refusal names in its details, if any."""
    if isinstance(details, dict):
        for key in ("field", "column"):
            value = details.get(key)
            if isinstance(value, str):
                return column_of(value.split("."))
    if isinstance(details, list) and details and isinstance(details[0], dict):
        loc = details[0].get("loc")
        if isinstance(loc, list):
            return column_of([p for p in loc if p != "body"])
    return None
