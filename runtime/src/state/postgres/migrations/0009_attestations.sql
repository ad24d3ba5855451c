-- Signed attestations of publish decisions (DSSE envelopes, JSON), one
-- per deploy, replaced as reviews sign its history again: every node
-- serves the one the deciding node signed.
CREATE TABLE attestations (
  deploy bigint PRIMARY KEY,
  envelope text NOT NULL,
  signed_at timestamptz NOT NULL DEFAULT now()
);
