-- Tracking: the registry, shipments, scans, positions and the delay state.
-- Shared by every part of the service; 0002+ add the desk tables (deliveries, notes, exceptions ...).

CREATE TABLE stations (
    code          text PRIMARY KEY,
    name          text NOT NULL,
    city          text NOT NULL,
    region        text NOT NULL,
    lat           double precision NOT NULL,
    lon           double precision NOT NULL,
    contact_phone text,
    contact_email text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE vehicles (
    vehicle_id        text PRIMARY KEY,
    plate             text NOT NULL,
    carrier           text NOT NULL,
    driver_name       text,
    driver_phone      text,
    device_id         text UNIQUE,            -- the GPS device (OsmAnd id / Traccar uniqueId)
    last_fix_at       timestamptz,            -- newest fix time, not last received
    last_lat          double precision,
    last_lon          double precision,
    last_speed_kmh    double precision,
    last_heading      double precision,
    stale_flagged_for timestamptz,            -- last_fix_at of the silence already reported stale
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE shipments (
    waybill_no      text PRIMARY KEY,
    origin          text NOT NULL REFERENCES stations (code),
    destination     text NOT NULL REFERENCES stations (code),
    via             text[] NOT NULL DEFAULT '{}',
    shipper         jsonb NOT NULL,
    consignee       jsonb NOT NULL,
    cargo           jsonb NOT NULL,
    pieces          integer NOT NULL CHECK (pieces > 0),
    promised_at     timestamptz NOT NULL,
    payment         text NOT NULL,
    receipt         jsonb NOT NULL,
    registered_by   text NOT NULL,
    registered_at   timestamptz NOT NULL DEFAULT now(),
    -- derived from scans (domain.ScanState)
    status          text NOT NULL DEFAULT 'registered',  -- base status; 'exception' is derived from open_exceptions
    pieces_arrived  integer NOT NULL DEFAULT 0,
    departed_at     timestamptz,
    last_scan_at    timestamptz,
    reached_via     text[] NOT NULL DEFAULT '{}',
    final_arrived_at timestamptz,
    vehicle_id      text REFERENCES vehicles (vehicle_id),
    -- delay state (domain.DelayState)
    eta             timestamptz,
    delayed         boolean NOT NULL DEFAULT false,
    delay_minutes   integer NOT NULL DEFAULT 0,
    delay_reason    text,
    notified_eta    timestamptz,
    evaluated_at    timestamptz,
    note_reason     text,                     -- a staff note's reason overrides the inferred one
    open_exceptions integer NOT NULL DEFAULT 0,
    delivered_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- "shipments on board vehicle X that are still moving": the hot path of every position batch.
CREATE INDEX shipments_on_vehicle_idx ON shipments (vehicle_id)
    WHERE status IN ('in_transit', 'registered');
CREATE INDEX shipments_origin_idx ON shipments (origin, waybill_no);
CREATE INDEX shipments_destination_idx ON shipments (destination, waybill_no);
-- "shipments passing through transfer station X" (branch scoping and the station filter).
CREATE INDEX shipments_via_idx ON shipments USING gin (via);
-- List filters: displayed status and the delayed flag, keyset on waybill_no.
CREATE INDEX shipments_status_idx ON shipments (status, waybill_no);
CREATE INDEX shipments_delayed_idx ON shipments (waybill_no) WHERE delayed;
-- Vehicles silent for long: the stale sweep.
CREATE INDEX vehicles_last_fix_idx ON vehicles (last_fix_at);

CREATE TABLE scans (
    id          bigserial PRIMARY KEY,
    waybill_no  text NOT NULL REFERENCES shipments (waybill_no),
    type        text NOT NULL,
    station     text NOT NULL REFERENCES stations (code),
    at          timestamptz NOT NULL,
    vehicle_id  text REFERENCES vehicles (vehicle_id),
    pieces      integer NOT NULL,
    actor       text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scans_waybill_idx ON scans (waybill_no, at);

-- GPS history: one row per (vehicle, fix time); a duplicate fix is kept once.
CREATE TABLE positions (
    vehicle_id  text NOT NULL,
    at          timestamptz NOT NULL,
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    speed_kmh   double precision,
    heading     double precision,
    altitude    double precision,
    accuracy    double precision,
    battery     double precision,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, at)   -- serves "positions of vehicle X between t1 and t2"
);
-- Serves the retention sweep (delete fixes older than N days) without scanning by vehicle.
CREATE INDEX positions_at_brin ON positions USING brin (at);

-- Everything that happened to a shipment, oldest first: scans, delays, recoveries, notes,
-- exceptions, delivery. Appended by every part of the service; never updated.
CREATE TABLE timeline (
    id          bigserial PRIMARY KEY,
    waybill_no  text NOT NULL REFERENCES shipments (waybill_no),
    at          timestamptz NOT NULL,
    kind        text NOT NULL,      -- registered | scan | delayed | recovered | note | exception | delivered
    data        jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX timeline_waybill_idx ON timeline (waybill_no, at, id);
