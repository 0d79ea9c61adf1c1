-- People who sign in to the web desk, and their sessions (which survive restarts).

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    display_name  text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'supervisor', 'staff', 'branch', 'customer')),
    branch        text CHECK (branch ~ '^[A-Z0-9]{2,16}$'),
    customer      text,
    password_hash text NOT NULL,            -- argon2id, PHC string
    disabled      boolean NOT NULL DEFAULT false,
    failed_count  integer NOT NULL DEFAULT 0,  -- failures in a row since the last success
    locked_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (role <> 'branch' OR branch IS NOT NULL),
    CHECK (role <> 'customer' OR customer IS NOT NULL)
);

-- A session row per signed-in browser. The cookie carries the random id; only its SHA-256
-- is stored, so a copy of this table does not let anyone in.
CREATE TABLE sessions (
    id_hash    bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
