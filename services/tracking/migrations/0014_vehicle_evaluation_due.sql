-- A vehicle whose evaluation was put off (a fix within LCS_EVALUATION_INTERVAL_SECONDS of the
-- last evaluation, or a fix whose vehicle another transaction was evaluating) is due for a
-- trailing evaluation at its newest fix at this time (the database clock), by whichever replica's
-- worker claims it first (feeds.trailing). NULL: its shipments are judged at its newest fix.
ALTER TABLE vehicles ADD COLUMN evaluation_due_at timestamptz;
-- The worker's claim reads only the vehicles due; the index holds only them (a handful), so the
-- vehicles' fix updates, which set or clear the column, stay cheap. Not HOT for those updates
-- that set or clear it: about one per vehicle per evaluation interval.
CREATE INDEX vehicles_evaluation_due_idx ON vehicles (evaluation_due_at) WHERE evaluation_due_at IS NOT NULL;
