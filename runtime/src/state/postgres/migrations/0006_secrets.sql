-- Connector credentials (and the attestation key) every node uses: each
-- entry sealed by a node under the master key before it gets here, with
-- its version (changes of one secret are serialized by an advisory lock
-- on its name).
CREATE TABLE secrets (
  name text PRIMARY KEY,
  version integer NOT NULL,
  sealed text NOT NULL
);
-- A check of the master key the shared state is sealed under (a key
-- derived from it for this one purpose, never the key): a node given
-- another key is refused at start instead of failing to open secrets.
CREATE TABLE master_key_check (
  id smallint PRIMARY KEY CHECK (id = 1),
  probe text NOT NULL
);
