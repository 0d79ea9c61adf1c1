"""The one CSV writer (`shared.csvout`): a cell that a spreadsheet would run as a formula is
shown as text instead (OWASP's list of leading characters), everything else is written as it is."""

from __future__ import annotations

import csv
import io

import pytest

from shared.csvout import FORMULA_START, csv_cell, to_csv


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "\n"])
def test_a_cell_starting_like_a_formula_is_neutralised(start: str) -> None:
    value = f'{start}HYPERLINK("http://x")'
    assert csv_cell(value) == "'" + value


def test_the_list_is_owasps() -> None:
    assert set(FORMULA_START) == {"=", "+", "-", "@", "\t", "\r", "\n"}


@pytest.mark.parametrize("value", ["华东", "SH01", "a=b", "", " =x", 12, -5, 1.5, None, True])
def test_other_cells_are_written_as_they_are(value: object) -> None:
    assert csv_cell(value) is value


def test_to_csv_writes_the_header_then_neutralised_rows() -> None:
    text = to_csv([{"region": '=HYPERLINK("x")', "required": 1}, {"region": "华东", "required": -1}],
                  ["region", "required"])
    assert text.startswith("region,required\r\n")
    [header, first, second] = list(csv.reader(io.StringIO(text)))
    assert first == ["'=HYPERLINK(\"x\")", "1"]
    assert second == ["华东", "-1"]  # a number is data, never a formula
