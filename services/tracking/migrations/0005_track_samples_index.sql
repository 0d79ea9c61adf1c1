-- lcs:no-transaction
-- Serves the evaluation's history read: one vehicle's sampled fixes in a time window.
-- Partial, so a dense feed adds to it once a minute, not once a second. Built CONCURRENTLY:
-- positions is the big table, and the previous release keeps writing fixes during the build.
-- A build that died half-way leaves an invalid index: the DROP makes a re-run start clean.
DROP INDEX CONCURRENTLY IF EXISTS positions_sampled_idx;
CREATE INDEX CONCURRENTLY positions_sampled_idx ON positions (vehicle_id, at) WHERE sampled;
