-- Callbacks the desk owes: a call with outcome `callback` promises one (by `callback_due`); a
-- later call that names it in `callback_of` returns it. A returning call with a settling
-- outcome (domain.CALLBACK_SETTLING_OUTCOMES) settles it; `no_answer` is an attempt. The
-- call log stays a log: nothing is updated, the worklist is derived.
ALTER TABLE calls ADD COLUMN callback_of uuid REFERENCES calls (id);
ALTER TABLE calls ADD COLUMN settles_callback boolean NOT NULL DEFAULT false;

-- At most one call settles a callback (the service checks first, under a row lock; this is the backstop).
CREATE UNIQUE INDEX calls_settling_idx ON calls (callback_of) WHERE settles_callback;
-- The attempts and the settling call of a callback.
CREATE INDEX calls_callback_of_idx ON calls (callback_of) WHERE callback_of IS NOT NULL;
-- The worklist: promised callbacks, soonest due first.
CREATE INDEX calls_callbacks_due_idx ON calls (callback_due, id) WHERE outcome = 'callback';
