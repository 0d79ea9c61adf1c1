-- The desk's search (GET /v1/shipments?q=&phone=) matches stored columns, never the parties' data:
--   phone_hashes  the keyed hash (HMAC-SHA256 with LCS_ID_HASH_KEY, shared.pii.keyed_hash) of each
--                 party's normalised phone (domain.search.phone_keys), shipper and consignee;
--   phone_last4   the last 4 digits of each.
-- Rows registered from now on carry both. Older rows are NULL here: the hash needs the key, which
-- only the service holds, so the service fills them in at start (shipments.service.backfill_phone_keys,
-- batches, every replica safely); until then a phone search does not find them.
ALTER TABLE shipments
    ADD COLUMN phone_hashes text[],
    ADD COLUMN phone_last4 text[];
-- The indexes are built by 0010, concurrently.
