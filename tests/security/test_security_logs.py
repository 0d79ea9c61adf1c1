"""No log line of any service carries personal data (issue 7, point 2).

After a full end-to-end flow (stations, vehicles, a shipment with phones, e-mails and a
consignee, positions, an OsmAnd fix, a note, an exception, the scans, a delivery signed
with an ID number, a complaint, a notification recipient), every service's log file of
the stack is scanned for the exact values used, and for anything shaped like an
unmasked mobile number, e-mail address or 18-character ID number."""

from __future__ import annotations

import re

import httpx

from shared.devtools.stack import Stack
from shared.pii import mask_text
from tests.conftest import Infra
from tests.security.conftest import Flow
from tests.security.support import need, running
from tests.support.quiet import quiesce_sync

PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]{2,}@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
ID18 = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


def _provoke_logging(stack: Stack, infra: Infra, flow: Flow) -> None:
    """Requests that put personal data where a careless log line would pick it up."""
    admin = infra.headers("admin")
    phone, email = flow.phones[0], flow.emails[0]
    for name in running(stack):
        with httpx.Client(base_url=stack.url(name), timeout=10) as c:
            c.get(f"/v1/nothing-here/{phone}", headers=admin, params={"email": email})
            c.post("/v1/complaints", headers=admin, json={"phone": phone, "email": email, "caller_name": "x"})
            c.get("/v1/notifications", headers=admin, params={"customer_id": phone})
    if "tracking" in running(stack):
        with httpx.Client(base_url=stack.url("tracking"), timeout=10) as c:
            c.post(f"/v1/shipments/{flow.waybill}/delivery", headers=admin, json={
                "signed_at": "2026-11-28T10:00:00+08:00", "signer_name": "冒名者", "signer_id_type": "id_card",
                "signer_id_number": flow.id_numbers[0] if flow.id_numbers else "110101199003070000",
                "delegate": None, "company_stamp": False, "pieces": 1})
            c.get("/osmand", params={"id": phone, "lat": 31, "lon": 121, "timestamp": 1764300000})


def test_no_personal_data_appears_in_any_service_log(stack: Stack, infra: Infra, flow: Flow) -> None:
    need(stack, "tracking")
    assert not flow.problems(), "the end-to-end flow did not go through:\n" + "\n".join(flow.problems())
    _provoke_logging(stack, infra, flow)
    # Consumers, relays and the dispatcher log asynchronously: the marker that they are done is
    # a stack gone quiet (everything on its way handled and sent).
    quiesce_sync(infra, running(stack))
    values = [*flow.phones, *flow.emails, *flow.id_numbers]
    assert flow.phones and flow.emails, "the flow used no personal data"
    problems = []
    scanned = 0
    for name in running(stack):
        path = stack.procs[name].log_path
        text = path.read_text(encoding="utf-8", errors="replace")
        scanned += len(text.splitlines())
        for lineno, line in enumerate(text.splitlines(), start=1):
            leaked = [v for v in values if v in line]
            leaked += [m.group(0) for m in (*PHONE.finditer(line), *EMAIL.finditer(line), *ID18.finditer(line))
                       if m.group(0) not in leaked]
            if leaked:
                # the report itself must not leak: show the line masked and the values' kinds
                problems.append(f"{path.name}:{lineno}: {len(leaked)} unmasked value(s) "
                                f"[{', '.join(_kind(v) for v in leaked)}] in: {mask_text(line)[:400]}")
    assert scanned > 0, "the services wrote no log lines at all"
    assert not problems, f"{len(problems)} log lines carry personal data:\n" + "\n".join(problems[:50])


def _kind(value: str) -> str:
    if "@" in value:
        return "e-mail"
    return "ID number" if len(value) == 18 else "phone"
