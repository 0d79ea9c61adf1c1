-- lcs:no-transaction
-- The desk's search by the last 4 digits of a phone, in waybill order, reading only the page it shows:
-- a shipment keeps at most two last-4s (shipper's, consignee's; domain.search.phone_keys), so one
-- B-tree per slot, each (last 4, waybill_no), gives every match of one slot in waybill order, and the
-- two ordered ranges merge under the page's LIMIT (shipments.repository, `_LAST4_PAGE`). The GIN index
-- over the whole array (0010) still serves a last-4 search beside other conditions.
DROP INDEX CONCURRENTLY IF EXISTS shipments_phone_last4_first_idx;
CREATE INDEX CONCURRENTLY shipments_phone_last4_first_idx ON shipments ((phone_last4[1]), waybill_no);
DROP INDEX CONCURRENTLY IF EXISTS shipments_phone_last4_second_idx;
CREATE INDEX CONCURRENTLY shipments_phone_last4_second_idx ON shipments ((phone_last4[2]), waybill_no);
