-- A third channel: a key account's WeChat Work (企业微信) group, through its group robot.
ALTER TABLE notifications DROP CONSTRAINT notifications_channel_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_channel_check
    CHECK (channel IN ('sms', 'email', 'wecom')) NOT VALID;
ALTER TABLE notifications VALIDATE CONSTRAINT notifications_channel_check;

-- A group message that cannot be delivered goes by e-mail instead: where to, under which
-- idempotency key (the one the notice's own e-mail has, so it is never sent twice), and the
-- template variables to render the e-mail with. NULL: no fallback (no e-mail address).
ALTER TABLE notifications ADD COLUMN fallback jsonb;
-- On the e-mail that stands in for a failed group message: that message.
ALTER TABLE notifications ADD COLUMN fallback_of uuid REFERENCES notifications (id);

-- The account's group robot (the key of its webhook: a secret, shown masked) and the channel switch.
ALTER TABLE recipients ADD COLUMN wecom_key text;
ALTER TABLE recipients ADD COLUMN wecom_enabled boolean NOT NULL DEFAULT true;
