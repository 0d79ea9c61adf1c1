"""The monthly complaints report, checked against figures the test works out itself
from the stored tickets."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from tests.conftest import Infra, unique
from tests.integration.complaints.support import CST, Api, now

CATEGORIES = ("delay", "damage", "loss", "attitude", "billing", "quote", "other")
CHANNELS = ("phone", "web", "partner", "chat")


def month_bounds(month: str) -> tuple[datetime, datetime]:
    start = datetime.fromisoformat(f"{month}-01T00:00:00+08:00")
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def outcome(done: datetime | None, due: datetime | None, flagged: bool, as_of: datetime) -> bool | None:
    if flagged:
        return False
    if done is not None:
        return due is None or done <= due
    if due is not None and as_of > due:
        return False
    return None


def expected(rows: list[asyncpg.Record], as_of: datetime) -> dict[str, Any]:
    fr = [outcome(r["first_responded_at"], r["first_response_due"], r["first_response_breached"], as_of)
          for r in rows]
    res = [outcome(r["resolved_at"], r["resolution_due"], r["resolution_breached"], as_of) for r in rows]
    first = [(r["first_responded_at"] - r["opened_at"]).total_seconds() / 60 for r in rows
             if r["first_responded_at"]]
    resolved = [(r["resolved_at"] - r["opened_at"]).total_seconds() / 60 for r in rows if r["resolved_at"]]
    scores = [r["csat_score"] for r in rows if r["csat_score"] is not None]

    def share(values: list[bool | None]) -> float | None:
        decided = [v for v in values if v is not None]
        return sum(decided) / len(decided) if decided else None

    return {
        "total": len(rows),
        "by_category": {c: sum(r["category"] == c for r in rows) for c in CATEGORIES},
        "by_channel": {c: sum(r["channel"] == c for r in rows) for c in CHANNELS},
        "first_response": {"met": fr.count(True), "breached": fr.count(False), "met_share": share(fr)},
        "resolution": {"met": res.count(True), "breached": res.count(False), "met_share": share(res)},
        "median_first_response_minutes": statistics.median(first) if first else None,
        "median_resolution_minutes": statistics.median(resolved) if resolved else None,
        "csat_average": sum(scores) / len(scores) if scores else None,
        "csat_count": len(scores),
        "csat_distribution": {str(s): scores.count(s) for s in range(1, 6)},
    }


def close_enough(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, float):
        return isinstance(actual, float | int) and abs(actual - wanted) < 1e-6
    if isinstance(wanted, dict):
        return actual.keys() == wanted.keys() and all(close_enough(actual[k], wanted[k]) for k in wanted)
    return bool(actual == wanted)


async def test_monthly_report_matches_figures_worked_out_independently(api: Api, infra: Infra) -> None:
    customer = "R" + unique()
    plan = [("delay", "phone", 5), ("delay", "web", 3), ("damage", "chat", 5), ("quote", "phone", None),
            ("billing", "partner", None)]
    opened: list[tuple[str, int | None]] = []  # each ticket's month (Beijing), as the service stamped it
    for i, (category, channel, score) in enumerate(plan):
        t = await api.open(customer_id=customer, category=category, channel=channel)
        opened.append((datetime.fromisoformat(t["opened_at"]).astimezone(CST).strftime("%Y-%m"), score))
        if i % 2 == 0:
            await api.post(f"/v1/complaints/{t['id']}/responses",
                           {"by": "小李", "channel": "phone", "message": "您好，我们正在处理。"})
        if score is not None:
            await api.post(f"/v1/complaints/{t['id']}/resolve", {"resolution": "已处理"})
            r = await api.post(f"/v1/complaints/{t['id']}/survey", {"score": score})
            assert r.status_code == 200, r.text

    # The month(s) the tickets were opened in, not the month it is now: on a month's last evening
    # (Beijing) a month computed after opening them may already be the next one.
    for month in sorted({m for m, _ in opened}):
        await _check_month(api, infra, month, [score for m, score in opened if m == month])


async def _check_month(api: Api, infra: Infra, month: str, ours: list[int | None]) -> None:
    """`month`'s report against the stored tickets; `ours`: the scores of this test's tickets in it."""
    as_of = now()
    r = await api.get("/v1/reports/complaints", params={"month": month, "as_of": as_of.isoformat()})
    assert r.status_code == 200, r.text
    report = r.json()

    start, end = month_bounds(month)
    conn = await asyncpg.connect(infra.database_url)
    try:
        rows = await conn.fetch("SELECT * FROM complaints.complaints WHERE opened_at >= $1 AND opened_at < $2",
                                start, end)
    finally:
        await conn.close()
    want = expected(rows, as_of)
    assert report["month"] == month
    for key, value in want.items():
        assert close_enough(report[key], value), (key, report[key], value)
    assert report["total"] >= len(ours) and report["csat_distribution"]["5"] >= ours.count(5)

    # The same figures as CSV for the desk's spreadsheet.
    r = await api.get("/v1/reports/complaints", params={"month": month, "as_of": as_of.isoformat()},
                      headers={"Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert table[0] == ["metric", "key", "value"]
    cells = {(m, k): v for m, k, v in table[1:]}
    assert cells[("total", "")] == str(want["total"])
    assert cells[("by_category", "delay")] == str(want["by_category"]["delay"])
    average = want["csat_average"]  # none in a month with no survey: an empty cell
    assert cells[("csat_average", "")] == ("" if average is None else f"{average:.2f}")
    assert cells[("csat_distribution", "5")] == str(want["csat_distribution"]["5"])


async def test_report_of_an_empty_month_and_bad_months(api: Api) -> None:
    r = await api.get("/v1/reports/complaints", params={"month": "2019-02"})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 0 and body["csat_average"] is None and body["first_response"]["met_share"] is None
    for bad in ("2019-2", "2019-00", "february", "2019-02-01"):
        r = await api.get("/v1/reports/complaints", params={"month": bad})
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] in ("invalid_month", "validation_error")
    r = await api.get("/v1/reports/complaints", params={"month": "2019-02", "as_of": "2019-02-01T00:00:00"})
    assert r.status_code == 422
    assert (await api.get("/v1/reports/complaints", params={"month": "2019-02"}, role="branch",
                          branch="SH01")).status_code == 403
