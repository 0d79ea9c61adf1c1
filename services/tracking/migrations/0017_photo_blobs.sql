-- The bytes of cargo-exception photos in PostgreSQL (LCS_PHOTO_STORE=postgres, the default), so that
-- every tracking replica serves every photo without a shared (ReadWriteMany) volume: one row per
-- distinct photo, keyed by the SHA-256 of its bytes (exception_photos.sha256 names it). Never
-- updated: the bytes under a key cannot change.
CREATE TABLE photo_blobs (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes  integer NOT NULL CHECK (size_bytes > 0 AND size_bytes = octet_length(data)),
    data        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- Out of line and uncompressed (photos are compressed already): a chunk read with substring()
-- fetches only its own TOAST slices, so a photo is served in pieces, never loaded whole.
ALTER TABLE photo_blobs ALTER COLUMN data SET STORAGE EXTERNAL;
