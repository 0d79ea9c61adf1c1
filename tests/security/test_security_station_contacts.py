"""A station's contact phone and e-mail are whole for the desk and the station's own branch only
(issue 22, point 8): carriers, other branches and customers see them masked."""

from __future__ import annotations

import httpx

from shared.devtools.stack import Stack
from tests.conftest import Infra, unique

PHONE, EMAIL = "02155501234", "duty.desk@station.example.com"


def test_station_contacts_are_whole_for_the_desk_and_its_branch_only(stack: Stack, infra: Infra) -> None:
    code = unique("ST")[:12]
    with httpx.Client(base_url=stack.url("tracking"), timeout=10) as c:
        r = c.put(f"/v1/stations/{code}", headers=infra.headers("admin"), json={
            "name": "测试站", "city": "上海", "region": "华东", "lat": 31.2, "lon": 121.4,
            "contact_phone": PHONE, "contact_email": EMAIL})
        assert r.status_code == 201, r.text
        whole = [infra.headers("staff"), infra.headers("admin"), infra.headers("branch", branch=code)]
        masked = [infra.headers("branch", branch="ZZ99"), infra.headers("carrier", carrier="CARR1")]
        for headers in whole:
            station = c.get(f"/v1/stations/{code}", headers=headers).json()
            assert (station["contact_phone"], station["contact_email"]) == (PHONE, EMAIL)
        for headers in masked:
            station = c.get(f"/v1/stations/{code}", headers=headers).json()
            assert station["contact_phone"] != PHONE and PHONE[-4:] in station["contact_phone"]
            assert station["contact_email"] != EMAIL and "@" in station["contact_email"]
            listed = c.get("/v1/stations", headers=headers, params={"limit": 500}).json()["items"]
            assert all(s["contact_phone"] != PHONE and s["contact_email"] != EMAIL for s in listed)
