-- lcs:no-transaction
-- The customer a receipt belongs to (the shipper's customer id, from the registration), so a
-- key-account customer token reads its own receipts and nothing else. Receipts registered before
-- this column existed have none: no customer sees them (the desk still does).
-- Outside a transaction so the index builds CONCURRENTLY (receipts is large and written all day);
-- every statement is re-runnable after a build that died half-way.
ALTER TABLE receipts ADD COLUMN IF NOT EXISTS customer_id text CHECK (length(customer_id) <= 64);
DROP INDEX CONCURRENTLY IF EXISTS receipts_customer_idx;
CREATE INDEX CONCURRENTLY receipts_customer_idx ON receipts (customer_id, waybill_no) WHERE customer_id IS NOT NULL;
