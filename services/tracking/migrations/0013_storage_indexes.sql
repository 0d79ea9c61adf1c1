-- lcs:no-transaction
-- The temporary-storage report (GET /v1/reports/storage): shipments with arrived pieces and no
-- delivery. Partial indexes hold only the goods in storage now (a small share of the table,
-- and the rows leave them at signing), so the report never reads delivered history. Keyed by
-- the filters the report takes: the station (destination) and the customer. Built
-- CONCURRENTLY: shipments is a big table; each DROP makes a re-run start clean after a build
-- that died half-way.
DROP INDEX CONCURRENTLY IF EXISTS shipments_in_storage_idx;
CREATE INDEX CONCURRENTLY shipments_in_storage_idx ON shipments (destination, waybill_no)
    WHERE pieces_arrived > 0 AND delivered_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS shipments_in_storage_customer_idx;
CREATE INDEX CONCURRENTLY shipments_in_storage_customer_idx ON shipments ((shipper->>'customer_id'), waybill_no)
    WHERE pieces_arrived > 0 AND delivered_at IS NULL;
