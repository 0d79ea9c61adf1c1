-- The trailing evaluation's due times (feeds.trailing) move out of `vehicles` into a table of
-- their own, holding a row only while a vehicle is due.
--
-- Why: `vehicles.evaluation_due_at` had a partial index (0014), and PostgreSQL cannot update a
-- row heap-only (HOT) when any indexed column changes, that of a partial index's condition too.
-- A feed's batches set the due time (a fix not evaluated) and clear it (the next evaluation)
-- about every other batch, so those updates of the ~1.5 kB vehicle row were almost all non-HOT:
-- a new entry in each of the table's indexes and index bloat for vacuum. Measured with bench
-- figure 1 (batches of a connection's own 50 vehicles): 112 of 64,950 vehicle updates HOT with
-- the index, 69,600 of 70,100 without it. Here a deferral inserts a small row and an evaluation
-- deletes it; the vehicle row's own updates stay HOT.
--
-- No foreign key: vehicles are never deleted (the registry updates them in place), and the
-- check would cost every deferral a lookup and a row lock on the hot path.
CREATE TABLE evaluation_due (
    vehicle_id text PRIMARY KEY,
    due_at     timestamptz NOT NULL
);
CREATE INDEX evaluation_due_at_idx ON evaluation_due (due_at);
INSERT INTO evaluation_due (vehicle_id, due_at)
    SELECT vehicle_id, evaluation_due_at FROM vehicles WHERE evaluation_due_at IS NOT NULL;
DROP INDEX vehicles_evaluation_due_idx;
ALTER TABLE vehicles DROP COLUMN evaluation_due_at;
