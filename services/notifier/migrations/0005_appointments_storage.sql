-- What the storage report (货物暂存报表) and the appointment confirmation need of a shipment:
-- its weight and volume (from the registration), the goods at the destination so far (split
-- shipments arrive in batches: storage starts with the first), and its current delivery
-- appointment (tracking.delivery.appointed.v1; `appointment_as_of` = that event's time, so a
-- stale booking never overwrites a newer one).
ALTER TABLE shipments ADD COLUMN weight_kg numeric;
ALTER TABLE shipments ADD COLUMN volume_m3 numeric;
ALTER TABLE shipments ADD COLUMN pieces_arrived integer NOT NULL DEFAULT 0;
ALTER TABLE shipments ADD COLUMN first_arrived_at timestamptz;
ALTER TABLE shipments ADD COLUMN appointment jsonb;
ALTER TABLE shipments ADD COLUMN appointment_as_of timestamptz;

-- Per key account: whether it gets the daily storage report, and at which local hour.
ALTER TABLE recipients ADD COLUMN storage_report_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE recipients ADD COLUMN storage_report_hour smallint NOT NULL DEFAULT 9
    CHECK (storage_report_hour BETWEEN 0 AND 23);

-- Shipments that arrived before this migration: every piece came with the final batch we saw.
UPDATE shipments SET first_arrived_at = arrived_at, pieces_arrived = coalesce(pieces, 0)
    WHERE arrived_at IS NOT NULL AND first_arrived_at IS NULL;

-- A file sent with an e-mail (the storage report's XLSX), stored with the rendered message like
-- its subject and text: what the audit keeps is what was sent, and a retry sends the same file.
ALTER TABLE notifications ADD COLUMN attachment_name text;
ALTER TABLE notifications ADD COLUMN attachment_type text;
ALTER TABLE notifications ADD COLUMN attachment bytea;
