-- Request counts per caller and minute, shared by every replica of the service, so a limit
-- holds however many replicas run. Unlogged: after a crash the counts start afresh, which
-- only forgives at most one minute of requests; nothing else is lost.
CREATE UNLOGGED TABLE rate_windows (
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    hits         integer NOT NULL,
    PRIMARY KEY (key, window_start)
);
