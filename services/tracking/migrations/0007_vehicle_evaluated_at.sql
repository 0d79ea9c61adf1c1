-- The fix time at which a live feed last evaluated the vehicle's shipments: a dense feed
-- re-evaluates them at most once per LCS_EVALUATION_INTERVAL_SECONDS (domain.evaluation_due).
ALTER TABLE vehicles ADD COLUMN last_evaluated_at timestamptz;
