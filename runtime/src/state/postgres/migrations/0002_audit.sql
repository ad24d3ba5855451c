-- The audit log: one hash chain for every node. Each entry is stored as the
-- exact JSON line the file log would hold (so verification is the same
-- code), keyed by its sequence number; the head records the last entry's
-- number and hash, so a cut tail is caught, and its row lock is what
-- serializes appends from every node.
CREATE TABLE audit_log (
  seq bigint PRIMARY KEY,
  app text,
  line text NOT NULL
);
CREATE INDEX audit_log_app ON audit_log (app, seq);
CREATE TABLE audit_head (
  id smallint PRIMARY KEY CHECK (id = 1),
  seq bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
