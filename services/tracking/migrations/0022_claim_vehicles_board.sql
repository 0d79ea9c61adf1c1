-- A device's fix claims its vehicle and reads the shipments it will evaluate in ONE round trip
-- (feeds.repository.claim_vehicles with `newest`).
--
-- An /osmand group commit waited on four round trips: the claims and rows (`claim_vehicles`,
-- 0021), the shipments on board of the vehicles due for evaluation (`on_board_many`), the
-- statement that stores, `COMMIT`. With one committer the group commit's length is what bounds
-- /osmand's rate (every request waits for the group in flight, then for its own), and almost
-- every group holds a vehicle due. So the claim takes each key's newest fix time in the group
-- and the bound of `domain.track.evaluation_due_after` for it, and reads, in the statement that
-- reads the rows (the same snapshot, so it decides on the row the caller decides on), the
-- shipments of the vehicles that are claimed, advanced by that fix and due:
--   claimed AND (last_fix_at IS NULL OR last_fix_at < newest)
--   AND (last_evaluated_at IS NULL OR due_after IS NULL OR last_evaluated_at <= due_after)
-- (`feeds.ingest.ingest`'s rule for "evaluated now"; it reads what this did not, if ever they
-- differ). The shipments are read and locked as `shipments.repository.on_board_query` does:
-- vehicle by vehicle in id order, in waybill order within each.
--
-- The 0021 function stays, for a release before this one serving during a rolling upgrade.

-- What the evaluation reads of a shipment on board (`on_board_query`'s columns, in its order):
-- a column the evaluation needs is added to both.
CREATE TYPE board_station AS (code text, lat double precision, lon double precision);
CREATE TYPE board_shipment AS (
    waybill_no        text,
    vehicle_id        text,
    origin            text,
    destination       text,
    via               text[],
    reached_via       text[],
    promised_at       timestamptz,
    delayed           boolean,
    notified_eta      timestamptz,
    delay_minutes     integer,
    delay_reason      text,
    eta               timestamptz,
    evaluated_at      timestamptz,
    delay_notified_at timestamptz,
    delayed_since     timestamptz,
    note_reason       text,
    station_points    board_station[]
);

-- keys, by_device, lock_namespace: as in 0021; newest_fix: each key's newest fix time (NULL: its
-- shipments not wanted); due_after: `evaluation_due_after` of it (NULL: always due). `board` is
-- NULL for a vehicle not read, else its shipments on board (empty when it carries none).
CREATE FUNCTION claim_vehicles(keys text[], by_device boolean, lock_namespace integer,
                               newest_fix timestamptz[], due_after timestamptz[])
RETURNS TABLE (vehicle_id text, device_id text, plate text, carrier text, last_fix_at timestamptz,
               last_lat double precision, last_lon double precision, last_speed_kmh double precision,
               last_heading double precision, last_sample_at timestamptz, last_evaluated_at timestamptz,
               recent_track bytea, recent_track_since timestamptz, recent_track_sample_at timestamptz,
               claimed boolean, board board_shipment[])
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    found text[];
    held text[];
    found_newest timestamptz[];
    found_due_after timestamptz[];
BEGIN
    -- the claims first, in a statement of their own (see 0021)
    IF by_device THEN
        SELECT array_agg(f.id), COALESCE(array_agg(f.id) FILTER (WHERE f.held), '{}'), array_agg(f.newest),
               array_agg(f.bound)
        INTO found, held, found_newest, found_due_after
        FROM (SELECT d.vehicle_id AS id, k.newest, k.bound,
                     pg_try_advisory_xact_lock(lock_namespace, hashtext(d.vehicle_id)) AS held
              FROM unnest(keys, newest_fix, due_after) AS k(key, newest, bound)
              JOIN devices d ON d.device_id = k.key) f;
    ELSE
        SELECT array_agg(f.id), COALESCE(array_agg(f.id) FILTER (WHERE f.held), '{}'), array_agg(f.newest),
               array_agg(f.bound)
        INTO found, held, found_newest, found_due_after
        FROM (SELECT v.vehicle_id AS id, k.newest, k.bound,
                     pg_try_advisory_xact_lock(lock_namespace, hashtext(v.vehicle_id)) AS held
              FROM unnest(keys, newest_fix, due_after) AS k(key, newest, bound)
              JOIN vehicles v ON v.vehicle_id = k.key) f;
    END IF;
    IF found IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        WITH r AS (
            SELECT v.*, v.vehicle_id = ANY(held) AS holds, k.newest, k.bound
            FROM unnest(found, found_newest, found_due_after) AS k(id, newest, bound)
            JOIN vehicles v ON v.vehicle_id = k.id),
        due AS (
            SELECT r.vehicle_id AS id FROM r
            WHERE r.holds AND r.newest IS NOT NULL AND (r.last_fix_at IS NULL OR r.last_fix_at < r.newest)
              AND (r.last_evaluated_at IS NULL OR r.bound IS NULL OR r.last_evaluated_at <= r.bound)),
        b AS MATERIALIZED (
            SELECT s.* FROM (SELECT id FROM due ORDER BY 1) AS d
            CROSS JOIN LATERAL (
                SELECT ROW(s.waybill_no, s.vehicle_id, s.origin, s.destination, s.via, s.reached_via, s.promised_at,
                           s.delayed, s.notified_eta, s.delay_minutes, s.delay_reason, s.eta, s.evaluated_at,
                           s.delay_notified_at, s.delayed_since, s.note_reason,
                           ARRAY(SELECT ROW(st.code, st.lat, st.lon)::board_station FROM stations st
                                 WHERE st.code = s.destination OR st.code = ANY(s.via)))::board_shipment AS item
                FROM on_board s WHERE s.vehicle_id = d.id
                ORDER BY s.waybill_no FOR UPDATE OF s) AS s)
        SELECT r.vehicle_id, r.device_id, r.plate, r.carrier, r.last_fix_at, r.last_lat, r.last_lon,
               r.last_speed_kmh, r.last_heading, r.last_sample_at, r.last_evaluated_at,
               CASE WHEN r.holds THEN r.recent_track END, r.recent_track_since, r.recent_track_sample_at, r.holds,
               CASE WHEN r.vehicle_id IN (SELECT id FROM due)
                    THEN ARRAY(SELECT b.item FROM b WHERE (b.item).vehicle_id = r.vehicle_id
                               ORDER BY (b.item).waybill_no) END
        FROM r;
END
$fn$;
