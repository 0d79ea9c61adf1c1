-- The sampled track: the delay rules read each vehicle's history thinned to about one fix a
-- minute (domain.sample_track), so a 1 Hz feed does not make every evaluation read an hour of
-- fixes. Every fix is still stored; `sampled` marks the ones the rules read.
-- Existing rows count as sampled (the default, and the safe one for any other writer: a fix
-- nobody thinned is read).
ALTER TABLE positions ADD COLUMN sampled boolean NOT NULL DEFAULT true;

-- The newest sampled fix of each vehicle: where the thinning of its next fixes starts.
ALTER TABLE vehicles ADD COLUMN last_sample_at timestamptz;
UPDATE vehicles SET last_sample_at = last_fix_at;
-- The index over the sampled fixes is built by 0005, concurrently.
