-- Every statement of a fix's hot path answerable within its vehicle's rows, so that distributing
-- the tables by `vehicle_id` (Citus, docs/OPERATIONS.md "Beyond one primary") needs no code change.
--
-- `devices`: the device map. `/osmand` and Traccar fixes name a device; the ingest claims the
-- vehicle by its id, read from here (a reference table once distributed: a copy on every node).
-- The registry writes it with the vehicle (`registry.repository.upsert_vehicle`).
-- No foreign key to `vehicles`: Citus refuses one from a reference table to a distributed one;
-- vehicles are never deleted, and the registry writes both in one transaction.
CREATE TABLE devices (
    device_id  text PRIMARY KEY,
    vehicle_id text NOT NULL UNIQUE
);
INSERT INTO devices (device_id, vehicle_id) SELECT device_id, vehicle_id FROM vehicles WHERE device_id IS NOT NULL;

-- `on_board`: the shipments in transit on each vehicle, with what the delay evaluation reads and
-- writes per fix (the route, the promise, a note's reason, the delay state), keyed by the vehicle.
-- A row exists exactly while its shipment is `in_transit` on that vehicle: a scan boards it and
-- takes it off (`shipments.repository.board` / `leave_board`), carrying the delay state over.
-- The evaluation writes the state here; `shipments` keeps the desk's copy of every delay decision
-- (delayed and since when, the notice: written with the decision's event, which appends to the
-- timeline by waybill anyway), while what evaluations refresh between decisions (the ETA and its
-- time, a late shipment's delay minutes and inferred reason) stays here. `shipments_live` shows a
-- shipment with those four from its row here.
CREATE TABLE on_board (
    vehicle_id        text NOT NULL REFERENCES vehicles (vehicle_id),
    waybill_no        text NOT NULL,
    origin            text NOT NULL,
    destination       text NOT NULL,
    via               text[] NOT NULL,
    reached_via       text[] NOT NULL,
    promised_at       timestamptz NOT NULL,
    note_reason       text,
    eta               timestamptz,
    delayed           boolean NOT NULL,
    delay_minutes     integer NOT NULL,
    delay_reason      text,
    notified_eta      timestamptz,
    evaluated_at      timestamptz,
    delay_notified_at timestamptz,
    delayed_since     timestamptz,
    PRIMARY KEY (vehicle_id, waybill_no)
) WITH (fillfactor = 70);  -- room for the evaluation's in-place (HOT) rewrites
INSERT INTO on_board (vehicle_id, waybill_no, origin, destination, via, reached_via, promised_at, note_reason, eta,
                      delayed, delay_minutes, delay_reason, notified_eta, evaluated_at, delay_notified_at,
                      delayed_since)
SELECT vehicle_id, waybill_no, origin, destination, via, reached_via, promised_at, note_reason, eta, delayed,
       delay_minutes, delay_reason, notified_eta, evaluated_at, delay_notified_at, delayed_since
FROM shipments WHERE status = 'in_transit' AND vehicle_id IS NOT NULL;
-- A shipment's row on board by its waybill: what a scan, a signing or a note locks first
-- (`shipments.repository.lock_shipment`).
CREATE INDEX on_board_waybill_idx ON on_board (waybill_no);

-- A shipment as the desk, the public page and the API show it: its ETA, evaluation time, delay
-- minutes and reason from its `on_board` row while it has one. Scalar subqueries, not a join: a
-- `FOR UPDATE` of the view then locks the shipment's row alone. (A reason on board is NULL only
-- when not late, and then the shipment's is NULL too: the recovery that cleared it was written to
-- both.) Each column named (a view's `*` is fixed when it is made): a column added to `shipments`
-- is added here too (`test_shipments_live_shows_every_column`).
CREATE VIEW shipments_live AS
SELECT s.waybill_no, s.origin, s.destination, s.via, s.shipper, s.consignee, s.cargo, s.pieces, s.promised_at,
       s.payment, s.receipt, s.registered_by, s.registered_at, s.status, s.pieces_arrived, s.departed_at,
       s.last_scan_at, s.reached_via, s.final_arrived_at, s.vehicle_id,
       COALESCE((SELECT o.eta FROM on_board o WHERE o.vehicle_id = s.vehicle_id AND o.waybill_no = s.waybill_no),
                s.eta) AS eta,
       s.delayed,
       COALESCE((SELECT o.delay_minutes FROM on_board o
                 WHERE o.vehicle_id = s.vehicle_id AND o.waybill_no = s.waybill_no), s.delay_minutes) AS delay_minutes,
       COALESCE((SELECT o.delay_reason FROM on_board o
                 WHERE o.vehicle_id = s.vehicle_id AND o.waybill_no = s.waybill_no), s.delay_reason) AS delay_reason,
       s.notified_eta,
       COALESCE((SELECT o.evaluated_at FROM on_board o
                 WHERE o.vehicle_id = s.vehicle_id AND o.waybill_no = s.waybill_no), s.evaluated_at) AS evaluated_at,
       s.note_reason, s.open_exceptions, s.delivered_at, s.updated_at, s.delay_notified_at, s.phone_hashes,
       s.phone_last4, s.delayed_since
FROM shipments s;
