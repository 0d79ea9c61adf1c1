-- The notifier's schema: shipment contacts, recipient preferences, notifications (one row per
-- event x channel x address), the delivery-attempt audit, and events parked until their
-- shipment is known.

-- Local copy of what tracking told us about a waybill: contacts for routing, stations for
-- branch scoping, and the times the key customers' daily report needs.
CREATE TABLE shipments (
    waybill_no          text PRIMARY KEY,
    origin              text NOT NULL,
    destination         text NOT NULL,
    via                 text[] NOT NULL DEFAULT '{}',
    shipper             jsonb NOT NULL,
    consignee           jsonb NOT NULL,
    shipper_customer_id text,
    pieces              integer,
    promised_at         timestamptz,
    eta                 timestamptz,
    eta_as_of           timestamptz,      -- event time of the last ETA applied (stale ones are ignored)
    arrived_at          timestamptz,      -- final arrival (every piece)
    delivered_at        timestamptz,
    registered_at       timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_shipper_idx ON shipments (shipper_customer_id);

-- Preferences set through PUT /v1/recipients/{customer_id}; they win over event contacts.
CREATE TABLE recipients (
    customer_id   text PRIMARY KEY,
    name          text,
    phone         text,
    email         text,
    language      text NOT NULL DEFAULT 'zh-CN' CHECK (language IN ('zh-CN', 'en')),
    sms_enabled   boolean NOT NULL DEFAULT true,
    email_enabled boolean NOT NULL DEFAULT true,
    quiet_start   time NOT NULL DEFAULT '22:00',
    quiet_end     time NOT NULL DEFAULT '08:00',
    quiet_tz      text NOT NULL DEFAULT 'Asia/Shanghai',
    key_customer  boolean NOT NULL DEFAULT false,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text NOT NULL
);
CREATE INDEX recipients_key_customer_idx ON recipients (customer_id) WHERE key_customer;

CREATE TABLE notifications (
    id                  uuid PRIMARY KEY,
    -- sha256(event id, channel, normalised address): at most one message per event, channel and
    -- address, across redeliveries and replicas. Digests use the digest key (customer, day).
    idempotency_key     text NOT NULL UNIQUE,
    event_id            uuid NOT NULL,
    event_type          text NOT NULL,
    channel             text NOT NULL CHECK (channel IN ('sms', 'email')),
    to_address          text NOT NULL,
    recipient_key       text NOT NULL,    -- channel + normalised address: the throttle's key
    audience            text NOT NULL,
    customer_id         text,
    waybill_no          text,
    template            text NOT NULL,
    language            text NOT NULL,
    urgent              boolean NOT NULL DEFAULT false,
    quiet_hours         jsonb NOT NULL,
    subject             text,
    body_text           text NOT NULL,
    body_html           text,
    status              text NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'suppressed', 'deferred')),
    reason              text,             -- why suppressed / deferred
    attempts            integer NOT NULL DEFAULT 0,
    provider            text,
    provider_message_id text,
    decided_at          timestamptz NOT NULL,  -- the decision time (throttle window, quiet hours)
    next_attempt_at     timestamptz NOT NULL,
    sent_at             timestamptz,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- The dispatcher's "due rows" scan.
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status IN ('queued', 'deferred');
-- The throttle count.
CREATE INDEX notifications_throttle_idx ON notifications (recipient_key, decided_at);
-- The audit list: newest first, by waybill / customer / everything.
CREATE INDEX notifications_list_idx ON notifications (created_at DESC, id DESC);
CREATE INDEX notifications_waybill_idx ON notifications (waybill_no, created_at DESC, id DESC);
CREATE INDEX notifications_customer_idx ON notifications (customer_id, created_at DESC, id DESC);

-- Every send attempt on every provider (a fallback makes two rows for one attempt).
CREATE TABLE delivery_attempts (
    id              bigserial PRIMARY KEY,
    notification_id uuid NOT NULL REFERENCES notifications (id),
    attempt         integer NOT NULL,
    provider        text NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('ok', 'transient', 'permanent')),
    error           text,
    duration_ms     integer NOT NULL,
    at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_attempts_notification_idx ON delivery_attempts (notification_id, id);

-- Shipment events that arrived before the shipment's registration; replayed when it comes.
CREATE TABLE parked_events (
    event_id   uuid PRIMARY KEY,
    waybill_no text NOT NULL,
    type       text NOT NULL,
    envelope   jsonb NOT NULL,
    event_time timestamptz NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_events_waybill_idx ON parked_events (waybill_no, event_time);
