-- The desk can send a notification that ended unsent (failed, suppressed) again
-- (POST /v1/notifications/{id}/retry). `attempts` keeps counting every send tried, so the
-- delivery_attempts audit numbers stay unique; the retry limit counts from the attempts made
-- before the desk's last retry, so a notification sent again gets LCS_MAX_ATTEMPTS more tries.
ALTER TABLE notifications ADD COLUMN attempts_before_retry integer NOT NULL DEFAULT 0;

-- Who sent which notification again, when, and what it was before (the audit of the desk's retries).
CREATE TABLE notification_retries (
    id              bigserial PRIMARY KEY,
    notification_id uuid NOT NULL REFERENCES notifications (id),
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    from_status     text NOT NULL,
    from_reason     text,
    attempts        integer NOT NULL,  -- sends tried before this retry
    last_error      text
);
CREATE INDEX notification_retries_notification_idx ON notification_retries (notification_id, id);
