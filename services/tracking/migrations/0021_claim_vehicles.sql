-- An ingest's evaluation claims and its vehicles' rows in one round trip (feeds.repository.claim_vehicles).
--
-- The claims (`pg_try_advisory_xact_lock`, one evaluator per vehicle, never waited for) must be
-- taken before the rows are read: in READ COMMITTED a statement reads what was committed when it
-- started, so a row read by the statement that takes the claim could miss what the previous
-- holder committed between that start and the claim. That took two statements, two round trips
-- on the hot path of every fix. In a VOLATILE function each statement takes a fresh snapshot, so
-- the row read below (its second statement) sees every commit before the claim, as the second of
-- two statements did, in the one round trip of calling it.
--
-- keys: vehicle ids, or device ids (`by_device`: through the device map `devices`);
-- lock_namespace: shipments.repository.EVALUATION_LOCK_NAMESPACE.
-- Each vehicle's stored track is read only where this transaction holds the claim (its holder
-- keeps it; feeds.ingest.ingest).
CREATE FUNCTION claim_vehicles(keys text[], by_device boolean, lock_namespace integer)
RETURNS TABLE (vehicle_id text, device_id text, plate text, carrier text, last_fix_at timestamptz,
               last_lat double precision, last_lon double precision, last_speed_kmh double precision,
               last_heading double precision, last_sample_at timestamptz, last_evaluated_at timestamptz,
               recent_track bytea, recent_track_since timestamptz, recent_track_sample_at timestamptz,
               claimed boolean)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    found text[];
    held text[];
BEGIN
    IF by_device THEN
        SELECT array_agg(f.id), COALESCE(array_agg(f.id) FILTER (WHERE f.held), '{}') INTO found, held
        FROM (SELECT d.vehicle_id AS id, pg_try_advisory_xact_lock(lock_namespace, hashtext(d.vehicle_id)) AS held
              FROM devices d WHERE d.device_id = ANY(keys)) f;
    ELSE
        SELECT array_agg(f.id), COALESCE(array_agg(f.id) FILTER (WHERE f.held), '{}') INTO found, held
        FROM (SELECT v.vehicle_id AS id, pg_try_advisory_xact_lock(lock_namespace, hashtext(v.vehicle_id)) AS held
              FROM vehicles v WHERE v.vehicle_id = ANY(keys)) f;
    END IF;
    IF found IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT v.vehicle_id, v.device_id, v.plate, v.carrier, v.last_fix_at, v.last_lat, v.last_lon,
               v.last_speed_kmh, v.last_heading, v.last_sample_at, v.last_evaluated_at,
               CASE WHEN v.vehicle_id = ANY(held) THEN v.recent_track END, v.recent_track_since,
               v.recent_track_sample_at, v.vehicle_id = ANY(held)
        FROM vehicles v WHERE v.vehicle_id = ANY(found);
END
$fn$;
