-- Complaints schema (search_path = complaints). Times are timestamptz; text is bounded by the API.

-- SLA targets per category and priority; NULL means "any". Seeded with the desk's defaults
-- (services/complaints/domain.py DEFAULT_SLA_POLICIES); admins replace them through the API.
CREATE TABLE sla_policies (
    id                     bigserial PRIMARY KEY,
    category               text,
    priority               text,
    first_response_minutes integer NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes     integer NOT NULL CHECK (resolution_minutes > 0),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    updated_by             text NOT NULL DEFAULT 'system:seed',
    CHECK (first_response_minutes <= resolution_minutes)
);
CREATE UNIQUE INDEX sla_policies_key_idx ON sla_policies (coalesce(category, ''), coalesce(priority, ''));
INSERT INTO sla_policies (category, priority, first_response_minutes, resolution_minutes) VALUES
    (NULL,       NULL, 5, 2880),
    ('delay',    NULL, 5, 1440),
    ('damage',   NULL, 5, 4320),
    ('loss',     NULL, 5, 4320),
    ('quote',    NULL, 5, 480),
    ('billing',  NULL, 5, 4320),
    ('attitude', NULL, 5, 2880),
    ('other',    NULL, 5, 2880);

-- Customer files (客户档案): created when a customer is first seen (shipment, complaint, call)
-- or by staff; the key flag and contacts are kept by staff.
CREATE TABLE customers (
    customer_id   text PRIMARY KEY,
    name          text,
    key_flag      boolean NOT NULL DEFAULT false,
    phone         text,
    email         text,
    language      text,
    contacts      jsonb NOT NULL DEFAULT '[]',
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    updated_by    text
);
CREATE INDEX customers_key_idx ON customers (customer_id) WHERE key_flag;
CREATE INDEX customers_first_seen_idx ON customers (first_seen_at);

