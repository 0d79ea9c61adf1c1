-- When the last `delayed` notice went out: a re-notice needs both a worse ETA and a rest period.
ALTER TABLE shipments ADD COLUMN delay_notified_at timestamptz;
