-- The public tracking page (/track, /t/{token}): its digit lock per waybill and its audit log.

-- Wrong phone digits per waybill number (as normalised, shared.links.normalise_waybill; stored as
-- its SHA-256, whether the waybill exists or not): after LCS_PUBLIC_DIGIT_FAILURES of them within
-- LCS_PUBLIC_DIGIT_LOCK_MINUTES the waybill refuses digit checks until locked_until.
-- Shared by every replica (a limit in process memory would multiply by the replica count).
CREATE TABLE public_digit_failures (
    waybill_hash bytea PRIMARY KEY,
    failures     integer NOT NULL,
    first_at     timestamptz NOT NULL,      -- the first failure of the current count
    locked_until timestamptz
);

-- Every look-up, for audit: masked (the number's last 4 characters, whether digits were given),
-- the client address and the outcome. Kept LCS_PUBLIC_LOOKUP_RETENTION_DAYS.
CREATE TABLE public_lookups (
    id             bigserial PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    address        text NOT NULL,
    via            text NOT NULL CHECK (via IN ('form', 'link')),
    waybill_suffix text,                    -- '…0001'
    digits         text,                    -- '****' when digits were given
    outcome        text NOT NULL CHECK (outcome IN ('coarse', 'detailed', 'not_found', 'invalid',
                                                    'rate_limited', 'locked', 'unavailable'))
);
CREATE INDEX public_lookups_at_idx ON public_lookups (at);
