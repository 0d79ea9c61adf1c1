"""The two photo stores behind one interface (desk.photos): PostgreSQL (the default) and a directory.
Each keeps the same bytes once, streams them back identical in chunks, and says when it has none;
a directory of the filesystem store moves into PostgreSQL whole. Against the real database, in a
schema of its own (tracking's migrations)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from services.tracking.desk.photos import FilePhotoStore, PhotoStore, PostgresPhotoStore, import_dir
from shared.db import create_pool, migrate, migrations_for
from shared.migrate import service_dir
from tests.conftest import Infra, unique

CHUNK = 4096


@pytest.fixture
async def pool(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    schema = f"tph_{unique().lower()}"
    await migrate(infra.database_url, schema, migrations_for(service_dir("tracking")))
    p = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
    try:
        yield p
    finally:
        await p.close()
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(f"DROP SCHEMA {schema} CASCADE")
        finally:
            await conn.close()


@pytest.fixture(params=["postgres", "filesystem"])
def store(request: pytest.FixtureRequest, pool: asyncpg.Pool, tmp_path: Path) -> PhotoStore:
    if request.param == "postgres":
        return PostgresPhotoStore(pool, chunk_bytes=CHUNK)
    return FilePhotoStore(tmp_path / "photos", chunk_bytes=CHUNK)


def _photo(seed: int, size: int) -> tuple[str, bytes]:
    data = b"\xff\xd8\xff" + random.Random(seed).randbytes(size - 3)
    return hashlib.sha256(data).hexdigest(), data


async def _put(pool: asyncpg.Pool, store: PhotoStore, sha256: str, data: bytes) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.put(conn, sha256, data)


async def _read(store: PhotoStore, sha256: str) -> tuple[int, list[bytes]]:
    stored = await store.open(sha256)
    assert stored is not None
    return stored.size, [c async for c in stored.chunks]


async def _count(pool: asyncpg.Pool, store: PhotoStore, sha256: str) -> int:
    if isinstance(store, FilePhotoStore):
        return sum(1 for p in store.directory.iterdir() if p.name == sha256 or p.name.startswith(".upload-"))
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM photo_blobs WHERE sha256 = $1", sha256))


async def test_the_same_bytes_are_kept_once_and_streamed_back_identical(pool: asyncpg.Pool,
                                                                       store: PhotoStore) -> None:
    sha, data = _photo(1, 5 * CHUNK + 123)
    await _put(pool, store, sha, data)
    await _put(pool, store, sha, data)
    assert await _count(pool, store, sha) == 1
    size, chunks = await _read(store, sha)
    assert size == len(data)
    assert b"".join(chunks) == data
    assert [len(c) for c in chunks] == [CHUNK] * 5 + [123]  # in pieces, not whole
    # two photos side by side stay apart; an exact multiple of the chunk ends cleanly
    sha2, data2 = _photo(2, 2 * CHUNK)
    await _put(pool, store, sha2, data2)
    assert b"".join((await _read(store, sha2))[1]) == data2
    assert b"".join((await _read(store, sha))[1]) == data


async def test_a_photo_the_store_does_not_have_is_none(store: PhotoStore) -> None:
    assert await store.open("0" * 64) is None


async def test_a_failed_upload_transaction_keeps_nothing_in_postgres(pool: asyncpg.Pool) -> None:
    store = PostgresPhotoStore(pool)
    sha, data = _photo(3, 1000)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with pool.acquire() as conn, conn.transaction():
            await store.put(conn, sha, data)
            raise Boom
    assert await store.open(sha) is None


async def test_a_photo_directory_moves_into_postgres(pool: asyncpg.Pool, tmp_path: Path) -> None:
    files = FilePhotoStore(tmp_path)
    photos = [_photo(seed, 3000 + seed) for seed in range(3)]
    for sha, data in photos:
        await _put(pool, files, sha, data)
    (tmp_path / ("f" * 64)).write_bytes(b"not what the name says")
    (tmp_path / "notes.txt").write_text("x")
    db = PostgresPhotoStore(pool)
    await _put(pool, db, *photos[0])  # one is there already
    copied, present, skipped = await import_dir(pool, tmp_path)
    assert (copied, present, sorted(skipped)) == (2, 1, sorted(["f" * 64, "notes.txt"]))
    for sha, data in photos:
        assert b"".join((await _read(db, sha))[1]) == data
    assert await import_dir(pool, tmp_path) == (0, 3, skipped)