-- Monthly return visits (回访).
CREATE TABLE customer_visits (
    id           uuid PRIMARY KEY,
    customer_id  text NOT NULL REFERENCES customers (customer_id),
    visited_at   timestamptz NOT NULL,
    by           text NOT NULL,
    channel      text NOT NULL,
    note         text,
    satisfaction integer CHECK (satisfaction BETWEEN 1 AND 5),
    recorded_by  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_visits_customer_idx ON customer_visits (customer_id, visited_at DESC);

-- The local read model of tracking's shipments, fed only by tracking's events. Each aspect
-- keeps the event time it was last set from, so an older event arriving late cannot undo
-- a newer one (e.g. a stale `recovered` never clears a newer `delayed`).
CREATE TABLE shipments (
    waybill_no       text PRIMARY KEY,
    customer_id      text,
    shipper          jsonb,
    origin           text,
    destination      text,
    destination_name text,
    via              text[] NOT NULL DEFAULT '{}',
    stations         text[] NOT NULL DEFAULT '{}',
    station_names    jsonb NOT NULL DEFAULT '{}',
    registered_at    timestamptz,
    promised_at      timestamptz,
    status           text,
    status_at        timestamptz,
    eta              timestamptz,
    eta_at           timestamptz,
    delayed          boolean NOT NULL DEFAULT false,
    delay_minutes    integer,
    delay_reason     text,
    delay_at         timestamptz,
    position         jsonb,
    position_at      timestamptz,
    vehicle_id       text,
    vehicle_at       timestamptz,
    exception        jsonb,
    exception_at     timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX shipments_customer_idx ON shipments (customer_id, registered_at);
CREATE INDEX shipments_stations_idx ON shipments USING gin (stations);

-- Tickets. The SLA targets are copied from the policy at opening, so a policy change
-- never moves the deadlines of running tickets.
CREATE TABLE complaints (
    id                      uuid PRIMARY KEY,
    customer_id             text,
    caller_name             text NOT NULL,
    phone                   text,
    email                   text,
    language                text NOT NULL,
    waybill_no              text,
    channel                 text NOT NULL,
    category                text NOT NULL,
    priority                text NOT NULL,
    description             text NOT NULL,
    proactive               boolean NOT NULL DEFAULT false,
    status                  text NOT NULL,
    assigned_role           text NOT NULL DEFAULT 'staff',
    opened_at               timestamptz NOT NULL,
    opened_by               text NOT NULL,
    first_response_minutes  integer NOT NULL,
    resolution_minutes      integer NOT NULL,
    first_responded_at      timestamptz,
    resolved_at             timestamptz,
    escalated_at            timestamptz,
    closed_at               timestamptz,
    pauses                  jsonb NOT NULL DEFAULT '[]',
    resolution              text,
    csat_score              integer CHECK (csat_score BETWEEN 1 AND 5),
    csat_comment            text,
    surveyed_at             timestamptz,
    first_response_due      timestamptz,
    resolution_due          timestamptz,
    first_response_breached boolean NOT NULL DEFAULT false,
    resolution_breached     boolean NOT NULL DEFAULT false,
    shipment                jsonb,
    suggested_reply         text NOT NULL,
    last_action_at          timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaints_list_idx ON complaints (opened_at DESC, id DESC);
CREATE INDEX complaints_status_idx ON complaints (status, opened_at DESC, id DESC);
CREATE INDEX complaints_customer_idx ON complaints (customer_id, opened_at DESC);
CREATE INDEX complaints_waybill_idx ON complaints (waybill_no);
-- The SLA monitor's scan: only tickets whose clock still runs.
CREATE INDEX complaints_running_idx ON complaints (first_response_due, resolution_due)
    WHERE status IN ('open', 'responded', 'waiting_customer', 'escalated');
-- Proactive care: at most one care ticket per shipment.
CREATE UNIQUE INDEX complaints_proactive_once_idx ON complaints (waybill_no) WHERE proactive;

-- Immutable ticket history (who, when, what): append-only, enforced by triggers.
CREATE TABLE complaint_history (
    seq          bigserial PRIMARY KEY,
    complaint_id uuid NOT NULL REFERENCES complaints (id),
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    action       text NOT NULL,
    from_status  text,
    to_status    text NOT NULL,
    details      jsonb NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX complaint_history_complaint_idx ON complaint_history (complaint_id, seq);

CREATE FUNCTION complaint_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'complaint_history is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER complaint_history_no_update_delete
    BEFORE UPDATE OR DELETE ON complaint_history
    FOR EACH ROW EXECUTE FUNCTION complaint_history_append_only();
CREATE TRIGGER complaint_history_no_truncate
    BEFORE TRUNCATE ON complaint_history
    FOR EACH STATEMENT EXECUTE FUNCTION complaint_history_append_only();

-- Each SLA breach kind is recorded (and announced) once per ticket.
CREATE TABLE sla_breaches (
    complaint_id uuid NOT NULL REFERENCES complaints (id),
    kind         text NOT NULL CHECK (kind IN ('first_response', 'resolution')),
    due_at       timestamptz NOT NULL,
    breached_at  timestamptz NOT NULL,
    detected_by  text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (complaint_id, kind)
);

-- Call log: every call, in or out.
CREATE TABLE calls (
    id           uuid PRIMARY KEY,
    customer_id  text,
    caller_name  text NOT NULL,
    phone        text NOT NULL,
    direction    text NOT NULL,
    waybill_no   text,
    topic        text NOT NULL,
    outcome      text NOT NULL,
    note         text,
    callback_due timestamptz,
    complaint_id uuid REFERENCES complaints (id),
    called_at    timestamptz NOT NULL,
    recorded_by  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_list_idx ON calls (called_at DESC, id DESC);
CREATE INDEX calls_customer_idx ON calls (customer_id, called_at DESC, id DESC);
CREATE INDEX calls_waybill_idx ON calls (waybill_no);
