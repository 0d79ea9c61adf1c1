-- Each vehicle's recent sampled track, kept beside its newest fix by the transaction that stores
-- the fixes (domain.merge_track), so evaluating a vehicle does not read its fixes back from
-- `positions` (one heap page per fix). `positions` stays the record; this is a copy of its
-- sampled fixes of the vehicle from recent_track_since on:
--   recent_track            rows (epoch microseconds, lat, lon, speed_kmh), oldest first, packed
--                           as little-endian float64s, 32 bytes a row; NaN: no speed reported
--                           (repository.pack_track; bytes, not float8[]: a driver encodes a
--                           float8[] element by element, which cost more than the read it saves);
--   recent_track_since      the track holds every sampled fix from this time on (NULL: no track,
--                           read `positions`);
--   recent_track_sample_at  the vehicle's last_sample_at when the track was written: a writer that
--                           does not keep the track (an earlier release, mid-upgrade) moves
--                           last_sample_at away from it, and the track is no longer trusted.
-- New columns are NULL: every vehicle starts with no track and gets one at its next fix.
-- At most domain.STORED_TRACK_MAX_ROWS rows (1.5 kB): the row stays inline, unTOASTed.
ALTER TABLE vehicles
    ADD COLUMN recent_track bytea,
    ADD COLUMN recent_track_since timestamptz,
    ADD COLUMN recent_track_sample_at timestamptz;
