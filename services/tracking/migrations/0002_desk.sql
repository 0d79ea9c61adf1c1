-- Tracking desk: signed deliveries, tracking notes, cargo exceptions and their photos,
-- and the record of imported CSV files (so re-importing the same file registers nothing twice).

-- One signed delivery per shipment. ID numbers are never stored: only a keyed hash
-- (HMAC-SHA256 with LCS_ID_HASH_KEY) and the last 4 characters.
CREATE TABLE deliveries (
    waybill_no          text PRIMARY KEY REFERENCES shipments (waybill_no),
    signed_at           timestamptz NOT NULL,
    signer_name         text NOT NULL,
    signer_id_type      text NOT NULL,
    signer_id_hash      text NOT NULL,
    signer_id_last4     text NOT NULL,
    delegated           boolean NOT NULL DEFAULT false,
    delegate_name       text,
    delegate_id_hash    text,
    delegate_id_last4   text,
    consignee_id_hash   text,
    consignee_id_last4  text,
    company_stamp       boolean NOT NULL DEFAULT false,
    pieces              integer NOT NULL CHECK (pieces > 0),
    station             text NOT NULL REFERENCES stations (code),
    recorded_by         text NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deliveries_signer_id_hash_idx ON deliveries (signer_id_hash);

-- Tracking records (追踪记录): one row per follow-up call / message.
CREATE TABLE notes (
    id          bigserial PRIMARY KEY,
    waybill_no  text NOT NULL REFERENCES shipments (waybill_no),
    at          timestamptz NOT NULL,
    contact     text NOT NULL,
    channel     text NOT NULL,
    delayed     boolean NOT NULL DEFAULT false,
    reason      text,
    note        text,
    actor       text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CHECK (reason IS NULL OR reason IN ('traffic_jam', 'breakdown', 'customs_inspection',
                                        'weather', 'force_majeure', 'other'))
);
CREATE INDEX notes_waybill_idx ON notes (waybill_no, at, id);

-- Cargo exceptions (货物异常). The shipment's open_exceptions counts the open ones.
CREATE TABLE cargo_exceptions (
    id           uuid PRIMARY KEY,
    waybill_no   text NOT NULL REFERENCES shipments (waybill_no),
    kind         text NOT NULL CHECK (kind IN ('damage', 'shortage', 'wet', 'contaminated',
                                               'lost', 'mismatch', 'other')),
    pieces       integer NOT NULL CHECK (pieces > 0),
    station      text NOT NULL REFERENCES stations (code),
    description  text NOT NULL,
    reported_at  timestamptz NOT NULL,
    reported_by  text NOT NULL,
    resolved_at  timestamptz,
    resolved_by  text,
    resolution   text
);
CREATE INDEX cargo_exceptions_waybill_idx ON cargo_exceptions (waybill_no, reported_at);
CREATE INDEX cargo_exceptions_reported_idx ON cargo_exceptions (reported_at);

-- Photo metadata; the bytes live under LCS_PHOTO_DIR, named by their sha256 (content-addressed).
CREATE TABLE exception_photos (
    id            bigserial PRIMARY KEY,
    exception_id  uuid NOT NULL REFERENCES cargo_exceptions (id),
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes    integer NOT NULL CHECK (size_bytes > 0),
    content_type  text NOT NULL,
    filename      text,
    uploaded_by   text NOT NULL,
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (exception_id, sha256)
);

-- Imported CSV files, by the sha256 of their bytes: the same file twice registers nothing twice.
CREATE TABLE shipment_imports (
    file_sha256  text PRIMARY KEY,
    registered   integer NOT NULL,
    waybills     text[] NOT NULL,
    encoding     text,
    imported_by  text NOT NULL,
    imported_at  timestamptz NOT NULL DEFAULT now()
);
