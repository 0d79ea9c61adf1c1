-- Applied into every service schema (search_path is set to it).

-- Transactional outbox: an event row commits with the business change that caused it;
-- the relay publishes it with publisher confirms and only then marks it sent.
CREATE TABLE outbox (
    seq        bigserial PRIMARY KEY,
    id         uuid NOT NULL UNIQUE,
    type       text NOT NULL,
    body       text NOT NULL,          -- the exact CloudEvents JSON that goes on the wire
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    attempts   integer NOT NULL DEFAULT 0,
    last_error text
);
-- Serves the relay's "oldest unsent first" scan and the backlog metric.
CREATE INDEX outbox_unsent_idx ON outbox (seq) WHERE sent_at IS NULL;
-- Serves the retention sweep of sent rows.
CREATE INDEX outbox_sent_at_idx ON outbox (sent_at) WHERE sent_at IS NOT NULL;

-- Inbox: ids of events whose effects have committed; a redelivery finds its id here.
CREATE TABLE inbox (
    event_id    uuid PRIMARY KEY,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbox_received_at_idx ON inbox (received_at);
