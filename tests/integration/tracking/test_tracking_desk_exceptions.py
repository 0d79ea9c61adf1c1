"""Cargo exceptions: reported (event, open count, status), resolved, scoped to branches;
photos: real images only (magic bytes), size limit, stored by sha256, served back."""

from __future__ import annotations

import hashlib
import random
import struct
import zlib

import asyncpg

from services.tracking.desk.photos import CHUNK_BYTES
from services.tracking.settings import TrackingSettings
from shared.devtools.stack import Stack
from tests.conftest import Infra
from tests.integration.tracking.test_tracking_desk_support import desk, outbox


def png(width: int = 2, height: int = 2, seed: int = 0) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes((seed + x * 7 + y * 13 + c) % 256 for x in range(width) for c in range(3))
                   for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00" \
      b"\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"


def report(station: str, **kw: object) -> dict[str, object]:
    body: dict[str, object] = {"kind": "damage", "pieces": 2, "station": station,
                               "description": "外包装破损，两件轴承受潮"}
    body.update(kw)
    return body


async def test_report_and_resolve_exception(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        created = await d.ok("POST", f"/v1/shipments/{no}/exceptions", 201, json=report(dest))
        exc_id = created["id"]
        assert created["status"] == "open" and created["kind"] == "damage" and created["photos"] == 0
        assert await db.fetchval("SELECT open_exceptions FROM tracking.shipments WHERE waybill_no = $1", no) == 1
        shipment = await d.ok("GET", f"/v1/shipments/{no}")
        assert shipment["status"] == "exception"
        events = await outbox(db, "tracking.exception.reported.v1", no)
        assert len(events) == 1
        assert events[0]["exception_id"] == exc_id and events[0]["station"] == dest and events[0]["pieces"] == 2

        second = await d.ok("POST", f"/v1/shipments/{no}/exceptions", 201,
                            json=report(origin, kind="shortage", pieces=1))
        assert await db.fetchval("SELECT open_exceptions FROM tracking.shipments WHERE waybill_no = $1", no) == 2

        resolved = await d.ok("POST", f"/v1/exceptions/{exc_id}/resolve", json={"resolution": "已赔付"})
        assert resolved["status"] == "resolved" and resolved["resolution"] == "已赔付"
        r = await d.c.post(f"/v1/exceptions/{exc_id}/resolve", headers=d.admin)
        assert r.status_code == 409 and r.json()["error"]["code"] == "already_resolved"
        await d.ok("POST", f"/v1/exceptions/{second['id']}/resolve")
        assert await db.fetchval("SELECT open_exceptions FROM tracking.shipments WHERE waybill_no = $1", no) == 0
        assert (await d.ok("GET", f"/v1/shipments/{no}"))["status"] == "arrived"
        assert await db.fetchval(
            "SELECT count(*) FROM tracking.timeline WHERE waybill_no = $1 AND kind = 'exception'", no) == 4
        assert (await d.ok("GET", f"/v1/exceptions/{exc_id}"))["status"] == "resolved"


async def test_bad_exception_reports(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        other = await d.station("NJ")
        for body, status, code in [
            (report(dest, kind="stolen"), 422, "validation_error"),
            (report(dest, pieces=0), 422, "validation_error"),
            (report(dest, pieces=11), 422, "pieces_exceed_waybill"),
            (report(other), 422, "station_not_on_route"),
            (report(dest, description=""), 422, "validation_error"),
        ]:
            r = await d.c.post(f"/v1/shipments/{no}/exceptions", headers=d.admin, json=body)
            assert r.status_code == status, (body, r.text)
            assert r.json()["error"]["code"] == code
        # A branch reports only at its own station, and only for shipments touching it.
        r = await d.c.post(f"/v1/shipments/{no}/exceptions", headers=d.branch(dest), json=report(origin))
        assert r.status_code == 403
        r = await d.c.post(f"/v1/shipments/{no}/exceptions", headers=d.branch(other), json=report(other))
        assert r.status_code == 404
        assert await db.fetchval("SELECT count(*) FROM tracking.cargo_exceptions WHERE waybill_no = $1", no) == 0
        assert await db.fetchval("SELECT open_exceptions FROM tracking.shipments WHERE waybill_no = $1", no) == 0
        r = await d.c.get("/v1/exceptions/00000000-0000-0000-0000-000000000000", headers=d.admin)
        assert r.status_code == 404
        r = await d.c.get("/v1/exceptions/not-a-uuid", headers=d.admin)
        assert r.status_code == 422


async def test_photos(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    settings = TrackingSettings(env="dev")
    assert settings.photo_store == "postgres"  # the default, which the stack runs with
    async with desk(stack, infra) as d:
        origin, dest = await d.route()
        no = await d.arrived(origin, dest)
        exc_id = (await d.ok("POST", f"/v1/shipments/{no}/exceptions", 201, json=report(dest)))["id"]
        url = f"/v1/exceptions/{exc_id}/photos"

        image = png(seed=len(no))
        photo = await d.ok("POST", url, 201, files={"file": ("破损.png", image, "image/png")})
        digest = hashlib.sha256(image).hexdigest()
        assert photo["sha256"] == digest and photo["size_bytes"] == len(image)
        assert photo["content_type"] == "image/png"
        assert await db.fetchval("SELECT data FROM tracking.photo_blobs WHERE sha256 = $1", digest) == image
        again = await d.ok("POST", url, 200, files={"file": ("again.png", image, "image/png")})
        assert again["id"] == photo["id"]
        # the same bytes on another exception: a photo of that exception, the bytes still kept once
        exc2 = (await d.ok("POST", f"/v1/shipments/{no}/exceptions", 201, json=report(dest)))["id"]
        other_photo = await d.ok("POST", f"/v1/exceptions/{exc2}/photos", 201,
                                 files={"file": ("same.png", image, "image/png")})
        assert other_photo["sha256"] == digest and other_photo["id"] != photo["id"]
        assert await db.fetchval("SELECT count(*) FROM tracking.photo_blobs WHERE sha256 = $1", digest) == 1
        assert (await d.c.get(other_photo["url"], headers=d.admin)).content == image
        # a photo of several chunks (desk.photos.CHUNK_BYTES) comes back byte for byte
        large = b"\x89PNG\r\n\x1a\n" + random.Random(7).randbytes(3 * CHUNK_BYTES + 12_345)
        large_photo = await d.ok("POST", f"/v1/exceptions/{exc2}/photos", 201,
                                 files={"file": ("large.png", large, "image/png")})
        served_large = await d.c.get(large_photo["url"], headers=d.admin)
        assert served_large.status_code == 200 and served_large.content == large
        assert served_large.headers["content-length"] == str(len(large))
        # The type comes from the bytes, not from the name or the declared type.
        for data in (JPEG, GIF, WEBP):
            stored = await d.ok("POST", url, 201, files={"file": ("photo.bin", data, "application/octet-stream")})
            assert stored["content_type"].startswith("image/")

        served = await d.c.get(photo["url"], headers=d.admin)
        assert served.status_code == 200 and served.content == image
        assert served.headers["content-type"] == "image/png"
        assert served.headers["content-length"] == str(len(image))
        assert served.headers["etag"] == f'"{digest}"'
        assert served.headers["cache-control"] == "private, max-age=3600"
        # a polyglot (an image that is also HTML or script) is never a page of this origin
        photo_id = photo["id"]
        assert served.headers["content-disposition"] == f'attachment; filename="photo-{photo_id}.png"'
        assert served.headers["content-security-policy"] == "sandbox; default-src 'none'"
        assert served.headers["x-content-type-options"] == "nosniff"
        r = await d.c.get(f"{url}/{2**63}", headers=d.admin)
        assert r.status_code == 422, r.text
        listed = await d.ok("GET", url)
        assert [p["id"] for p in listed["items"]][0] == photo["id"] and len(listed["items"]) == 4
        page = await d.ok("GET", url, params={"limit": 3})
        assert len(page["items"]) == 3 and page["next_cursor"]
        assert (await d.ok("GET", f"/v1/exceptions/{exc_id}"))["photos"] == 4

        # Not an image: refused whatever it claims to be; nothing stored.
        for name, data, ctype in [("fake.jpg", b"MZ\x90\x00 this is an exe", "image/jpeg"),
                                  ("doc.pdf", b"%PDF-1.7\n...", "application/pdf"),
                                  ("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml")]:
            r = await d.c.post(url, headers=d.admin, files={"file": (name, data, ctype)})
            assert r.status_code == 415, r.text
            assert r.json()["error"]["code"] == "unsupported_media_type"
        r = await d.c.post(url, headers=d.admin, files={"file": ("empty.png", b"", "image/png")})
        assert r.status_code == 422
        r = await d.c.post(url, headers=d.admin, data={"other": "x"})
        assert r.status_code == 422
        big = b"\x89PNG\r\n\x1a\n" + b"\x00" * settings.photo_max_bytes
        r = await d.c.post(url, headers=d.admin, files={"file": ("big.png", big, "image/png")})
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "payload_too_large"
        assert await db.fetchval("SELECT count(*) FROM tracking.exception_photos WHERE exception_id = $1::uuid",
                                 exc_id) == 4

        # Branches: the exception's station (here the destination) sees it; another does not.
        assert (await d.c.get(photo["url"], headers=d.branch(dest))).status_code == 200
        assert (await d.c.get(photo["url"], headers=d.branch(origin))).status_code == 200
        other = await d.station("NJ")
        for r in (await d.c.get(photo["url"], headers=d.branch(other)),
                  await d.c.get(url, headers=d.branch(other)),
                  await d.c.get(f"/v1/exceptions/{exc_id}", headers=d.branch(other)),
                  await d.c.post(url, headers=d.branch(other), files={"file": ("p.png", png(seed=7), "image/png")}),
                  await d.c.post(f"/v1/exceptions/{exc_id}/resolve", headers=d.branch(other))):
            assert r.status_code == 404, r.text
        r = await d.c.get(photo["url"], headers=infra.headers("carrier", carrier="C1"))
        assert r.status_code == 403
        r = await d.c.get(f"{url}/999999999", headers=d.admin)
        assert r.status_code == 404
