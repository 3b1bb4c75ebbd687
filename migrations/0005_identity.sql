-- rib coordinator schema v5: identity. Bearer tokens (only their SHA-256 is stored),
-- each with a user and a role; per-user device quotas; the worker that holds a lease
-- proves it with a per-lease secret (only its SHA-256 is stored); every event records
-- who caused it (its actor).

CREATE TABLE tokens (
  id          text PRIMARY KEY DEFAULT gen_random_uuid()::text,
  seq         bigserial UNIQUE NOT NULL,
  hash        text UNIQUE NOT NULL,   -- hex SHA-256 of the token
  user_name   text NOT NULL,
  role        text NOT NULL CHECK (role IN ('user', 'admin', 'worker')),
  created_by  text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  revoked_by  text NOT NULL DEFAULT ''
);

-- A user's jobs may hold at most `devices` devices at once (no row: unlimited).
CREATE TABLE quotas (
  user_name text PRIMARY KEY,
  devices   integer NOT NULL CHECK (devices >= 0)
);

-- The token user that registered the worker: only that user's calls may act for it,
-- and a re-registration of the same (name, user) reuses the row.
ALTER TABLE workers ADD COLUMN principal text NOT NULL DEFAULT '';
CREATE INDEX workers_name_principal ON workers (name, principal);

ALTER TABLE jobs ADD COLUMN lease_secret_hash text NOT NULL DEFAULT '';

ALTER TABLE sweeps ADD COLUMN cancelled_by text NOT NULL DEFAULT '';

-- The actor of an event: the transaction's `rib.actor` setting (set_config(...,
-- true) by the repository for the caller's user), so every event a call causes records
-- it without each insert naming it. '' = the coordinator itself (lease expiry).
ALTER TABLE events ADD COLUMN actor text NOT NULL
  DEFAULT COALESCE(current_setting('rib.actor', true), '');
