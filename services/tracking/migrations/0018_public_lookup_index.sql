-- lcs:no-transaction
-- The public tracking page reads a waybill number as typed, upper-cased (shared.links.normalise_waybill):
-- GET /v1/public/shipments matches upper(waybill_no), through this index.
DROP INDEX CONCURRENTLY IF EXISTS shipments_waybill_upper_idx;
CREATE INDEX CONCURRENTLY shipments_waybill_upper_idx ON shipments (upper(waybill_no));
