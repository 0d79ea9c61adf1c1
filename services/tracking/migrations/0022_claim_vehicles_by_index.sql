-- claim_vehicles (0021) finds its keys by index, however small the fleet.
--
-- Its statements look keys up in `devices` and `vehicles` with `= ANY(keys)`. On a table of a few
-- hundred rows (a carrier's whole fleet) the planner reads the table whole instead, and an array
-- that is not a constant of the statement is searched element by element for every row: for an
-- /osmand group of 16 devices among 330, about 5,000 comparisons, 140 µs of the backend's CPU per
-- call (260 µs instead of 400, measured with the backend's /proc schedstat). By index it is one
-- descent per key at any size; at 2,000 devices, where the planner chose the index anyway, the
-- call costs the same either way.
ALTER FUNCTION claim_vehicles(text[], boolean, integer) SET enable_seqscan = off;
