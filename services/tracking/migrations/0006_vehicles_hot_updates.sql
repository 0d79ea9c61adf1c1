-- Every stored fix updates its vehicle's row (newest fix, newest sample). An index on
-- vehicles.last_fix_at made each of those updates write a new entry into every index of the
-- table (a column in an index changed, so no heap-only update was possible); the only reader
-- of that index was the stale-vehicle sweep, which runs every few minutes and reads the whole
-- fleet anyway. Without it, and with room left in each page, the update of a vehicle's fix is
-- heap-only (HOT): no index is touched.
DROP INDEX IF EXISTS vehicles_last_fix_idx;
ALTER TABLE vehicles SET (fillfactor = 50);
