"""The HTTP actions: the whole lifecycle, and every transition the state machine refuses (409)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from services.receipts.domain.lifecycle import TRANSITIONS, ReceiptAction, ReceiptStatus
from tests.integration.receipts.conftest import NOW, Api, Flow, outbox_events, waybill

STATES = [s.value for s in ReceiptStatus]

# The HTTP actions a caller can attempt on one receipt (deliver, receive-from-envelope and
# flag_lost come from events and envelope arrivals, tested elsewhere).
HTTP_ACTIONS = ["inspect_qualified", "inspect_abnormal", "re_sign", "hand_over", "write_off", "cancel", "mail",
                "receive"]


def allowed_over_http(state: str, action: str) -> bool:
    if action == "receive":  # a mailed receipt is received through its envelope, not this route
        return state == "lost"
    return (ReceiptStatus(state), ReceiptAction(action)) in TRANSITIONS


async def attempt(api: Api, rec: dict, action: str):
    no = rec["waybill_no"]
    at = NOW.isoformat()
    if action == "inspect_qualified":
        return await api.act(no, "inspection", {"result": "qualified", "anomalies": [], "by": "质检员"})
    if action == "inspect_abnormal":
        return await api.act(no, "inspection", {"result": "abnormal", "anomalies": ["copies_short"], "by": "质检员"})
    if action == "re_sign":
        return await api.act(no, "re-sign", {"at": at, "by": "杨民敬"})
    if action == "hand_over":
        return await api.act(no, "handover", {"to": "customer", "recipient": "张三", "at": at})
    if action == "write_off":
        return await api.act(no, "write-off", {"at": at, "collector": "张三"})
    if action == "cancel":
        return await api.act(no, "cancel", {})
    if action == "receive":
        return await api.act(no, "receive", {"at": at})
    if action == "mail":
        return await api.post("/v1/envelopes", {"from_station": rec["destination"], "to_station": rec["origin"],
                                                "waybills": [no], "sent_at": at, "courier_no": "SF-REFUSED"})
    raise AssertionError(action)


@pytest.mark.parametrize("state", STATES)
async def test_every_refused_transition_is_409_naming_the_current_state(flow: Flow, api: Api, state: str) -> None:
    no, rec = await flow.to(state, payment="cod")  # COD: cancel is decided by the state alone
    assert rec["status"] == state
    refused = [a for a in HTTP_ACTIONS if not allowed_over_http(state, a)]
    assert refused, state
    for action in refused:
        before = (await api.get(no)).json()
        r = await attempt(api, before, action)
        assert r.status_code == 409, (state, action, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_transition", (state, action)
        assert error["details"]["current"] == state
        assert state in error["message"]
        after = (await api.get(no)).json()
        assert after["status"] == state and after["custody"] == before["custody"], (state, action)


async def test_cancel_is_for_cash_on_delivery_only(flow: Flow, api: Api) -> None:
    no, _ = await flow.signed(payment="prepaid")
    r = await api.act(no, "cancel", {})
    assert r.status_code == 409 and r.json()["error"]["code"] == "cancel_requires_cod"
    no, _ = await flow.signed(payment="cod")
    r = await api.act(no, "cancel", {"reason": "现付，已告知客户"})
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["status"] == "cancelled" and rec["overdue"] is False
    assert rec["custody"][-1]["action"] == "cancel" and "现付" in rec["custody"][-1]["note"]


async def test_the_lifecycle_with_a_re_signing_round_and_the_custody_chain(
        flow: Flow, api: Api, db: asyncpg.Connection) -> None:
    no, rec = await flow.signed()
    origin, dest = rec["origin"], rec["destination"]
    at_dest = {"role": "branch", "branch": dest}

    r = await api.act(no, "inspection", {"result": "abnormal", "anomalies": ["stamp_missing", "copies_short",
                                                                             "stamp_missing"], "by": "王质检"},
                      **at_dest)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "abnormal"
    assert r.json()["anomalies"] == ["stamp_missing", "copies_short"]
    [event] = await outbox_events(db, "receipts.receipt.abnormal.v1", no)
    assert event["data"]["anomalies"] == ["stamp_missing", "copies_short"]
    assert event["data"]["station_contact"]["phone"] == "13700000000"
    assert event["source"] == "/lcs/receipts"

    r = await api.act(no, "re-sign", {"at": NOW.isoformat(), "by": "杨民敬"}, **at_dest)
    assert r.json()["status"] == "signed", r.text
    r = await api.act(no, "inspection", {"result": "qualified", "by": "王质检"}, **at_dest)
    assert r.json()["status"] == "qualified" and r.json()["anomalies"] == []

    env = await flow.mail([no], dest, origin)
    assert env["status"] == "in_transit" and env["count"] == 1
    r = await api.post(f"/v1/envelopes/{env['id']}/arrival", {"received_at": NOW.isoformat(),
                                                               "waybills_present": [no]}, role="branch",
                       branch=origin)
    assert r.status_code == 200, r.text
    r = await api.act(no, "handover", {"to": "sales", "recipient": "李销售", "at": NOW.isoformat()},
                      role="branch", branch=origin)
    assert r.status_code == 200, r.text
    rec = r.json()
    assert rec["status"] == "handed_over" and rec["overdue"] is False
    assert rec["returned_at"] is not None and rec["abnormal_at"] is not None
    chain = [(c["action"], c["actor"], c["from_party"], c["to_party"]) for c in rec["custody"]]
    courier = f"courier:{env['courier_no']}"
    assert chain == [
        ("deliver", "system:tracking", f"station:{dest}", f"station:{dest}"),
        ("inspect_abnormal", "branch:test-branch", f"station:{dest}", f"station:{dest}"),
        ("re_sign", "branch:test-branch", f"station:{dest}", f"station:{dest}"),
        ("inspect_qualified", "branch:test-branch", f"station:{dest}", f"station:{dest}"),
        ("mail", "staff:test-staff", f"station:{dest}", courier),
        ("receive", "branch:test-branch", courier, f"station:{origin}"),
        ("hand_over", "branch:test-branch", f"station:{origin}", "sales:李销售"),
    ]
    assert rec["allowed_actions"] == []


async def test_write_off_after_return(flow: Flow, api: Api) -> None:
    no, rec = await flow.to("received")
    r = await api.act(no, "write-off", {"at": NOW.isoformat(), "collector": "王先生"},
                      role="branch", branch=rec["origin"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "written_off"
    assert r.json()["custody"][-1]["to_party"] == "customer:王先生"


@pytest.mark.parametrize(("body", "code"), [
    ({"result": "abnormal", "anomalies": [], "by": "x"}, "inspection_inconsistent"),
    ({"result": "qualified", "anomalies": ["stamp_missing"], "by": "x"}, "inspection_inconsistent"),
    ({"result": "abnormal", "anomalies": ["coffee_stain"], "by": "x"}, "validation_error"),
    ({"result": "maybe", "anomalies": [], "by": "x"}, "validation_error"),
    ({"result": "qualified", "anomalies": [], "by": ""}, "validation_error"),
    ({"result": "qualified", "anomalies": [], "by": "x" * 101}, "validation_error"),
    ({"result": "qualified", "anomalies": [], "by": "x", "at": "2026-11-28T10:00:00"}, "validation_error"),
    ({"result": "qualified", "anomalies": [], "by": "x", "at": (NOW + timedelta(days=2)).isoformat()},
     "time_in_future"),
    ({"result": "qualified", "anomalies": [], "by": "x", "extra": 1}, "validation_error"),
])
async def test_bad_input_is_422_and_nothing_is_stored(flow: Flow, api: Api, body: dict, code: str) -> None:
    no, before = await flow.signed()
    r = await api.act(no, "inspection", body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    after = (await api.get(no)).json()
    assert after["status"] == "signed" and after["custody"] == before["custody"]


async def test_naive_times_are_refused_everywhere(flow: Flow, api: Api) -> None:
    no, _ = await flow.to("abnormal")
    r = await api.act(no, "re-sign", {"at": "2026-11-28 10:00", "by": "杨民敬"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await api.client.get(f"/v1/receipts/{no}", params={"as_of": "2026-11-28T10:00:00"}, headers=api.headers())
    assert r.status_code == 422


async def test_unknown_receipt_is_404_in_the_error_shape(api: Api) -> None:
    r = await api.get(waybill())
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = await api.act(waybill(), "re-sign", {"at": NOW.isoformat(), "by": "x"})
    assert r.status_code == 404
    r = await api.get("bad waybill!")
    assert r.status_code == 422
