"""Where the bytes of cargo-exception photos live: one interface (`PhotoStore`), two stores, chosen by
`LCS_PHOTO_STORE`.

- `postgres` (the default): table `photo_blobs` (migration 0017), one row per distinct photo keyed by
  the SHA-256 of its bytes, written in the upload's own transaction (the photo row and its bytes commit
  together). Every tracking replica reads the same rows: no shared volume. Served in chunks
  (`CHUNK_BYTES`): each a `substring` of the column, stored uncompressed (STORAGE EXTERNAL), so
  PostgreSQL reads only that chunk's TOAST slices, and each chunk on a pooled connection taken for
  that chunk alone (a slow download holds none between chunks). The bytes never change under a key.
- `filesystem`: a file named by the SHA-256 in `LCS_PHOTO_DIR`, written atomically before the commit
  (a failed commit leaves an unreferenced file, harmless). Every replica must mount the same
  directory (ReadWriteMany), or run a single replica.

Moving from the filesystem store to PostgreSQL: `python -m services.tracking.desk.photos import-dir`
(with the old directory mounted) copies every file whose name is the SHA-256 of its bytes."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg

from services.tracking.context import TrackingRuntime

CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class StoredPhoto:
    """A photo's bytes as they are served: their size and a stream of chunks."""
    size: int
    chunks: AsyncIterator[bytes]


class PhotoStore(Protocol):
    async def put(self, conn: asyncpg.Connection, sha256: str, data: bytes) -> None:
        """Keep `data` under its SHA-256, inside the upload's transaction (`conn`); the same bytes twice
        are kept once."""

    async def open(self, sha256: str) -> StoredPhoto | None:
        """The bytes stored under `sha256`, streamed; None when the store has none."""


class PostgresPhotoStore:
    def __init__(self, pool: asyncpg.Pool, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.pool = pool
        self.chunk_bytes = chunk_bytes

    async def put(self, conn: asyncpg.Connection, sha256: str, data: bytes) -> None:
        await conn.execute("INSERT INTO photo_blobs (sha256, size_bytes, data) VALUES ($1, $2, $3) "
                           "ON CONFLICT (sha256) DO NOTHING", sha256, len(data), data)

    async def open(self, sha256: str) -> StoredPhoto | None:
        async with self.pool.acquire() as conn:
            size = await conn.fetchval("SELECT size_bytes FROM photo_blobs WHERE sha256 = $1", sha256)
        if size is None:
            return None
        return StoredPhoto(size=size, chunks=self._chunks(sha256, size))

    async def _chunks(self, sha256: str, size: int) -> AsyncIterator[bytes]:
        offset = 0
        while offset < size:
            async with self.pool.acquire() as conn:
                chunk: bytes | None = await conn.fetchval(
                    "SELECT substring(data FROM $2 FOR $3) FROM photo_blobs WHERE sha256 = $1",
                    sha256, offset + 1, self.chunk_bytes)
            if not chunk:
                raise RuntimeError(f"photo {sha256} ended at {offset} of {size} bytes")
            yield chunk
            offset += len(chunk)


class FilePhotoStore:
    def __init__(self, directory: Path, chunk_bytes: int = CHUNK_BYTES) -> None:
        self.directory = directory
        self.chunk_bytes = chunk_bytes

    def path(self, sha256: str) -> Path:
        return self.directory / sha256

    async def put(self, conn: asyncpg.Connection, sha256: str, data: bytes) -> None:
        await asyncio.to_thread(_write_file, self.path(sha256), data)

    async def open(self, sha256: str) -> StoredPhoto | None:
        path = self.path(sha256)
        try:
            fh = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            return None
        size = os.fstat(fh.fileno()).st_size
        return StoredPhoto(size=size, chunks=self._chunks(fh))

    async def _chunks(self, fh: _BinaryFile) -> AsyncIterator[bytes]:
        try:
            while chunk := await asyncio.to_thread(fh.read, self.chunk_bytes):
                yield chunk
        finally:
            fh.close()


class _BinaryFile(Protocol):
    def read(self, n: int, /) -> bytes: ...
    def close(self) -> None: ...


def _write_file(path: Path, data: bytes) -> None:
    """Content-addressed, atomic: a reader never sees a partial file; the same bytes are written once."""
    if path.exists() and path.stat().st_size == len(data):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def photo_store(rt: TrackingRuntime) -> PhotoStore:
    """The store `LCS_PHOTO_STORE` names."""
    if rt.settings.photo_store == "filesystem":
        return FilePhotoStore(Path(rt.settings.photo_dir))
    return PostgresPhotoStore(rt.pool)


# --- moving a photo directory into PostgreSQL ----------------------------------------------------------


async def import_dir(pool: asyncpg.Pool, directory: Path) -> tuple[int, int, list[str]]:
    """Every file of `directory` named by the SHA-256 of its bytes, into `photo_blobs` (kept once).
    Returns (files copied, already there, names skipped: not a SHA-256 name, or bytes that do not match it)."""
    copied = present = 0
    skipped: list[str] = []
    store = PostgresPhotoStore(pool)
    files = await asyncio.to_thread(lambda: sorted(p for p in directory.iterdir() if p.is_file()))
    for path in files:
        name = path.name
        if len(name) != 64 or any(c not in "0123456789abcdef" for c in name):
            skipped.append(name)
            continue
        data = await asyncio.to_thread(path.read_bytes)
        if hashlib.sha256(data).hexdigest() != name or not data:
            skipped.append(name)
            continue
        async with pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM photo_blobs WHERE sha256 = $1", name):
                present += 1
                continue
            await store.put(conn, name, data)
        copied += 1
    return copied, present, skipped


def main(argv: list[str] | None = None) -> None:
    from services.tracking.settings import TrackingSettings
    from shared.db import create_pool

    parser = argparse.ArgumentParser(prog="python -m services.tracking.desk.photos",
                                     description="Copy the filesystem photo store into PostgreSQL.")
    parser.add_argument("command", choices=["import-dir"])
    parser.add_argument("--dir", help="the directory (default: LCS_PHOTO_DIR)")
    args = parser.parse_args(argv)
    settings = TrackingSettings()

    async def run() -> None:
        pool = await create_pool(settings.database_url, "tracking", min_size=1, max_size=2)
        try:
            copied, present, skipped = await import_dir(pool, Path(args.dir or settings.photo_dir))
        finally:
            await pool.close()
        print(f"copied {copied}, already stored {present}, skipped {len(skipped)}"
              + (f": {', '.join(skipped)}" if skipped else ""))

    asyncio.run(run())


if __name__ == "__main__":
    main()
