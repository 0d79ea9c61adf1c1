-- lcs:no-transaction
-- `positions` becomes a table partitioned by fix time (RANGE on `at`, one partition per UTC day),
-- so that retention drops whole days (feeds.partitions) instead of deleting rows hour by hour.
-- The existing table is kept as it is, rows and indexes, and becomes ONE partition, `positions_legacy`,
-- for every time before a bound B (UTC midnight three days ahead); the days from B on get partitions
-- of their own. Nothing is copied, so the big table costs the time of one scan, during which writes go on:
--  1. a CHECK (at < B) NOT VALID: brief lock; new fixes must satisfy it from now (they are at most minutes
--     in the future: POSITION_MAX_FUTURE_MINUTES);
--  2. VALIDATE it: the one scan of the table, under SHARE UPDATE EXCLUSIVE (reads and writes go on);
--  3. in one statement (one transaction, a moment's ACCESS EXCLUSIVE lock): rename the table and its
--     indexes to positions_legacy*, create the partitioned `positions` (same columns, same primary key,
--     same indexes), ATTACH the old table FOR VALUES FROM (MINVALUE) TO (B) — no scan: the validated CHECK
--     proves the partition constraint, and its indexes are taken over as the partitions' — plus a DEFAULT
--     partition (a fix never fails for want of a partition) and the daily partitions of B and 7 days on.
--     An empty old table (a new database) is dropped instead, and the daily partitions start today.
-- Re-runnable from the top (each statement checks what is done). Should it stop after step 1 and stay
-- so, rerun it within a day or drop the constraint (`positions_legacy_bound`): after B it refuses
-- new fixes. See docs/services/tracking.md, "Partitions of positions".
DO $$
DECLARE
    bound timestamptz := (date_trunc('day', now() AT TIME ZONE 'UTC') + interval '3 days') AT TIME ZONE 'UTC';
    existing text;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('positions')) IS DISTINCT FROM 'r' THEN
        RETURN;  -- already partitioned
    END IF;
    SELECT pg_get_constraintdef(oid) INTO existing FROM pg_constraint
     WHERE conrelid = to_regclass('positions') AND conname = 'positions_legacy_bound';
    IF existing IS NOT NULL THEN
        -- a run that stopped here before: move the bound forward again
        ALTER TABLE positions DROP CONSTRAINT positions_legacy_bound;
    END IF;
    EXECUTE format('ALTER TABLE positions ADD CONSTRAINT positions_legacy_bound CHECK (at < %L) NOT VALID', bound);
END
$$;

DO $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('positions')) = 'r' THEN
        ALTER TABLE positions VALIDATE CONSTRAINT positions_legacy_bound;
    END IF;
END
$$;

DO $$
DECLARE
    bound timestamptz;
    first_day date;
    day date;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = to_regclass('positions')) IS DISTINCT FROM 'r' THEN
        RETURN;
    END IF;
    LOCK TABLE positions IN ACCESS EXCLUSIVE MODE;
    SELECT substring(pg_get_constraintdef(oid) FROM '''([^'']+)''')::timestamptz INTO STRICT bound
      FROM pg_constraint WHERE conrelid = 'positions'::regclass AND conname = 'positions_legacy_bound';

    ALTER TABLE positions RENAME TO positions_legacy;
    ALTER INDEX positions_pkey RENAME TO positions_legacy_pkey;
    ALTER INDEX positions_sampled_idx RENAME TO positions_legacy_sampled_idx;
    ALTER INDEX positions_at_brin RENAME TO positions_legacy_at_brin;

    -- GPS history: one row per (vehicle, fix time); a duplicate fix is kept once. The primary key
    -- holds the partition key (`at`), as PostgreSQL requires of a partitioned table's unique keys.
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
        sampled     boolean NOT NULL DEFAULT true,
        PRIMARY KEY (vehicle_id, at)   -- serves "positions of vehicle X between t1 and t2"
    ) PARTITION BY RANGE (at);
    CREATE INDEX positions_sampled_idx ON positions (vehicle_id, at) WHERE sampled;
    -- For the row deletes left (the legacy and default partitions); daily partitions are dropped whole.
    CREATE INDEX positions_at_brin ON positions USING brin (at);
    CREATE TABLE positions_default PARTITION OF positions DEFAULT;

    IF EXISTS (SELECT 1 FROM positions_legacy) THEN
        EXECUTE format('ALTER TABLE positions ATTACH PARTITION positions_legacy FOR VALUES FROM (MINVALUE) TO (%L)',
                       bound);
        ALTER TABLE positions_legacy DROP CONSTRAINT positions_legacy_bound;  -- the partition bound says it now
        first_day := (bound AT TIME ZONE 'UTC')::date;
    ELSE
        DROP TABLE positions_legacy;
        first_day := (now() AT TIME ZONE 'UTC')::date;
    END IF;
    FOR i IN 0..7 LOOP
        day := first_day + i;
        EXECUTE format('CREATE TABLE %I PARTITION OF positions FOR VALUES FROM (%L) TO (%L)',
                       'positions_p' || to_char(day, 'YYYYMMDD'),
                       (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
    END LOOP;

    -- The previous release's retention sweep deletes `WHERE ctid = ANY(...)` through this table; a
    -- ctid is unique only within one partition, so through the parent it would delete other days'
    -- rows too. A DELETE on the parent is refused (it fails, nothing is lost) while such a replica
    -- may still run (a rolling upgrade, a rollback); delete from a partition instead.
    CREATE FUNCTION positions_refuse_parent_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        RAISE EXCEPTION 'DELETE on positions itself is refused: delete from one of its partitions'
            USING ERRCODE = 'feature_not_supported';
    END
    $fn$;
    CREATE TRIGGER positions_no_parent_delete BEFORE DELETE ON positions
        FOR EACH STATEMENT EXECUTE FUNCTION positions_refuse_parent_delete();
END
$$;
