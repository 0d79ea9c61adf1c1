-- Who works a ticket (POST /v1/complaints/{id}/claim): the desk member's user name (the
-- token's subject) and when they took it; NULL while nobody has claimed it.
ALTER TABLE complaints ADD COLUMN assigned_to text;
ALTER TABLE complaints ADD COLUMN claimed_at timestamptz;
CREATE INDEX complaints_assigned_idx ON complaints (assigned_to, opened_at DESC) WHERE assigned_to IS NOT NULL;
-- The day's work report reads one day of ticket history.
CREATE INDEX complaint_history_at_idx ON complaint_history (at);
