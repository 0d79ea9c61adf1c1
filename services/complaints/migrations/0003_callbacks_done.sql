-- Callbacks marked done by staff without a returning call (the matter was settled another
-- way, e.g. the customer called in again). One row per promising call, never changed: the
-- call log stays a log, and the worklist of callbacks owed is derived from it and from this.
CREATE TABLE callbacks_done (
    call_id     uuid PRIMARY KEY REFERENCES calls (id),
    done_at     timestamptz NOT NULL,
    done_by     text NOT NULL,
    note        text,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
