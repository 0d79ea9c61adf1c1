"""The bench report's CPU table: its arithmetic, from a made-up run (no stack, no timing)."""

from __future__ import annotations

from bench.main import CONFIGS, TARGETS, Results
from bench.report import _cpu_section


def _row(lines: list[str], figure: str) -> list[str]:
    row = next(line for line in lines if line.startswith(f"| {figure} "))
    return [cell.strip() for cell in row.strip("|").split("|")]


def _results() -> Results:
    r = Results(scale="tiny", runs=1, cfg=CONFIGS["tiny"], machine={"Cores": "2"})
    r.add("c2", 10_000.0)
    # 2,000 requests in 1 s of wall clock: tracking 0.3 s, postgres 0.2 s, the load generator 0.1 s
    r.cpu["2 /osmand, per request"] = {"units": 2_000.0, "tracking": 0.3, "postgres": 0.2, "load generator": 0.1,
                                       "wall": 1.0}
    # a row without a ceiling of its own in this run (C1 not measured) nor a wall clock
    r.cpu["1 batch ingest, per position"] = {"units": 1_000.0, "tracking": 0.004}
    # /track: web costs the most per look-up (400 µs against tracking's 100)
    r.cpu["T public tracking page, per request"] = {"units": 1_000.0, "web": 0.4, "tracking": 0.1, "wall": 1.0}
    return r


def test_the_busiest_service_is_the_one_a_unit_costs_most_per_process_at_the_target() -> None:
    r = _results()
    r.add("c1", 100_000.0)
    # two tracking replicas share 10 µs a position: 0.6 × C1 = 60,000/s is 60% of a core, 30% each
    r.cpu["1r batch ingest, two tracking replicas, per position"] = {"units": 1_000.0, "tracking": 0.01,
                                                                     "postgres": 0.02}
    lines = _cpu_section(r, TARGETS)
    assert _row(lines, "1r")[15] == "tracking 30%"
    # 150 µs of tracking a request at 0.8 × C2 = 8,000/s: more than one core
    assert _row(lines, "2")[15] == "tracking 120%"
    # 400 µs of web a look-up at 0.3 × C2 = 3,000/s
    assert _row(lines, "T")[15] == "web 120%"
    # 4 µs of tracking a position at 0.6 × C1 = 60,000/s, one process
    assert _row(lines, "1")[15] == "tracking 24%"


def test_a_row_with_two_processes_of_a_service_shares_that_services_cpu_between_them() -> None:
    r = _results()
    # /track with two web processes, 400 µs of web a look-up at 0.3 × C2 = 3,000/s: 60% each
    r.cpu["9r public tracking page, two web replicas, per request"] = {"units": 1_000.0, "web": 0.4,
                                                                        "tracking": 0.1, "wall": 1.0}
    # /osmand with two tracking processes: 150 µs a request at 0.8 × C2 = 8,000/s, 60% each
    r.cpu["2r /osmand, two tracking replicas, per request"] = {"units": 2_000.0, "tracking": 0.3, "wall": 1.0}
    # with one process each, the same costs need more than a core
    lines = _cpu_section(r, TARGETS)
    assert _row(lines, "9r")[15] == "web 60%" and _row(lines, "T")[15] == "web 120%"
    assert _row(lines, "2r")[15] == "tracking 60%" and _row(lines, "2")[15] == "tracking 120%"


def test_each_row_says_the_most_a_unit_may_cost_at_the_target_and_how_busy_the_cores_were() -> None:
    lines = _cpu_section(_results(), TARGETS)
    header = next(line for line in lines if line.startswith("| figure |"))
    assert header.rstrip().endswith("| total at the target | cores busy | busiest service at the target |")
    cells = _row(lines, "2")
    assert cells[10] == "300 µs"  # total: (0.3 + 0.2 + 0.1) s / 2,000
    assert cells[11] == "6,667/s"  # 2 cores / 300 µs
    assert cells[12] == "0.67×C2"
    # the target's rate, 0.8 × C2 = 8,000/s, fits 2 cores only at 250 µs a request or less
    assert TARGETS["osmand"] == 0.8
    assert cells[13] == "250 µs"
    assert cells[14] == "30%"  # 0.6 CPU s over 1 s of wall clock on 2 cores


def test_a_row_without_its_ceiling_or_wall_clock_leaves_those_cells_empty() -> None:
    cells = _row(_cpu_section(_results(), TARGETS), "1")
    assert cells[10] == "4 µs"
    assert cells[12:] == ["—", "—", "—", "—"]


def test_the_ceilings_row_comes_first_with_its_own_cost_and_no_target() -> None:
    r = _results()
    r.add("c1", 100_000.0)
    # the raw COPY: 8 µs of PostgreSQL and 2 of the bench's own client a row
    r.cpu["C1 raw COPY, per row"] = {"units": 1_000.0, "postgres": 0.008, "load generator": 0.002, "wall": 0.01}
    lines = _cpu_section(r, TARGETS)
    rows = [line for line in lines if line.startswith("| ") and not line.startswith(("| figure", "| ---"))]
    assert rows[0].startswith("| C1 raw COPY, per row ")
    cells = _row(lines, "C1")
    assert (cells[7], cells[9], cells[10]) == ("8 µs", "2 µs", "10 µs")  # postgres, load generator, total
    assert cells[12:14] == ["—", "—"] and cells[15] == "—"  # no ratio, no target of its own
    assert cells[14] == "50%"  # 0.01 CPU s over 0.01 s of wall clock on 2 cores
