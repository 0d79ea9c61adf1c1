-- lcs:no-transaction
-- The indexes of the desk's search (0009), built CONCURRENTLY: shipments is a big table, and the
-- previous release keeps serving during the build. Each DROP makes a re-run start clean after a
-- build that died half-way (it leaves an invalid index).
-- A waybill-number or shipper-name prefix: byte-wise ranges (text_pattern_ops), index-usable
-- whatever the parameters; the customer id: equality.
DROP INDEX CONCURRENTLY IF EXISTS shipments_waybill_prefix_idx;
CREATE INDEX CONCURRENTLY shipments_waybill_prefix_idx ON shipments (waybill_no text_pattern_ops);
DROP INDEX CONCURRENTLY IF EXISTS shipments_customer_idx;
CREATE INDEX CONCURRENTLY shipments_customer_idx ON shipments ((shipper->>'customer_id'));
DROP INDEX CONCURRENTLY IF EXISTS shipments_shipper_name_idx;
CREATE INDEX CONCURRENTLY shipments_shipper_name_idx ON shipments ((shipper->>'name') text_pattern_ops);
-- A phone: its keyed hash or its last 4 digits among the parties'.
DROP INDEX CONCURRENTLY IF EXISTS shipments_phone_hashes_idx;
CREATE INDEX CONCURRENTLY shipments_phone_hashes_idx ON shipments USING gin (phone_hashes);
DROP INDEX CONCURRENTLY IF EXISTS shipments_phone_last4_idx;
CREATE INDEX CONCURRENTLY shipments_phone_last4_idx ON shipments USING gin (phone_last4);
-- The rows still without phone keys (registered before 0009): what the start-up backfill reads.
DROP INDEX CONCURRENTLY IF EXISTS shipments_phone_keys_missing_idx;
CREATE INDEX CONCURRENTLY shipments_phone_keys_missing_idx ON shipments (waybill_no) WHERE phone_hashes IS NULL;
