-- The hourly throttle never drops a message: one over the limit is held (`deferred`, reason
-- `rolled_up`) and rolled up into the recipient's summary — itself a notification (template
-- `summary`, no waybill) — and ends `sent` or `failed` with it.
ALTER TABLE notifications ADD COLUMN rolled_into uuid REFERENCES notifications (id);
-- A held message's line in its summary (kind, waybill, time, reason), so the summary can be
-- rendered again when the next held message joins it.
ALTER TABLE notifications ADD COLUMN summary_item jsonb;
CREATE INDEX notifications_rolled_into_idx ON notifications (rolled_into) WHERE rolled_into IS NOT NULL;
-- A recipient's open summary: nothing tried for it yet, so a held message may still join it.
CREATE INDEX notifications_open_summary_idx ON notifications (recipient_key)
    WHERE template = 'summary' AND attempts = 0 AND status IN ('queued', 'deferred');
-- The dispatcher's "due rows" scan: held messages go with their summary, never on their own.
DROP INDEX notifications_due_idx;
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at)
    WHERE status IN ('queued', 'deferred') AND rolled_into IS NULL;
