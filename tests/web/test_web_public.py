"""The public tracking page over HTTP against the real stack: /track with and without digits,
one answer for an unknown waybill and wrong digits, the limits (per address, per waybill; case,
spaces and full-width forms count as one waybill), signed links (expiry, rotation, forgery), the
audit log, and a real notice's link opening the page.

Each test looks up from a loopback address of its own (127.x.y.z), so the per-address limit of
one test does not count another's look-ups."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest

from shared.devtools.stack import Stack
from shared.links import LinkKeys, sign
from tests.conftest import Infra, run_sync, unique
from tests.web.conftest import Desk
from tests.web.world import wait_for

FULL_WIDTH = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
NEVER = ("13900001234", "13800000000", "沪A12345", "王师傅", "13700000000", "31.25", "121.4", "杨民敬",
         "320102", "data-lat", "leaflet", "<script")


@contextmanager
def visitor(desk: Desk, *, lang: str = "zh-CN") -> Iterator[httpx.Client]:
    address = f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(base_url=desk.url, timeout=15, transport=transport,
                      headers={"Accept-Language": lang, "Accept": "text/html"}) as client:
        yield client


def track(client: httpx.Client, waybill: str, digits: str = "") -> httpx.Response:
    return client.post("/track", data={"waybill": waybill, "phone4": digits})


def result(page: str) -> str:
    m = re.search(r'<section class="card track-result".*?</section>', page, re.S)
    assert m, page
    return m.group(0)


def ring(infra: Infra) -> LinkKeys:
    keys = LinkKeys.parse(infra.link_keys)
    assert keys is not None
    return keys


def assert_public(page: str) -> None:
    for secret in NEVER:
        assert secret not in page, secret


@pytest.fixture(scope="module")
def late(desk: Desk) -> str:
    """desk.late, once tracking has judged it late (the world's truck sits in Shanghai)."""
    wait_for(lambda: desk.world.get(desk.late), lambda s: s["delayed"] and s["eta"])
    return desk.late


@pytest.fixture(scope="module")
def delivered(desk: Desk) -> str:
    waybill = desk.world.shipment(40, destination="GZ", phone="13900005678", depart=True)
    desk.world.deliver(waybill)
    return waybill


def test_the_form_needs_no_script_and_carries_the_contract_hooks(desk: Desk) -> None:
    with visitor(desk) as c:
        r = c.get("/track")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'name="waybill"' in r.text and 'name="phone4"' in r.text and 'type="submit"' in r.text
    assert "<script" not in r.text and "track-result" not in r.text
    assert 'name="viewport"' in r.text and 'lang="zh-CN"' in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"


def test_a_form_it_cannot_read_gets_the_public_page(desk: Desk) -> None:
    with visitor(desk) as c:
        r = c.post("/track", data={"waybill": "X" * 200, "phone4": "1234"})
    assert r.status_code == 422 and 'data-testid="track-error" data-code="invalid"' in r.text
    assert 'name="waybill"' in r.text and "/desk/" not in r.text


def test_the_number_alone_gives_the_stage_and_city_only(desk: Desk, late: str) -> None:
    with visitor(desk) as c:
        r = track(c, late)
        by_link = c.get("/track", params={"waybill": late.lower()})
    assert r.status_code == 200
    box = result(r.text)
    assert 'data-testid="track-result"' in box and 'data-detailed="false"' in box and 'data-stage="in_transit"' in box
    assert ">运输中<" in box and "上海" in box
    for hook in ("track-eta", "track-delay", "track-timeline", "track-signer"):
        assert hook not in box
    assert_public(r.text)
    assert result(by_link.text) == box  # GET /track?waybill= (the summary SMS's page) says the same


def test_the_right_digits_give_timeline_eta_delay_reason(desk: Desk, late: str) -> None:
    with visitor(desk) as c:
        r = track(c, f" {late.lower()} ", "1234")  # the consignee's phone ends 1234
        en = c.post("/track", data={"waybill": late, "phone4": "0000"}, headers={"Accept-Language": "en"})
    assert r.status_code == 200, r.text
    box = result(r.text)
    assert 'data-detailed="true"' in box
    delay = re.search(r'data-testid="track-delay" data-reason="([a-z_]+)">\s*(.*?)</p>', box, re.S)
    assert delay and "不好意思" in delay.group(2) and delay.group(1) not in delay.group(2)  # words, not the code
    eta = re.search(r'data-testid="track-eta" data-day="([0-9-]+)" data-half="(am|pm)">.*?<strong>(.*?)</strong>',
                    box, re.S)
    assert eta and ("上午" in eta.group(3) or "下午" in eta.group(3)) and "月" in eta.group(3)
    assert 'data-testid="track-timeline"' in box and 'data-event="departed"' in box and "上海" in box
    assert "track-signer" not in box
    assert_public(r.text)
    assert en.status_code == 200 and 'lang="en"' in en.text and "We are sorry" in result(en.text)
    assert re.search(r"(morning|afternoon)</strong>", result(en.text))


def test_a_delivered_waybill_shows_the_signer_masked(desk: Desk, delivered: str) -> None:
    with visitor(desk) as c:
        r = track(c, delivered, "5678")
    box = result(r.text)
    signer = re.search(r'data-testid="track-signer">(.*?)</p>', box, re.S)
    assert signer and "<strong>杨**</strong>" in signer.group(1)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", signer.group(1))
    assert 'data-stage="delivered"' in box and "track-eta" not in box and "广州" in box
    assert_public(r.text)


def test_an_unknown_waybill_and_wrong_digits_get_the_same_page(desk: Desk, late: str) -> None:
    unknown = f"SH{unique()[:10]}".upper()
    with visitor(desk) as c:
        wrong = track(c, late, "9999")
    with visitor(desk) as c:
        missing = track(c, unknown, "9999")
    with visitor(desk) as c:
        missing_alone = track(c, unknown)
    assert wrong.status_code == missing.status_code == missing_alone.status_code == 404
    assert wrong.text.replace(late, "<N>") == missing.text.replace(unknown, "<N>")
    assert missing_alone.text.replace(unknown, "<N>") == missing.text.replace(unknown, "<N>")
    assert 'data-testid="track-error" data-code="not_found"' in wrong.text


def test_the_fast_route_and_fastapis_route_answer_alike(desk: Desk, late: str) -> None:
    """`POST /track` is answered behind the guard but in front of FastAPI (public.api.track_fast)
    unless it has a query string or is not an urlencoded form: `?via=fastapi` takes FastAPI's
    route. Both give the same page, status and headers for every outcome, and the guard counts
    both under the route."""
    unknown = f"SH{unique()[:10]}".upper()
    cases = [{"waybill": late, "phone4": "0000"}, {"waybill": late.lower(), "phone4": "０ ０ ０ ０"},
             {"waybill": late}, {"waybill": late, "phone4": "9999"}, {"waybill": unknown, "phone4": "1234"},
             {"waybill": "X" * 101, "phone4": "1234"}, {"waybill": late, "phone4": "1" * 21},
             {"waybill": "no way!"}, {"waybill": late, "phone4": "12"}, {}]
    for form in cases:
        answers = []
        for url in ("/track", "/track?via=fastapi"):
            with visitor(desk) as c:
                r = c.post(url, data=form)
            answers.append((r.status_code, r.text, {k: v for k, v in r.headers.items()
                                                    if k != "date"}))
        assert answers[0] == answers[1], (form, answers[0][:2], answers[1][:2])
    metrics = httpx.get(f"{desk.url}/metrics", timeout=10).text
    for status in ("200", "404", "422"):
        assert f'lcs_http_requests_total{{method="POST",route="/track",service="web",status="{status}"}}' \
            in metrics, status


def test_ten_look_ups_a_minute_per_address_then_429_whatever_the_spelling(desk: Desk, late: str) -> None:
    spellings = [late, late.lower(), f" {late[:3]} {late[3:]} ", late.translate(FULL_WIDTH), f"\u3000{late}"]
    statuses: list[int] = []
    with visitor(desk) as c:
        # A window is a calendar minute: the 11th look-up of a window is refused; if the minute
        # turns during the loop the count starts again, so at most 20 are needed to see it.
        for i in range(21):
            r = track(c, spellings[i % len(spellings)])
            statuses.append(r.status_code)
            if r.status_code == 429:
                break
        assert statuses[-1] == 429 and 10 <= statuses.index(429) <= 20, statuses
        assert set(statuses[:-1]) == {200}
        assert int(r.headers["retry-after"]) >= 1 and r.headers["content-type"].startswith("text/html")
        assert 'data-code="rate_limited"' in r.text and 'name="waybill"' in r.text
        assert c.get(f"/t/{sign(ring_of(desk), late, datetime.now(UTC) + timedelta(days=1))}").status_code == 429


def test_look_ups_at_the_same_moment_are_counted_one_after_another(desk: Desk, late: str) -> None:
    """15 look-ups from one address at once go to the limit in groups (`limits_and_locks`), yet
    exactly 10 of them pass, as one after another would: each is counted as itself."""
    async def burst() -> list[int]:
        address = f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
        transport = httpx.AsyncHTTPTransport(local_address=address)
        async with httpx.AsyncClient(base_url=desk.url, timeout=15, transport=transport,
                                     headers={"Accept": "text/html"}) as c:
            answers = await asyncio.gather(*(c.post("/track", data={"waybill": late, "phone4": ""})
                                             for _ in range(15)))
        return [r.status_code for r in answers]

    for attempt in range(2):  # a burst that straddles a calendar minute counts in two windows: once more
        statuses = run_sync(burst())
        assert set(statuses) <= {200, 429}, statuses
        if statuses.count(200) == 10:
            break
        assert attempt == 0 and statuses.count(200) > 10, statuses


def ring_of(desk: Desk) -> LinkKeys:
    keys = LinkKeys.parse(desk.env["LCS_PUBLIC_LINK_KEYS"])
    assert keys is not None
    return keys


@pytest.mark.parametrize("known", [True, False], ids=["known", "unknown"])
def test_five_wrong_digits_lock_the_waybill_for_digit_checks(desk: Desk, known: bool) -> None:
    """Known or not, the fifth wrong guess locks the number (so a lock says nothing of existence),
    under every spelling; the number alone and the signed link still answer."""
    waybill = desk.world.shipment(50 + secrets.randbelow(40), phone="13900002468") if known \
        else f"SH{unique()[:10]}".upper()
    spellings = [waybill.lower(), f" {waybill} ", waybill.translate(FULL_WIDTH), waybill[:4] + " " + waybill[4:],
                 waybill]
    for i, typed in enumerate(spellings):  # five wrong guesses, from five addresses
        with visitor(desk) as c:
            assert track(c, typed, str(1111 * (i + 1))).status_code == 404  # the parties' end 0000, 2468
    with visitor(desk) as c:
        locked = track(c, waybill.lower(), "2468")  # even the right digits wait now
        assert locked.status_code == 429 and 'data-code="locked"' in locked.text
        assert 25 * 60 <= int(locked.headers["retry-after"]) <= 30 * 60
        alone = track(c, waybill)
        assert alone.status_code == (200 if known else 404)
        if known:
            link = c.get(f"/t/{sign(ring_of(desk), waybill, datetime.now(UTC) + timedelta(days=1))}")
            assert link.status_code == 200 and 'data-detailed="true"' in link.text


def test_a_signed_link_opens_the_details_until_it_expires(desk: Desk, infra: Infra, late: str) -> None:
    keys = ring(infra)
    fresh = sign(keys, late, datetime.now(UTC) + timedelta(days=30))
    before_rotation = sign(LinkKeys(signing="old", keys=keys.keys), late, datetime.now(UTC) + timedelta(days=30))
    expired = sign(keys, late, datetime.now(UTC) - timedelta(seconds=1))
    forged = fresh[:-4] + ("AAAA" if not fresh.endswith("AAAA") else "BBBB")
    foreign = sign(LinkKeys.parse("new:" + "f" * 48), late, datetime.now(UTC) + timedelta(days=30))  # type: ignore[arg-type]
    other = sign(keys, late + "X", datetime.now(UTC) + timedelta(days=30))
    with visitor(desk) as c:
        for token in (fresh, before_rotation):
            r = c.get(f"/t/{token}")
            assert r.status_code == 200 and 'data-detailed="true"' in r.text and "track-eta" in r.text
            assert r.headers["referrer-policy"] == "no-referrer"
            assert_public(r.text)
        refused = [c.get(f"/t/{t}") for t in (expired, forged, foreign, other, "nonsense", "a" * 200)]
    assert {r.status_code for r in refused} == {404}
    assert len({re.sub(r"/t/[^\"&]*", "/t/<T>", r.text) for r in refused}) == 1
    assert 'data-code="not_found"' in refused[0].text


async def _lookups(infra: Infra, address_prefix: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        return await conn.fetch("SELECT * FROM web.public_lookups WHERE address LIKE $1 ORDER BY id",
                                address_prefix + "%")
    finally:
        await conn.close()


def test_every_look_up_is_logged_masked(desk: Desk, infra: Infra, late: str) -> None:
    address = f"127.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
    with httpx.Client(base_url=desk.url, timeout=15, transport=httpx.HTTPTransport(local_address=address)) as c:
        track(c, late)
        track(c, late, "1234")
        track(c, late, "9876")
        track(c, "x")
        c.get(f"/t/{sign(ring(infra), late, datetime.now(UTC) + timedelta(days=1))}")
    rows = run_sync(_lookups(infra, address))
    assert [(r["via"], r["outcome"], r["digits"]) for r in rows] == [
        ("form", "coarse", None), ("form", "detailed", "****"), ("form", "not_found", "****"),
        ("form", "invalid", None), ("link", "detailed", None)]
    assert {r["waybill_suffix"] for r in rows} == {"…" + late[-4:], None}
    assert all(r["address"] == address for r in rows)
    text = repr([dict(r) for r in rows])
    assert late not in text and "1234" not in text and "9876" not in text


def test_a_real_notice_carries_a_link_that_opens_the_page(desk: Desk, stack: Stack, late: str) -> None:
    """The delay notice the notifier sent the consignee of desk.late links to this page."""
    with httpx.Client(base_url=stack.url("sinks"), timeout=10) as sinks:
        texts = wait_for(lambda: [m["text"] for m in sinks.get("/sms").json() if m["to"] == "13900001234"],
                         lambda ts: any("/t/" in t for t in ts))
    link = re.search(r"(http://\S+/t/\S+)", next(t for t in texts if "/t/" in t))
    assert link and link.group(1).startswith(desk.url + "/t/")
    with visitor(desk) as c:
        r = c.get(link.group(1).removeprefix(desk.url))
    assert r.status_code == 200 and 'data-detailed="true"' in r.text and late in r.text


async def _sweep(infra: Infra) -> tuple[set[str], set[str]]:
    from services.web.domain.public import waybill_hash
    from services.web.public import repository
    now = datetime.now(UTC)
    old, fresh = f"old-{unique()}", f"fresh-{unique()}"
    conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": "web"})
    try:
        await repository.log_lookups(conn, [
            repository.LookupRow(at=at, address=address, via="form", waybill_suffix=None, digits=None,
                                 outcome="coarse")
            for address, at in ((old, now - timedelta(days=91)), (fresh, now - timedelta(days=89)))])
        spent, locked, counting = waybill_hash(old), waybill_hash(fresh), waybill_hash(fresh + "c")
        await conn.executemany(
            "INSERT INTO public_digit_failures (waybill_hash, failures, first_at, locked_until) "
            "VALUES ($1, $2, $3, $4)",
            [(spent, 0, now - timedelta(hours=2), now - timedelta(hours=1, minutes=30)),
             (locked, 0, now - timedelta(minutes=40), now + timedelta(minutes=5)),
             (counting, 2, now - timedelta(minutes=10), None)])
        await repository.sweep(conn, now=now, retention=timedelta(days=90), lock=timedelta(minutes=30))
        lookups = {r["address"] for r in await conn.fetch(
            "SELECT address FROM public_lookups WHERE address = ANY($1::text[])", [old, fresh])}
        hashes = {bytes(r["waybill_hash"]) for r in await conn.fetch(
            "SELECT waybill_hash FROM public_digit_failures WHERE waybill_hash = ANY($1::bytea[])",
            [spent, locked, counting])}
        names = {spent: "spent", locked: "locked", counting: "counting"}
        return lookups, {names[h] for h in hashes}
    finally:
        await conn.close()


def test_the_sweep_keeps_the_audit_90_days_and_drops_spent_digit_counts(desk: Desk, infra: Infra) -> None:
    lookups, counts = run_sync(_sweep(infra))
    assert lookups == {next(a for a in lookups if a.startswith("fresh-"))}
    assert counts == {"locked", "counting"}
