-- Admin API tokens every node accepts: each stored only as its SHA-256,
-- with its holder, role, team, expiry, revocation and last use (times in
-- seconds since the epoch), as in the embedded `tokens.db`.
CREATE TABLE tokens (
  id text PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  created_by text NOT NULL,
  expires_at bigint,
  revoked_at bigint,
  revoked_by text,
  last_used_at bigint,
  team text
);
CREATE INDEX tokens_name ON tokens (name);
