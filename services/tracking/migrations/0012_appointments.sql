-- Delivery appointments (预约送货): the window agreed with the consignee. A new appointment
-- supersedes the current one (superseded_at set, kept for the record); at most one is current.
CREATE TABLE appointments (
    id             uuid PRIMARY KEY,
    waybill_no     text NOT NULL REFERENCES shipments (waybill_no),
    station        text NOT NULL REFERENCES stations (code),  -- the destination, which delivers
    window_start   timestamptz NOT NULL,
    window_end     timestamptz NOT NULL,
    contact        text NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('phone', 'email', 'portal')),
    note           text,
    booked_by      text NOT NULL,
    booked_at      timestamptz NOT NULL,
    superseded_at  timestamptz,
    superseded_by  uuid REFERENCES appointments (id) DEFERRABLE INITIALLY DEFERRED,  -- set before the new row
    CHECK (window_end > window_start)
);
-- The current appointment of a waybill (ShipmentRead, the delivery, the storage report).
CREATE UNIQUE INDEX appointments_current_idx ON appointments (waybill_no) WHERE superseded_at IS NULL;
-- A station's day (GET /v1/appointments?station=&date=): current ones by window start.
CREATE INDEX appointments_station_day_idx ON appointments (station, window_start) WHERE superseded_at IS NULL;

-- The signing against the appointment current when it happened: outside its window or not.
ALTER TABLE deliveries
    ADD COLUMN appointment_id uuid REFERENCES appointments (id),
    ADD COLUMN outside_window boolean NOT NULL DEFAULT false;
