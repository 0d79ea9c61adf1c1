-- lcs:no-transaction
-- What the desk's lists read (docs/services/web-backend-needs.md, items 1-4):
--   shipments.delayed_since  when the current delay was first detected (NULL: not delayed). Set by
--                            the evaluation that decides "late" (domain.delay.evaluate_delay),
--                            kept while the shipment stays late, cleared when it recovers.
--   indexes                  the delayed list newest delay first, the open exceptions newest first,
--                            the notes written in a day, the daily volume.
-- Statement by statement outside a transaction (shipments, notes and exceptions are written all the
-- time, and the previous release keeps serving during the build), each re-runnable from the top:
-- a build that died half-way leaves an invalid index, which the DROP clears.
ALTER TABLE shipments ADD COLUMN IF NOT EXISTS delayed_since timestamptz;
-- The shipments late before this release: their delay began at the first `delayed` entry of their
-- timeline after the last `recovered` one; failing that (no timeline entry), at the last notice.
UPDATE shipments s SET delayed_since = COALESCE(
        (SELECT min(t.at) FROM timeline t
         WHERE t.waybill_no = s.waybill_no AND t.kind = 'delayed'
           AND t.at > COALESCE((SELECT max(r.at) FROM timeline r
                                WHERE r.waybill_no = s.waybill_no AND r.kind = 'recovered'), '-infinity')),
        s.delay_notified_at, s.evaluated_at, s.updated_at)
    WHERE s.delayed AND s.delayed_since IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS shipments_delayed_since_idx;
CREATE INDEX CONCURRENTLY shipments_delayed_since_idx ON shipments (delayed_since DESC, waybill_no) WHERE delayed;
DROP INDEX CONCURRENTLY IF EXISTS cargo_exceptions_open_idx;
CREATE INDEX CONCURRENTLY cargo_exceptions_open_idx ON cargo_exceptions (reported_at DESC, id DESC)
    WHERE resolved_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS notes_recorded_idx;
CREATE INDEX CONCURRENTLY notes_recorded_idx ON notes (recorded_at);
-- The daily volume (每天的货量) reads one business day of registrations, scans and deliveries.
DROP INDEX CONCURRENTLY IF EXISTS shipments_registered_at_idx;
CREATE INDEX CONCURRENTLY shipments_registered_at_idx ON shipments (registered_at);
DROP INDEX CONCURRENTLY IF EXISTS scans_at_idx;
CREATE INDEX CONCURRENTLY scans_at_idx ON scans (at);
DROP INDEX CONCURRENTLY IF EXISTS deliveries_signed_at_idx;
CREATE INDEX CONCURRENTLY deliveries_signed_at_idx ON deliveries (signed_at);
