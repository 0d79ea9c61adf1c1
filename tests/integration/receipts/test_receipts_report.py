"""The month-end report on a generated month, against figures the test works out by itself."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.integration.receipts.conftest import Api, Flow, Tracking, station, waybill

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTH = "2026-09"
DAYS = {0: 10, 1: 15, 2: 20, 3: 20}  # the handbook's deadlines by number of transfers


@dataclass
class Case:
    kind: str
    region: str
    transfers: int
    due: datetime  # local midnight after the last allowed day
    returned_at: datetime | None = None


def due_for(arrived: datetime, transfers: int) -> datetime:
    # Independent of the service: the arrival's local date is day 0; due at the start of day N+1.
    day = arrived.astimezone(SHANGHAI).date() + timedelta(days=DAYS[transfers] + 1)
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


async def make(flow: Flow, api: Api, tracking: Tracking, case_kind: str, region: str, rnd: random.Random,
               due_day: int, month: int = 9) -> Case:
    transfers = rnd.choice([0, 1, 2, 3])
    due_local = datetime(2026, month, due_day, tzinfo=SHANGHAI)
    arrival = due_local - timedelta(days=DAYS[transfers] + 1) + timedelta(hours=rnd.choice([0, 9, 17, 23]),
                                                                          minutes=rnd.choice([0, 30, 59]))
    assert due_for(arrival, transfers) == due_local
    origin, dest = f"O{region[-6:]}", f"D{region[-6:]}"
    no = waybill()
    payment = "cod" if case_kind == "cancelled" else "monthly"
    await tracking.send(Tracking.registered(no, origin=origin, destination=dest, payment=payment, region=region,
                                            via=[station() for _ in range(transfers)],
                                            at=arrival - timedelta(days=2)))
    await tracking.send(Tracking.arrived(no, station=dest, at=arrival))
    await tracking.send(Tracking.delivered(no, station=dest, at=arrival + timedelta(hours=3)))
    # Events are consumed concurrently: the delivery may be applied before the arrival, and the
    # clock then runs from the delivery until the arrival fixes it. Wait for the final state.
    rec = await api.wait(no, lambda r: r["status"] == "signed" and r["arrived_at"] is not None)
    assert datetime.fromisoformat(rec["due_at"]) == due_local

    async def act(action: str, body: dict) -> None:
        r = await api.act(no, action, body)
        assert r.status_code == 200, (case_kind, action, r.text)

    async def inspect(result: str, at: datetime) -> None:
        await act("inspection", {"result": result, "by": "质检", "at": at.isoformat(),
                                 "anomalies": ["signature_missing"] if result == "abnormal" else []})

    async def mail_and_receive(received_at: datetime, *, present: bool = True) -> None:
        if present:
            returned.append(received_at)
        env = await flow.mail([no], dest, origin, sent_at=received_at - timedelta(days=1))
        r = await api.post(f"/v1/envelopes/{env['id']}/arrival",
                           {"received_at": received_at.isoformat(), "waybills_present": [no] if present else []})
        assert r.status_code == 200, r.text

    checked = arrival + timedelta(days=1)
    returned: list[datetime] = []
    if case_kind == "on_time":
        await inspect("qualified", checked)
        await mail_and_receive(due_local - timedelta(hours=1))
        if rnd.random() < 0.5:
            await act("handover", {"to": "customer", "recipient": "客户", "at": due_local.isoformat()})
    elif case_kind == "late":
        await inspect("qualified", checked)
        await mail_and_receive(due_local + timedelta(days=1))
    elif case_kind == "late_at_the_instant":  # returned exactly at due_at: late
        await inspect("qualified", checked)
        await mail_and_receive(due_local)
    elif case_kind == "outstanding":
        pass
    elif case_kind == "returned_next_month":  # back in October: still outstanding at September's end
        await inspect("qualified", checked)
        await mail_and_receive(datetime(2026, 10, 3, 10, tzinfo=SHANGHAI))
    elif case_kind == "lost":
        await inspect("qualified", checked)
        await mail_and_receive(due_local - timedelta(hours=2), present=False)
    elif case_kind == "abnormal_on_time":
        await inspect("abnormal", checked)
        await act("re-sign", {"at": (checked + timedelta(hours=5)).isoformat(), "by": "收货人"})
        await inspect("qualified", checked + timedelta(hours=6))
        await mail_and_receive(due_local - timedelta(hours=3))
    elif case_kind == "abnormal_caught_late":
        await inspect("abnormal", due_local + timedelta(hours=1))
        await act("re-sign", {"at": (due_local + timedelta(days=1)).isoformat(), "by": "收货人"})
        await inspect("qualified", due_local + timedelta(days=1, hours=1))
        await mail_and_receive(due_local + timedelta(days=3))
    elif case_kind == "cancelled":
        await act("cancel", {"at": checked.isoformat(), "reason": "现付"})
    else:
        raise AssertionError(case_kind)
    return Case(case_kind, region, transfers, due_local, returned[0] if returned else None)


KINDS = ["on_time", "late", "late_at_the_instant", "outstanding", "returned_next_month", "lost",
         "abnormal_on_time", "abnormal_caught_late", "cancelled"]


def expected_rows(cases: list[Case]) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    start, end = datetime(2026, 9, 1, tzinfo=SHANGHAI), datetime(2026, 10, 1, tzinfo=SHANGHAI)
    for c in cases:
        if c.kind == "cancelled" or not start <= c.due < end:
            continue
        row = rows.setdefault(c.region, {"region": c.region, "required": 0, "returned_on_time": 0,
                                         "returned_late": 0, "outstanding": 0, "abnormal": 0,
                                         "abnormal_caught_late": 0, "lost": 0, "late": 0})
        row["required"] += 1
        if c.kind in ("on_time", "abnormal_on_time"):
            row["returned_on_time"] += 1
        elif c.kind in ("late", "late_at_the_instant", "abnormal_caught_late") and c.returned_at is not None \
                and c.returned_at <= end:
            row["returned_late"] += 1
            row["late"] += 1
        elif c.kind in ("outstanding", "returned_next_month", "late", "late_at_the_instant", "abnormal_caught_late"):
            # not back by the snapshot (the month's end), and past due by then: chasing failed
            row["outstanding"] += 1
            row["late"] += 1
        elif c.kind == "lost":
            row["lost"] += 1
        if c.kind.startswith("abnormal"):
            row["abnormal"] += 1
        if c.kind == "abnormal_caught_late":
            row["abnormal_caught_late"] += 1
    for row in rows.values():
        late = row.pop("late")
        row["late_penalty_cny"] = Decimal(50 * late)
        row["abnormal_penalty_cny"] = Decimal(100 * row["abnormal_caught_late"])
        row["lost_penalty_cny"] = Decimal(0)  # no declared value travels with the waybill
        row["penalty_cny"] = row["late_penalty_cny"] + row["abnormal_penalty_cny"]
    return rows


async def test_month_end_report_per_region_json_and_csv(flow: Flow, api: Api, tracking: Tracking) -> None:
    rnd = random.Random(20260930)
    suffix = station()[-6:]
    regions = [f"East{suffix}", f"West{suffix}"]
    cases: list[Case] = []
    for region in regions:
        kinds = [*KINDS, *rnd.choices(KINDS, k=4)]
        for kind in kinds:
            cases.append(await make(flow, api, tracking, kind, region, rnd, due_day=rnd.randint(2, 30)))
        # due on the month's boundaries: 1 September counts, 1 October does not; neither does August
        cases.append(await make(flow, api, tracking, "outstanding", region, rnd, due_day=1))
        cases.append(await make(flow, api, tracking, "late", region, rnd, due_day=1, month=10))
        cases.append(await make(flow, api, tracking, "on_time", region, rnd, due_day=31, month=8))
    expected = expected_rows(cases)

    r = await api.client.get("/v1/reports/receipts/monthly", params={"month": MONTH}, headers=api.headers())
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["month"] == MONTH and report["currency"] == "CNY"
    assert datetime.fromisoformat(report["as_of"]) == datetime(2026, 10, 1, tzinfo=SHANGHAI)
    got = {row["region"]: row for row in report["regions"] if row["region"] in regions}
    assert set(got) == set(regions)
    for region in regions:
        row = {k: (Decimal(v) if k.endswith("_cny") else v) for k, v in got[region].items()}
        assert row == expected[region], region
        assert row["required"] == row["returned_on_time"] + row["returned_late"] + row["outstanding"] + row["lost"]

    r = await api.client.get("/v1/reports/receipts/monthly", params={"month": MONTH},
                             headers={**api.headers("supervisor"), "Accept": "text/csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_region = {row["region"]: row for row in rows if row["region"] in regions}
    for region in regions:
        assert int(by_region[region]["required"]) == expected[region]["required"]
        assert int(by_region[region]["returned_late"]) == expected[region]["returned_late"]
        assert Decimal(by_region[region]["penalty_cny"]) == expected[region]["penalty_cny"]
        assert by_region[region]["penalty_cny"].endswith(".00")


async def test_report_month_is_validated(api: Api) -> None:
    for month in ("2026-13", "2026-1", "26-11", "２０２６-11", "2026-11-01"):
        r = await api.client.get("/v1/reports/receipts/monthly", params={"month": month}, headers=api.headers())
        assert r.status_code == 422, month
        assert r.json()["error"]["code"] in ("invalid_month", "validation_error")
