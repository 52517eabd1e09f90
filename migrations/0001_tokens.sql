-- Tokens and the helpers every later table uses.

-- RFC 3339 UTC with milliseconds, the one time format of the API.
CREATE FUNCTION cm_ts(t timestamptz) RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;

CREATE TABLE tokens (
    id            text PRIMARY KEY CHECK (id ~ '^tok_[0-9a-f]{24}$'),
    -- SHA-256 of the secret; the secret itself is never stored.
    secret_hash   bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    label         text NOT NULL DEFAULT '' CHECK (length(label) <= 128),
    node          text CHECK (node ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    admin         boolean NOT NULL DEFAULT false,
    grants        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(grants) = 'array'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
